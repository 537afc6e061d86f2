"""Training speed of the fast-weights RNN: attention form vs outer-product form, and vs nn.LSTM.

    make bench      (or: python -m benchmarks.fast_weights)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. One training step = forward + backward + Adam update on a batch of 128
associative-retrieval sequences (11 steps), as in the notebook.
"""
from __future__ import annotations

import argparse

import torch

from attnmem_core.data.associative_retrieval import VALUES, VOCAB, make_splits
from attnmem_core.models.retrieval import build_retrieval_model
from benchmarks.timing import median_rate


def steps_per_second(model, x, y, steps: int, repeats: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def steps_in_a_row():
        for _ in range(steps):
            step()
    return median_rate(steps_in_a_row, steps, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the notebook's workers use 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = make_splits()["train"]
    x, y = train.x[:128], train.y[:128]
    print(f"training steps/s, batch 128, sequence length {x.shape[1]}, {args.threads} thread(s), "
          f"median of {args.repeats}×{args.steps} steps")
    print(f"{'R':>4} {'FW attention':>13} {'FW outer':>9} {'LSTM':>7}   {'attention/outer':>15} {'FW attention/LSTM':>17}")
    for hidden in (20, 50, 100):
        rate = {}
        for name, kind, options in [("attention", "fw", {"form": "attention"}), ("outer", "fw", {"form": "outer"}),
                                    ("lstm", "lstm", {})]:
            torch.manual_seed(0)
            model = build_retrieval_model(kind, hidden, len(VOCAB), len(VALUES), **options)
            rate[name] = steps_per_second(model, x, y, args.steps, args.repeats)
        print(f"{hidden:>4} {rate['attention']:>13.0f} {rate['outer']:>9.0f} {rate['lstm']:>7.0f}   "
              f"{rate['attention'] / rate['outer']:>14.2f}× {rate['attention'] / rate['lstm']:>16.2f}×")


if __name__ == "__main__":
    main()
