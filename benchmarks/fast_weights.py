"""Training speed of the four retrieval models of chapter 6, today's implementation against the frozen one before.

    make bench      (or: python -m benchmarks.fast_weights)

One update is what a notebook worker does (one thread): forward, backward, gradient clipping at 5 and an
Adam step, on a batch of 128 associative-retrieval sequences (11 steps). Three ways are timed in turn, so
that a machine shared with other work slows them alike, and compared as ratios:

- `before`: the models as they were (`benchmarks/fast_weights_reference.py`), with torch's default Adam;
- `now, plain Adam`: the library's models, the same step;
- `now`: the library's models trained as the chapter trains them, with Adam's fused kernel, which clips the
  gradients itself (`experiments.fast_weights.adam`).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from attnmem_core.data.associative_retrieval import VALUES, VOCAB, make_splits
from attnmem_core.experiments.fast_weights import adam
from attnmem_core.models.fast_weights import build_retrieval_model
from benchmarks import cli
from benchmarks.fast_weights_reference import build_reference_model
from benchmarks.timing import alternating_medians

MODELS = {"IRNN": "irnn", "LSTM": "lstm", "A-LSTM": "alstm", "FW": "fw"}
FAST_WEIGHTS = {"lam": 0.9, "eta": 0.5}  # the chapter's setting
WAYS = ("before", "now, plain Adam", "now")


def updates(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, fused: bool):
    """A function that runs `steps` updates of `model` on the batch (x, y)."""
    optimizer = adam(model, 1e-3, clip_norm=5.0) if fused else torch.optim.Adam(model.parameters(), lr=1e-3)

    def run():
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if not fused:  # the chapter's Adam clips itself
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    return run


def measure(argv=None) -> dict[str, pd.DataFrame]:
    args = cli.parse(_parser(), argv)
    train = make_splits()["train"]
    x, y = train.x[:128], train.y[:128]
    rates = {}
    for name, kind in MODELS.items():
        for hidden in args.hidden:

            def model(build):
                torch.manual_seed(0)
                return build(kind, hidden, len(VOCAB), len(VALUES), **(FAST_WEIGHTS if kind == "fw" else {}))

            works = {
                "before": updates(model(build_reference_model), x, y, args.steps, fused=False),
                "now, plain Adam": updates(model(build_retrieval_model), x, y, args.steps, fused=False),
                "now": updates(model(build_retrieval_model), x, y, args.steps, fused=True),
            }
            seconds = alternating_medians(works, args.repeats)
            rates[name, hidden] = {way: args.steps / seconds[way] for way in WAYS}
    table = pd.DataFrame.from_dict(rates, orient="index")[list(WAYS)].rename_axis(["model", "R"])
    return {
        f"training updates/s, batch 128, sequence length {x.shape[1]}, {args.threads} thread(s), median of "
        f"{args.repeats}×{args.steps} updates": table,
        "ratios to before": pd.DataFrame({f"{way} / before": table[way] / table["before"] for way in WAYS[1:]}),
    }


def _parser():
    parser = cli.parser(__doc__, data=False)
    parser.add_argument("--steps", type=int, default=20, help="updates timed per pass")
    parser.add_argument("--hidden", type=int, nargs="+", default=[20, 50, 100], help="hidden sizes R")
    return parser


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
