"""The run machinery: train once, read back from the cache the same record, keep the specs' order, one protocol."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from attnmem_core import runs
from attnmem_core.experiments import convs2s, fast_weights, han, rnnsearch, show_attend_tell, transformer
from attnmem_core.training import random_batches, train

CALLS: list[str] = []


@dataclass(frozen=True)
class LineSpec:
    """y = 3x − 1 learned by a linear layer: a run small enough to train in milliseconds."""

    seed: int
    steps: int = 30

    @property
    def label(self) -> str:
        return f"line seed {self.seed}"

    def cache_key(self, data, device):
        return {"seed": self.seed, "steps": self.steps, "device": device.type}

    def build(self, data):
        return nn.Linear(1, 1)

    def cost(self):
        return float(self.seed)

    def train(self, data, device):
        CALLS.append(self.label)
        torch.manual_seed(self.seed)
        model = self.build(data)
        x, y = data
        history = train(
            model,
            random_batches(x, y, 16, self.seed),
            steps=self.steps,
            device=device,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=nn.functional.mse_loss,
            evaluate=lambda: {"valid_mse": nn.functional.mse_loss(model(x), y).item()},
            eval_every=10,
            progress=False,
        )
        return runs.payload(model, history, {"predictions": model(x[:4]).detach(), "note": "kept"}, 0.5)


@pytest.fixture
def line():
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    return x, 3 * x - 1


def test_trains_once_then_reads_the_same_record_back(line, tmp_path):
    CALLS.clear()
    specs = [LineSpec(0), LineSpec(1)]
    first = runs.run_all(specs, line, device="cpu", workers=1, models_dir=tmp_path)
    second = runs.run_all(specs, line, device="cpu", workers=1, models_dir=tmp_path)
    assert CALLS == ["line seed 0", "line seed 1"]  # the second call trained nothing
    assert [r.cached for r in first] == [False, False] and [r.cached for r in second] == [True, True]
    for a, b in zip(first, second):
        assert a.history == b.history and a.outputs["note"] == b.outputs["note"] == "kept"
        torch.testing.assert_close(a.outputs["predictions"], b.outputs["predictions"])
        torch.testing.assert_close(a.state_dict, b.state_dict)
        assert a.train_seconds == a.history[-1]["train_seconds"] and a.decode_seconds == 0.5 and a.parameters == 2
    assert first[0].final["valid_mse"] < first[0].at_step(10)["valid_mse"]  # it learned
    assert [p.name.split("-")[:3] for p in sorted(tmp_path.glob("*.pt"))] == [
        ["line", "seed", "0"],
        ["line", "seed", "1"],
    ]


def test_results_keep_the_specs_order_whatever_runs_first(line, tmp_path):
    specs = [LineSpec(0), LineSpec(3), LineSpec(1)]  # cost = seed: the dearest is submitted first
    assert [r.spec for r in runs.run_all(specs, line, device="cpu", workers=1, models_dir=tmp_path)] == specs


def test_a_run_gives_back_its_trained_model(line, tmp_path):
    [run] = runs.run_all([LineSpec(0, steps=60)], line, device="cpu", workers=1, models_dir=tmp_path)
    model = run.model(line)
    assert not model.training
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[3.0]]), atol=0.1, rtol=0)
    with pytest.raises(ValueError, match=r"line seed 0 was not evaluated at update 15; evaluated at \[10, 20"):
        run.at_step(15)


def test_cache_file_names_keep_to_plain_characters():
    assert runs.file_name("fw λ=0.95 R=20 seed 0") == "fw-=0.95-R=20-seed-0"
    assert runs.file_name("Transformer h=1, unscaled ≤40 225") == "Transformer-h=1-unscaled-40-225"


def test_every_chapters_spec_keeps_the_protocol():
    specs = [
        LineSpec(0),
        fast_weights.spec(fast_weights.PROFILES["smoke"], "fw", "fw", 20, 0),
        han.plan(han.PROFILES["smoke"], [0], 1, 1e-3)[0],
        rnnsearch.plan(rnnsearch.PROFILES["smoke"], [0], 1)[0],
        transformer.plan(transformer.PROFILES["smoke"], 30, [0], 6)[0],
        show_attend_tell.plan(show_attend_tell.PROFILES["smoke"], [0], 1)[0],
        show_attend_tell.encoder_spec(show_attend_tell.PROFILES["smoke"]),
        *convs2s.plan(convs2s.PROFILES["smoke"], [0], 30)[:2],  # the main run and a position-study run
    ]
    assert all(isinstance(spec, runs.Spec) for spec in specs)
    assert not isinstance(object(), runs.Spec)


@dataclass(frozen=True)
class ManyTensorsSpec(LineSpec):
    """A run whose outputs hold more small tensors than a process may open files (20,000 here), as HAN's attention
    weights do."""

    def train(self, data, device):
        model = self.build(data)
        history = train(
            model,
            random_batches(*data, 16, self.seed),
            steps=1,
            device=device,
            evaluate=lambda: {},
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=nn.functional.mse_loss,
            progress=False,
        )
        return runs.payload(model, history, {"weights": [torch.full((3,), float(i)) for i in range(20000)]})


def test_worker_processes_return_runs_with_thousands_of_tensors(line, tmp_path):
    [trained] = runs.run_all([ManyTensorsSpec(0)], line, device="cpu", workers=2, models_dir=tmp_path)
    assert len(trained.outputs["weights"]) == 20000
    torch.testing.assert_close(trained.outputs["weights"][4321], torch.full((3,), 4321.0))
