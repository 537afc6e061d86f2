"""What the embedded Dask cluster costs a run-all: its start, then the overhead of each run.

    python -m benchmarks.dask_overhead

A run here stands in for a training: it holds its worker for a fixed time (asleep, so
that a busy machine does not blur the measure) and returns what a trained model returns,
weights and a history, with the time it started. For N runs on `workers` processes:

    start-up         = first run's start − the call to run_parallel
    overhead per run = ((return − first run's start) × workers − N × hold) / N

the second being what the cluster adds to each run's worker time (submission, scheduling,
the payload's trip back). The same run-all is made twice: the first starts the process's
cluster, the second finds it running, as a chapter's later run-alls do.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnmem_core.parallel import run_parallel


def stand_in_training(run: int, hold_s: float, parameters: int) -> dict:
    started = time.time()
    time.sleep(hold_s)
    weights = {"weight": torch.full((parameters,), float(run))}
    history = [{"step": step, "train_loss": 1.0 / step} for step in range(1, 101)]
    return {"state_dict": weights, "history": history, "started": started}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hold", type=float, default=0.25, help="seconds each run holds its worker")
    parser.add_argument("--parameters", type=int, default=1_000_000, help="float32 weights each run returns")
    args = parser.parse_args(argv)
    context = {"hold_s": args.hold, "parameters": args.parameters}
    print(
        f"local cluster of {args.workers} workers, {args.runs} runs holding {args.hold} s and returning "
        f"{args.parameters * 4 / 1e6:.0f} MB of weights"
    )
    for call in ("first run-all", "second run-all"):
        called = time.time()
        results = run_parallel(
            stand_in_training, range(args.runs), workers=args.workers, context=context, desc="stand-ins"
        )
        returned = time.time()
        first_start = min(result["started"] for result in results)
        per_run = ((returned - first_start) * args.workers - args.runs * args.hold) / args.runs
        print(f"{call}: start-up {first_start - called:6.2f} s, overhead per run {per_run:6.3f} s")


if __name__ == "__main__":
    main()
