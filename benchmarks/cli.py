"""What every benchmark shares: one argument parser, and one way to print the tables it measured.

Each benchmark has `measure(argv) -> dict[str, pandas.DataFrame]` (rates, and the ratios between them,
all from one run) and `main(argv)`, which prints those tables: `make bench` reads the printout, the
tests read the returned tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd
import torch

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
