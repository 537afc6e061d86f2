"""The pages of the book built from the chapters' results when the book is built, nothing on them typed by hand:
the claims ledger (`ledger`), the closing chapter (`closing`) and the reproduce page (`reproduce`), written beside
the executed notebooks; and a stand-in page for each chapter of `_toc.yml` that has no executed notebook (a
`--only` build, a chapter not yet written), which says how to run it, so the book builds either way."""

from __future__ import annotations

from pathlib import Path

import yaml

from attnmem_core.atomic import atomic_write
from attnmem_core.book import chapters, closing, ledger, reproduce

REPO = Path(__file__).resolve().parents[2]


def toc_chapters(toc: Path, out_dir: Path) -> list[str]:
    """The names of the `_toc.yml` entries in a folder named as `out_dir` (book/executed), e.g. '05_convs2s'."""
    entries, stack = [], [yaml.safe_load(Path(toc).read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            entries += [node["file"]] if "file" in node else []
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node
    return sorted(Path(entry).name for entry in entries if Path(entry).parent.name == Path(out_dir).name)


def _write(path: Path, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return path


def stand_in(stem: str) -> str:
    authors, title, key = chapters.PAPERS.get(chapters.number(stem), (stem, stem, None))
    cite = f" {{cite:p}}`{key}`" if key else ""
    return (
        f"# {title}\n\nChapter {chapters.number(stem)}{cite} is not in this build: its notebook "
        f"`replications/{stem}.ipynb` has not been executed here. Run `{chapters.rerun(stem)}`, then build the book.\n"
    )


def write_pages(
    out_dir: Path,
    results_dir: Path,
    profile: str,
    notebooks: list[Path],
    toc: Path = REPO / "_toc.yml",
    sources: Path = REPO / "data" / "sources.json",
) -> list[Path]:
    """Write the ledger, the closing chapter, the reproduce page and the stand-ins into `out_dir`; return them."""
    out_dir = Path(out_dir)
    in_toc = toc_chapters(toc, out_dir) if Path(toc).is_file() else []
    stems = sorted({nb.stem for nb in notebooks} | {s for s in in_toc if s[:2].isdigit()})
    found = chapters.read(results_dir, profile, stems)
    written = []
    for stem in stems:
        placeholder = out_dir / f"{stem}.md"
        if (out_dir / f"{stem}.ipynb").is_file():
            placeholder.unlink(missing_ok=True)  # two sources of one page would stop the build
        elif stem in in_toc:
            written.append(_write(placeholder, stand_in(stem)))
    written.append(_write(out_dir / "ledger.md", ledger.page(found, stems, profile, out_dir)))
    written.append(_write(out_dir / "closing.md", closing.page(found, out_dir)))
    written.append(_write(out_dir / "reproduce.md", reproduce.page(found, results_dir, stems, profile, sources)))
    return written
