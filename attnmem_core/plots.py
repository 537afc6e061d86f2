"""One look for every chapter: a seaborn theme, a fixed colour per model, saved figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from attnmem_core.atomic import atomic_write

PALETTE = sns.color_palette("colorblind")


def use_book_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "legend.frameon": False,
        }
    )
    pd.set_option("display.max_colwidth", None)  # tables in the book show claims and rules whole


def colors_for(names) -> dict[str, tuple]:
    """A colour per name, stable within a chapter: the same model has the same colour in every figure."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def save(fig, results_dir: str | Path, name: str, profile: str) -> Path:
    """Save next to the run's results as <name>-<profile>.png (for the book) and .svg (for print), as the results
    JSON is named: runs of two profiles never overwrite each other's figures. Each file appears whole or not at all."""
    folder = Path(results_dir) / "figures"
    for suffix in ("png", "svg"):
        with atomic_write(folder / f"{name}-{profile}.{suffix}") as f:
            fig.savefig(f, format=suffix)
    return folder / f"{name}-{profile}.png"
