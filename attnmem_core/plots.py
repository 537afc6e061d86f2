"""One look for every chapter: a seaborn theme, a fixed colour per model, saved figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PALETTE = sns.color_palette("colorblind")


def use_book_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight",
                         "axes.titleweight": "bold", "legend.frameon": False})
    pd.set_option("display.max_colwidth", None)  # tables in the book show claims and rules whole


def colors_for(names) -> dict[str, tuple]:
    """A colour per name, stable within a chapter: the same model has the same colour in every figure."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def save(fig, results_dir: str | Path, name: str) -> Path:
    """Save next to the run's results (PNG for the book, SVG for print)."""
    folder = Path(results_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / f"{name}.png")
    fig.savefig(folder / f"{name}.svg")
    return folder / f"{name}.png"
