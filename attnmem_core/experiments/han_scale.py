"""How the `cpu` profile of chapter 3 (Yang et al. 2016) was sized: embedding size and review shortening, on
validation accuracy only.

    python -m attnmem_core.experiments.han_scale      (writes han_calibration.json beside this file)

HN-ATT and the flat GRU-AVE, one seed, each trained to early stopping at every setting of `SETTINGS` (two runs
side by side, as the chapter runs them), record their best validation accuracy and training seconds. The rule,
fixed before the runs: the profile takes the cheapest setting whose mean best validation accuracy is within
`TOLERANCE` of the largest setting's. With `--histories`, it records instead what a patience of 2 evaluations
would have done to the runs of an earlier cpu build (`shorter_patience`), from their validation histories.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

import torch

from attnmem_core import runs
from attnmem_core.data import fine_foods
from attnmem_core.experiments import han as hx

SETTINGS = ((100, 12, 30), (50, 12, 30), (100, 8, 20), (50, 8, 20))  # (embedding_dim, max_sentences, max_words)
MODELS = ("HN-ATT", "GRU-AVE (flat)")
TOLERANCE = 0.01  # validation accuracy, as a fraction; 500 reviews give one seed a standard error near 0.018
FILE = "han_calibration.json"


def measure(learning_rate: float = 2e-3, seed: int = 0, data_dir: str = "data/cache") -> list[dict]:
    """One row per (setting, model): best validation accuracy, evaluations, training seconds."""
    data = fine_foods.load(data_dir)
    rows = []
    for embedding_dim, max_sentences, max_words in SETTINGS:
        sizes = dict(embedding_dim=embedding_dim, max_sentences=max_sentences, max_words=max_words)
        scale = replace(hx.PROFILES["cpu"], **sizes, patience=3)  # the patience these runs were recorded with
        corpus = hx.prepare(data, scale)
        specs = [hx._spec(scale, model, "word2vec", seed, scale.epochs, learning_rate) for model in MODELS]
        with tempfile.TemporaryDirectory() as models_dir:
            trained = runs.run_all(specs, corpus, device="cpu", workers=2, models_dir=models_dir)
        rows += [
            {
                "embedding_dim": embedding_dim,
                "max_sentences": max_sentences,
                "max_words": max_words,
                "words kept": round(corpus.kept, 3),
                "model": r.spec.model,
                "best valid accuracy": r.outputs["best_valid_accuracy"],
                "evaluations": len(r.history),
                "train seconds": round(r.train_seconds, 1),
            }
            for r in trained
        ]
    return rows


def choose(rows: list[dict]) -> dict:
    """The cheapest setting whose mean best validation accuracy is within TOLERANCE of the first (largest)
    setting's: {embedding_dim, max_sentences, max_words}."""
    settings = {}
    for row in rows:
        key = (row["embedding_dim"], row["max_sentences"], row["max_words"])
        accuracy, seconds = settings.get(key, ([], 0.0))
        settings[key] = ([*accuracy, row["best valid accuracy"]], seconds + row["train seconds"])
    reference = sum(settings[SETTINGS[0]][0]) / len(settings[SETTINGS[0]][0])
    fit = [key for key, (accuracy, _) in settings.items() if sum(accuracy) / len(accuracy) >= reference - TOLERANCE]
    chosen = min(fit, key=lambda key: settings[key][1])
    return dict(zip(("embedding_dim", "max_sentences", "max_words"), chosen))


def shorter_patience(histories: list[list[dict]], patience: int) -> dict:
    """What stopping with `patience` would have done to runs early-stopped with a longer one, from their validation
    histories: how many would have stopped before their best validation accuracy, the points lost on average and
    at most, and the share of their training seconds it would have taken."""
    rule = hx.EarlyStopping(patience=patience)
    lost, share = [], []
    for history in histories:
        stop = next((k for k in range(1, len(history) + 1) if rule.stop(history[:k])), len(history))
        best = max(row["valid_accuracy"] for row in history)
        lost.append(best - max(row["valid_accuracy"] for row in history[:stop]))
        share.append(history[stop - 1]["train_seconds"] / history[-1]["train_seconds"])
    return {
        "patience": patience,
        "runs": len(histories),
        "stopped before their best": sum(loss > 0 for loss in lost),
        "points lost, mean": round(100 * sum(lost) / len(lost), 2),
        "points lost, most": round(100 * max(lost), 2),
        "share of training seconds": round(sum(share) / len(share), 3),
    }


def calibration() -> dict:
    """The stored record: its commit, note, runs and chosen setting."""
    return json.loads(resources.files("attnmem_core.experiments").joinpath(FILE).read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--histories",
        help="the trained-model folder of an earlier cpu build: record only what patience 2 would have done to it",
    )
    parser.add_argument("--build", help="with --histories: the commit that build ran")
    args = parser.parse_args(argv)
    path = resources.files("attnmem_core.experiments").joinpath(FILE)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if args.histories:
        histories = [torch.load(f, weights_only=True)["history"] for f in sorted(Path(args.histories).glob("*.pt"))]
        record = {**calibration(), "patience": {"build": args.build, **shorter_patience(histories, 2)}}
    else:
        rows = measure()
        record = {"commit": commit, "note": __doc__.split("\n\n")[2].replace("\n", " "), "runs": rows}
        record["chosen"] = choose(rows)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(record, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
