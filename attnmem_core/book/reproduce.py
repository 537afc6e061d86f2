"""The reproduce page: the machine and software of the runs behind this book (from their provenance), the measured
time per chapter and profile, how to re-run a chapter, and where the data come from (`data/sources.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from attnmem_core.book.chapters import Results, rerun

SOFTWARE = ("torch", "numpy", "sacrebleu", "papermill", "jupyter-book")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def runs(found: dict[str, Results]) -> list[str]:
    lines = [
        "| chapter | profile | device | CPU | platform | Python | " + " | ".join(SOFTWARE) + " | commit | started |"
    ]
    lines.append("|---" * (8 + len(SOFTWARE)) + "|")
    for results in found.values():
        p = results.data["provenance"]
        commit = (p.get("commit") or "not a git checkout")[:12] + (" (dirty)" if p.get("dirty") else "")
        versions = " | ".join(p.get("packages", {}).get(name, "–") for name in SOFTWARE)
        lines.append(
            f"| {results.number} | {results.profile} | {p['device']} | {p.get('cpu', '–')} | {p['platform']} "
            f"| {p['python']} | {versions} | `{commit}` | {p['started']} |"
        )
    return lines


def timings(results_dir: Path, stems: list[str]) -> list[str]:
    """Wall time of every results file there is, chapter by profile."""
    walls = {}
    for stem in stems:
        for path in sorted(Path(results_dir).glob(f"{stem}-*.json")):
            walls[stem, path.stem[len(stem) + 1 :]] = json.loads(path.read_text())["provenance"]["wall_seconds"]
    profiles = sorted({profile for _, profile in walls})
    lines = ["| chapter | " + " | ".join(profiles) + " |", "|---" * (1 + len(profiles)) + "|"]
    for stem in stems:
        cells = " | ".join(_minutes(walls[stem, p]) if (stem, p) in walls else "not run" for p in profiles)
        lines.append(f"| {stem} | {cells} |")
    return lines


def data_sources(sources: Path) -> list[str]:
    lines = ["| data set | package | version | sha256 of the package file | licence |", "|---|---|---|---|---|"]
    for name, source in json.loads(Path(sources).read_text()).items():
        deb = source.get("debian", {})
        lines.append(
            f"| `{name}` | {deb.get('package', '–')} | {deb.get('version', '–')} ({deb.get('release', '')}) "
            f"| `{deb.get('deb_sha256', '–')[:16]}…` | {source.get('license', '–')} |"
        )
    return lines


def page(found: dict[str, Results], results_dir: Path, stems: list[str], profile: str, sources: Path) -> str:
    example = stems[-1] if stems else "06_fast_weights"
    return "\n".join(
        [
            "# Reproduce this book",
            "",
            f"## The runs behind this build (`{profile}` profile)",
            "",
            "Read from each chapter's results file (its provenance also lists every installed package). The "
            "runs seed themselves and train on one thread each, so one machine with these packages gives the same "
            "numbers run after run; another CPU (its vector instructions are named as torch names them) or other "
            "package versions round differently, and the same seeds then give other numbers.",
            "",
            *runs(found),
            "",
            "## Time per chapter",
            "",
            "The wall time of each chapter's last run in each profile, as its results file records it.",
            "",
            *timings(results_dir, stems),
            "",
            "## Re-run a chapter",
            "",
            "With the runner, which skips a chapter whose code, parameters, library and data pins did not change, "
            "and re-renders only the prose of one whose markdown alone changed:",
            "",
            "```bash",
            f"{rerun(example)} --profile {profile}",
            "make book                       # every chapter, then the book",
            "```",
            "",
            "With plain papermill, parameters as the runner gives them:",
            "",
            "```bash",
            f"papermill replications/{example}.ipynb out.ipynb -p profile {profile} -p results_dir results",
            "```",
            "",
            "## On a GPU",
            "",
            "```bash",
            "make book PROFILE=gpu DEVICE=cuda",
            f"papermill replications/{example}.ipynb out.ipynb -p profile gpu -p device cuda -p seeds 0,1,2",
            "```",
            "",
            "Each chapter's independent trainings can also run on a Dask cluster (`--scheduler`, see the README).",
            "",
            "## Where the data come from",
            "",
            "Debian packages, pinned by version and sha256 in `data/sources.json` and fetched by the notebooks on "
            "their first run (`python -m attnmem_core.data fetch` fetches them all); `data/README.md` has the "
            "details and the licences.",
            "",
            *data_sources(sources),
            "",
            "Each chapter's results file and figures are linked at the end of its page, under Downloads.",
            "",
        ]
    )
