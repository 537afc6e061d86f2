"""Dot-product against additive attention: time and memory of one layer as d_k and the sequence length grow.

    python -m benchmarks.attention

Vaswani et al. 2017 (Sec. 3.2.1) call dot-product attention "much faster and more
space-efficient in practice" than additive attention. One causal self-attention layer,
forward and backward, measured three ways (`attnmem_core.attention.cost`): torch's fused
dot-product kernel, the dot product written out as matrix products, and Bahdanau's additive
scores. Time is a median over alternating passes; memory is what autograd keeps for the backward
pass. Every ratio is over the fused dot product's number from the same run. Chapter 4 trains the
same Transformer with both scorings on the verses.
"""

from __future__ import annotations

import pandas as pd

from attnmem_core.attention import cost
from benchmarks import cli


def measure(argv=None) -> dict[str, pd.DataFrame]:
    parser = cli.parser(__doc__, repeats=5, data=False)
    parser.add_argument("--batch", type=int, default=16, help="sequences per pass")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-k", type=int, default=32, help="d_k while the length grows")
    parser.add_argument("--length", type=int, default=64, help="positions while d_k grows")
    parser.add_argument("--d-ks", default="8,32,128", help="the d_k grid")
    parser.add_argument("--lengths", default="16,64,256", help="the length grid")
    args = cli.parse(parser, argv)
    frame = cost.grid(
        [int(d) for d in args.d_ks.split(",")],
        [int(n) for n in args.lengths.split(",")],
        batch=args.batch,
        heads=args.heads,
        d_k=args.d_k,
        length=args.length,
        repeats=args.repeats,
    )
    tables = {}
    for varied, fixed in (("d_k", f"length {args.length}"), ("length", f"d_k {args.d_k}")):
        rows = frame[frame.varied == varied]
        what = f"{args.batch} sequences × {args.heads} heads, {fixed}, {args.threads} thread(s)"
        tables[f"seconds per forward + backward pass as {varied} grows ({what}, median of {args.repeats})"] = (
            rows.pivot(index=varied, columns="way", values="seconds")[list(cost.WAYS)]
        )
        tables[f"MB saved for the backward pass as {varied} grows"] = rows.pivot(
            index=varied, columns="way", values="saved MB"
        )[list(cost.WAYS)]
        for column in ("time ÷ dot", "memory ÷ dot"):
            ratios = rows[rows.way != "dot"].pivot(index=varied, columns="way", values=column)
            tables[f"ratio: {column.replace('÷ dot', '')}over the fused dot product, as {varied} grows"] = ratios
    return tables


def main(argv=None):
    cli.show(measure(argv))


if __name__ == "__main__":
    main()
