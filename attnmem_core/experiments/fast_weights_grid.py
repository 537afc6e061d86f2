"""How the `cpu` profile of chapter 6 (Ba et al. 2016) answers the R = 20 question: the whole diagnostic grid, run
once beforehand, on validation error only.

    python -m attnmem_core.experiments.fast_weights_grid    (writes fast_weights_calibration.json beside this file)

Every setting of the pre-registered grid at R = 20 (`fast_weights.GRID`, 32 settings) is trained from each of the
cpu profile's seeds for its `grid_steps` updates, exactly as the chapter trains it (`fast_weights.grid_plan`), two
runs side by side. The rule, the chapter's own (`fast_weights.rank_grid`): the setting with the lowest final
validation error, as a mean over the seeds, is chosen. Only validation errors are recorded; the chapter then
trains the chosen setting again from the same seeds and reports its test error once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from importlib import resources

import numpy as np
import pandas as pd

from attnmem_core import runs
from attnmem_core.data.associative_retrieval import make_splits
from attnmem_core.experiments import fast_weights as fw
from attnmem_core.tables import mean_spread


def measure(scale: fw.Scale = fw.PROFILES["cpu"], workers: int = 2) -> list[dict]:
    """One row per (setting, seed): its final validation error and training seconds."""
    specs = fw.grid_plan(scale, list(scale.seeds), fw.grid_settings())
    with tempfile.TemporaryDirectory() as models_dir:
        trained = runs.run_all(specs, make_splits(), device="cpu", workers=workers, models_dir=models_dir)
    return [
        {
            "variant": r.spec.variant,
            "seed": r.spec.seed,
            "valid_error": r.final["valid_error"],
            "train seconds": round(r.train_seconds, 1),
        }
        for r in trained
    ]


def choose(rows: list[dict]) -> str:
    """The variant with the lowest mean final validation error over its seeds (the first in GRID's order on a
    tie)."""
    return _by_validation(rows).index[0]


def table(record: dict) -> pd.DataFrame:
    """The record's settings by mean final validation error (%), the chosen first, with each seed's."""
    errors = _by_validation(record["runs"])
    return pd.DataFrame(
        {
            "validation error (%)": [mean_spread(row, scale=100) for row in errors.to_numpy()],
            **{f"seed {seed}": np.round(100 * errors[seed], 2) for seed in errors.columns},
        },
        index=errors.index,
    )


def _by_validation(rows: list[dict]) -> pd.DataFrame:
    """Final validation errors, a row per variant and a column per seed, in the chapter's order (`rank_grid`)."""
    errors = pd.DataFrame(rows).pivot(index="variant", columns="seed", values="valid_error")
    return errors.loc[fw.rank_grid({variant: list(row) for variant, row in errors.iterrows()})]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="runs side by side, one core each")
    args = parser.parse_args(argv)
    scale = fw.PROFILES["cpu"]
    rows = measure(scale, args.workers)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "commit": commit,
        "note": " ".join(__doc__.split("\n\n")[2].split()),
        "steps": scale.grid_steps,
        "seeds": list(scale.seeds),
        "runs": rows,
        "chosen": choose(rows),
    }
    path = resources.files("attnmem_core.experiments").joinpath(fw.GRID_CALIBRATION)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(table(record).to_string())
    print("chosen:", record["chosen"])


if __name__ == "__main__":
    main()
