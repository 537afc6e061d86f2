"""Write the verdict counts of the results into README.md, between its `<!-- verdicts` markers.

    python -m attnmem_core.book readme                      # from results/*-cpu.json, after `make book`
    python -m attnmem_core.book readme --profile gpu --results-dir /path/to/results

The same counts as the ledger page of a book built from those results: the README's summary is regenerated,
never typed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from attnmem_core.atomic import atomic_write
from attnmem_core.book import REPO, chapters, ledger
from attnmem_core.claims import VERDICTS

BLOCK = re.compile(r"(<!-- verdicts:[^\n]*-->\n).*?(<!-- /verdicts -->)", re.DOTALL)


def summary(found: dict[str, chapters.Results], stems: list[str], profile: str) -> str:
    tally = ledger.counts(found)
    if not found:
        return f"No results file of the `{profile}` profile yet: run `make book`, then this command again.\n"
    commits = sorted({(r.data["provenance"].get("commit") or "no commit")[:12] for r in found.values()})
    dates = sorted({r.data["provenance"]["started"][:10] for r in found.values()})
    counts = ", ".join(f"**{tally[v]} {v}**" for v in VERDICTS)
    lines = [
        f"In the `{profile}` profile (runs of {' to '.join(dates[:: max(1, len(dates) - 1)])}, commit "
        f"{', '.join(commits)}), the book judges {sum(tally.values())} claims of {len(found)} papers: {counts}. "
        "The ledger page of the built book lists each with its reason.",
    ]
    other = [f"chapter {r.number} (`{r.profile}`)" for r in found.values() if r.other_profile]
    absent = [str(chapters.number(s)) for s in stems if s not in found]
    if other:
        lines.append(f"Counted from another profile's results: {', '.join(other)}.")
    if absent:
        lines.append(f"Chapters without results, not counted: {', '.join(absent)}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["readme"])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--results-dir", type=Path, default=REPO / "results")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = parser.parse_args(argv)
    stems = sorted(nb.stem for nb in (REPO / "replications").glob("[0-9][0-9]_*.ipynb"))
    text = args.readme.read_text()
    if not BLOCK.search(text):
        parser.error(f"{args.readme} has no '<!-- verdicts: ... -->' ... '<!-- /verdicts -->' block to fill")
    block = summary(chapters.read(args.results_dir, args.profile, stems), stems, args.profile)
    with atomic_write(args.readme, "w") as f:
        f.write(BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text))
    print(block, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
