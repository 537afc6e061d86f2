"""The book's chapters and the results files behind them, as the pages built from the results read them.

A chapter is a notebook `replications/0N_<name>.ipynb`; its run writes `results/0N_<name>-<profile>.json`.
A page built for a book of one profile reads, per chapter, the results file of that profile, else the newest
of another profile (and says so), else nothing (and says how to run the chapter): never a number typed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# number: (authors and year, title, BibTeX key in book/references.bib)
PAPERS = {
    1: ("Xu et al. 2015", "Show, Attend and Tell", "xu2015show"),
    2: ("Bahdanau et al. 2015", "Align and Translate", "bahdanau2015neural"),
    3: ("Yang et al. 2016", "Hierarchical Attention Networks", "yang2016hierarchical"),
    4: ("Vaswani et al. 2017", "Attention Is All You Need", "vaswani2017attention"),
    5: ("Gehring et al. 2017", "Convolutional Sequence to Sequence Learning", "gehring2017convolutional"),
    6: ("Ba et al. 2016", "Using Fast Weights to Attend to the Recent Past", "ba2016fast"),
}
VERDICTS_SECTION = "verdicts"  # the anchor of every chapter's "## Verdicts" heading


def number(stem: str) -> int:
    """04 of '04_transformer'."""
    if not (len(stem) > 3 and stem[:2].isdigit() and stem[2] == "_"):
        raise ValueError(f"chapter {stem!r}: a chapter's notebook is named 0N_<name>, e.g. 04_transformer")
    return int(stem[:2])


def rerun(stem: str) -> str:
    return f"python -m attnmem_core.runner --only {stem[:2]}"


@dataclass(frozen=True)
class Results:
    """One chapter's results file, as read for a book of `book_profile`."""

    stem: str
    profile: str
    book_profile: str
    data: dict
    path: Path

    @property
    def number(self) -> int:
        return number(self.stem)

    @property
    def claims(self) -> list[dict]:
        return self.data.get("claims", [])

    @property
    def other_profile(self) -> bool:
        return self.profile != self.book_profile


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable results file ({error}); delete it and run the chapter again"
        ) from None


def read(results_dir: Path, profile: str, stems: list[str]) -> dict[str, Results]:
    """{stem: Results} for each chapter that has a results file: the book's profile's, else the newest other one."""
    found = {}
    for stem in stems:
        own = Path(results_dir) / f"{stem}-{profile}.json"
        others = sorted(Path(results_dir).glob(f"{stem}-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        path = own if own.is_file() else next(iter(others), None)
        if path is not None:
            found[stem] = Results(stem, path.stem[len(stem) + 1 :], profile, _load(path), path)
    return found


def page_of(stem: str, pages: Path, section: str = "") -> str:
    """The link to a chapter's page from a page beside it: the executed notebook (at `section`), else its stand-in."""
    if (Path(pages) / f"{stem}.ipynb").is_file():
        return f"{stem}.ipynb" + (f"#{section}" if section else "")
    return f"{stem}.md"
