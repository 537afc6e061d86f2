"""Training speed of the fast-weights RNN: attention form vs outer-product form, and vs nn.LSTM.

    make bench      (or: python -m benchmarks.fast_weights)

All timings come from one run on one machine, interleaved, so the printed ratios compare
like with like. One training step = forward + backward + Adam update on a batch of 128
associative-retrieval sequences (11 steps), as in the notebook.
"""
from __future__ import annotations

import pandas as pd
import torch

from attnmem_core.data.associative_retrieval import VALUES, VOCAB, make_splits
from attnmem_core.models.fast_weights import build_retrieval_model
from benchmarks import cli
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


def measure(argv=None) -> dict[str, pd.DataFrame]:
    args = cli.parse(_parser(), argv)
    train = make_splits()["train"]
    x, y = train.x[:128], train.y[:128]
    rates = {}
    for hidden in (20, 50, 100):
        for name, kind, options in [("FW attention", "fw", {"form": "attention"}), ("FW outer", "fw", {"form": "outer"}),
                                    ("LSTM", "lstm", {})]:
            torch.manual_seed(0)
            model = build_retrieval_model(kind, hidden, len(VOCAB), len(VALUES), **options)
            rates[hidden, name] = steps_per_second(model, x, y, args.steps, args.repeats)
    table = pd.Series(rates).unstack().rename_axis("R")[["FW attention", "FW outer", "LSTM"]]
    return {f"training steps/s, batch 128, sequence length {x.shape[1]}, {args.threads} thread(s), median of "
            f"{args.repeats}×{args.steps} steps": table,
            "ratios": pd.DataFrame({"attention / outer": table["FW attention"] / table["FW outer"],
                                    "FW attention / LSTM": table["FW attention"] / table["LSTM"]})}


def _parser():
    parser = cli.parser(__doc__, data=False)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed per pass")
    return parser


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
