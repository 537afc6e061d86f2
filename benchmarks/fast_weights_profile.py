"""Where one training update of a chapter-6 retrieval model spends its time: torch.profiler's table.

    python -m benchmarks.fast_weights_profile --model fw --hidden 50

Issue #16 asks to profile before optimising: this runs the update that `benchmarks.fast_weights` times
(forward, backward, clipping at 5, fused Adam; batch 128, one thread by default) under torch.profiler and
prints the operators by their own CPU time, with the milliseconds per update measured outside the profiler.
"""

from __future__ import annotations

import time

import torch
from torch.profiler import profile

from attnmem_core.data.associative_retrieval import VALUES, VOCAB, make_splits
from attnmem_core.models.fast_weights import MODELS, build_retrieval_model
from benchmarks import cli
from benchmarks.fast_weights import FAST_WEIGHTS, updates


def measure(argv=None) -> tuple[float, str]:
    """(milliseconds per update without the profiler, the profiler's table of the profiled updates)."""
    args = cli.parse(_parser(), argv)
    train = make_splits()["train"]
    torch.manual_seed(0)
    model = build_retrieval_model(
        args.model, args.hidden, len(VOCAB), len(VALUES), **(FAST_WEIGHTS if args.model == "fw" else {})
    )
    run = updates(model, train.x[:128], train.y[:128], args.steps, fused=True)
    run()  # warm-up: the first updates allocate the optimizer's state
    start = time.perf_counter()
    run()
    milliseconds = 1e3 * (time.perf_counter() - start) / args.steps
    with profile() as profiled:
        run()
    return milliseconds, profiled.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows)


def _parser():
    parser = cli.parser(__doc__, data=False)
    parser.add_argument("--model", choices=MODELS, default="fw")
    parser.add_argument("--hidden", type=int, default=50, help="hidden size R")
    parser.add_argument("--steps", type=int, default=50, help="updates timed, then profiled")
    parser.add_argument("--rows", type=int, default=25, help="operators shown")
    return parser


def main(argv=None):
    milliseconds, table = measure(argv)
    print(f"{milliseconds:.2f} ms per update without the profiler")
    print(table)


if __name__ == "__main__":
    main()
