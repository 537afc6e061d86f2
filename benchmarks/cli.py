"""What every benchmark shares: one argument parser, and one way to print the tables it measured.

Each benchmark has `measure(argv) -> dict[str, pandas.DataFrame]` (rates, and the ratios between them,
all from one run) and `main(argv)`, which prints those tables: `make bench` reads the printout, the
tests read the returned tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from attnmem_core.data import pairs, subwords
from attnmem_core.runner import REPO


def parser(
    doc: str, *, profiles: Sequence[str] | None = None, repeats: int = 3, data: bool = True
) -> argparse.ArgumentParser:
    """--profile (when the benchmark times a profile's sizes), --repeats, --threads and --data-dir."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    if profiles:
        p.add_argument("--profile", default="cpu", choices=sorted(profiles), help="the profile whose sizes are timed")
    p.add_argument("--repeats", type=int, default=repeats, help="timed passes; their median is reported")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the notebooks' workers use 1)")
    if data:
        p.add_argument("--data-dir", default=str(REPO / "data" / "cache"))
    return p


def parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """The arguments, with torch's thread count set from them."""
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def show(tables: dict[str, pd.DataFrame]) -> None:
    """Each table under its title: ratios with two decimals and a ×, large rates without decimals."""
    for title, table in tables.items():

        def number(v: float) -> str:
            return f"{v:.2f}×" if "ratio" in title else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"

        print(title)
        print(table.to_string(float_format=number))
        print()


def verse_batches(data, max_tokens: int, count: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
    """The first `count` length-sorted training batches of the verses, padded, as (source, target) with <bos>/<eos>,
    and the target tokens they hold: what the translation benchmarks time."""
    source, target = pairs.with_markers(*data.ids["train"], bos_id=subwords.BOS, eos_id=subwords.EOS)
    chosen = pairs.length_batches(source, target, max_tokens=max_tokens, rng=np.random.default_rng(0))[:count]
    batches = [(pairs.pad([source[i] for i in b], 0), pairs.pad([target[i] for i in b], 0)) for b in chosen]
    return batches, sum(int((y[:, 1:] != 0).sum()) for _, y in batches)
