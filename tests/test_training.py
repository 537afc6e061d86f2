import re

import pytest
import torch
from torch import nn

from attnmem_core.training import random_batches, train


def test_each_epoch_is_a_seeded_permutation_of_the_data():
    x, y = torch.arange(12).unsqueeze(1), torch.arange(12)
    batches = random_batches(x, y, batch_size=4, seed=3)
    epoch = torch.cat([next(batches)[1] for _ in range(3)])
    assert sorted(epoch.tolist()) == list(range(12))
    again = random_batches(x, y, batch_size=4, seed=3)
    assert torch.equal(torch.cat([next(again)[1] for _ in range(3)]), epoch)


def test_train_learns_records_history_and_keeps_one_progress_line(capsys):
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = (x.sum(1) > 0).long()
    model = nn.Linear(3, 2)

    def evaluate():
        with torch.no_grad():
            return {"error": (model(x).argmax(1) != y).float().mean().item()}

    history = train(
        model,
        random_batches(x, y, 32, seed=0),
        steps=50,
        device=torch.device("cpu"),
        optimizer=torch.optim.Adam(model.parameters(), lr=0.1),
        loss_fn=nn.functional.cross_entropy,
        evaluate=evaluate,
        eval_every=20,
        clip_norm=1.0,
        desc="toy",
    )
    assert [row["step"] for row in history] == [20, 40, 50]
    assert history[-1]["error"] < 0.1 < history[0]["train_loss"] and model.training
    # what the runner keeps once carriage returns are coalesced: one line
    shown = re.sub(r"[^\n]*\r(?=[^\n])", "", capsys.readouterr().out)
    assert shown.count("toy") == 1 and "50/50" in shown


def test_train_seconds_leave_out_the_evaluations(monkeypatch):
    """A clock that only the evaluations move: the wall time counts them, the training time does not."""
    clock = [0.0]
    monkeypatch.setattr("attnmem_core.training.time.perf_counter", lambda: clock[0])
    model = nn.Linear(3, 2)
    x, y = torch.randn(64, 3), torch.zeros(64, dtype=torch.long)

    def slow_evaluation():
        clock[0] += 0.2
        return {}

    history = train(
        model,
        random_batches(x, y, 8, seed=0),
        steps=6,
        device=torch.device("cpu"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=nn.functional.cross_entropy,
        evaluate=slow_evaluation,
        eval_every=2,
        progress=False,
    )
    assert [row["step"] for row in history] == [2, 4, 6]
    assert [row["seconds"] for row in history] == pytest.approx([0.2, 0.4, 0.6])
    assert [row["train_seconds"] for row in history] == [0.0, 0.0, 0.0]


def test_stop_ends_training_at_the_evaluation_that_asks_for_it():
    model = nn.Linear(3, 2)
    x, y = torch.randn(64, 3), torch.zeros(64, dtype=torch.long)
    seen = []

    def evaluate():
        seen.append(len(seen))
        return {"count": float(len(seen))}

    history = train(
        model,
        random_batches(x, y, 8, seed=0),
        steps=100,
        device=torch.device("cpu"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=nn.functional.cross_entropy,
        evaluate=evaluate,
        eval_every=5,
        progress=False,
        stop=lambda rows: rows[-1]["count"] >= 3,
    )
    assert [row["step"] for row in history] == [5, 10, 15] and len(seen) == 3
