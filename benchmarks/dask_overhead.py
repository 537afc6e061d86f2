"""What the embedded Dask cluster costs a run-all: its start once, then the overhead of each run.

    python -m benchmarks.dask_overhead

A run here stands in for a training: it holds its worker for a fixed time (asleep, so
that a busy machine does not blur the measure) and returns what a trained model returns,
weights and a history. run_parallel runs N and then 2N of them on a local cluster of
`workers` processes; the second call's extra wall time is N more runs, so

    overhead per run = (extra wall × workers − N × hold) / N

(what the cluster adds to each run's worker time: submission, scheduling, the payload's
trip back), and the start-up is what the first call took beyond its runs.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnmem_core.parallel import run_parallel
from benchmarks.timing import timed


def stand_in_training(run: int, hold_s: float, parameters: int) -> dict:
    time.sleep(hold_s)
    weights = {"weight": torch.full((parameters,), float(run))}
    return {"state_dict": weights, "history": [{"step": step, "train_loss": 1.0 / step} for step in range(1, 101)]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hold", type=float, default=0.25, help="seconds each run holds its worker")
    parser.add_argument("--parameters", type=int, default=1_000_000, help="float32 weights each run returns")
    args = parser.parse_args(argv)
    context = {"hold_s": args.hold, "parameters": args.parameters}

    def run_all(count: int):
        run_parallel(stand_in_training, range(count), workers=args.workers, context=context, desc="stand-ins")

    first, second = timed(lambda: run_all(args.runs)), timed(lambda: run_all(2 * args.runs))
    per_run = ((second - first) * args.workers - args.runs * args.hold) / args.runs
    start_up = first - args.runs * (args.hold + per_run) / args.workers
    print(
        f"local cluster of {args.workers} workers, runs holding {args.hold} s and returning "
        f"{args.parameters * 4 / 1e6:.0f} MB of weights"
    )
    print(f"start-up per run-all {start_up:6.2f} s")
    print(f"overhead per run     {per_run:6.3f} s")


if __name__ == "__main__":
    main()
