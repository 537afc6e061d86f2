"""The claims ledger: one row per claim of every chapter's results file, built when the book is built.

Each row: the paper, the claim, the paper's number, ours with its spread, the interval and how it was computed,
the convergence of the runs behind it, the verdict and its reason, and a link to the chapter's verdicts. Above
the table, the counts per verdict. A results file of another profile than the book's is labelled in its rows;
a chapter with no results file is named, with the command that runs it.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from attnmem_core.book.chapters import PAPERS, VERDICTS_SECTION, Results, page_of, rerun
from attnmem_core.claims import VERDICTS
from attnmem_core.intervals import counted

TABLE_NAME = "ledger-table"  # not the page's own id, claims-ledger


def cell(text) -> str:
    """Text that cannot break a Markdown table row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def ours(outcome: dict) -> str:
    """'0.42 BLEU ± 0.31': the point estimate and half the interval's width."""
    value, low, high, unit = outcome["value"], outcome["low"], outcome["high"], outcome["unit"]
    if math.isnan(value):
        return f"none ({outcome['method']})"
    text = f"{value:.3g} {unit}".rstrip()
    if not (math.isnan(low) or math.isnan(high)):
        text += f" ± {(high - low) / 2:.2g}"
    return text


def interval(outcome: dict) -> str:
    low, high = outcome["low"], outcome["high"]
    if math.isnan(low) or math.isnan(high):
        return f"none ({outcome['method']})"
    return f"{low:.3g} … {high:.3g} ({outcome['method']})"


def convergence(claim: dict) -> str:
    """'all 4 runs converged', or the runs (with their seeds) that have not: every run behind any condition."""
    runs = {}
    for outcome in (claim["primary"], *claim["supporting"]):
        runs.update(outcome["convergence"])
    late = {run: [s for s in states if not s["converged"]] for run, states in runs.items()}
    late = {run: seeds for run, seeds in late.items() if seeds}
    if not late:
        return f"all {len(runs)} runs converged" if len(runs) > 1 else "its one run converged"
    return "not converged: " + ", ".join(
        f"{run} ({len(seeds)} of {counted(len(runs[run]))})" for run, seeds in late.items()
    )


def rows(results: Results, pages: Path) -> list[str]:
    authors = PAPERS.get(results.number, (results.stem,))[0]
    paper = f"{results.number}. {authors}" + (f" ({results.profile} profile)" if results.other_profile else "")
    link = f"[ch. {results.number}]({page_of(results.stem, pages, VERDICTS_SECTION)})"
    return [
        "| "
        + " | ".join(
            cell(text)
            for text in (
                paper,
                f"{claim['statement']} (`{claim['id']}`)",
                claim["paper"],
                ours(claim["primary"]),
                interval(claim["primary"]),
                convergence(claim),
                f"**{claim['verdict']}**: {claim['reason']}",
            )
        )
        + f" | {link} |"
        for claim in results.claims
    ]


def counts(found: dict[str, Results]) -> Counter:
    return Counter(claim["verdict"] for results in found.values() for claim in results.claims)


def page(found: dict[str, Results], stems: list[str], profile: str, pages: Path) -> str:
    tally = counts(found)
    lines = [
        "# Claims ledger",
        "",
        f"Every claim of every chapter, read from the chapters' results files when this book was built "
        f"(the `{profile}` profile). Each verdict is computed from the intervals and the convergence of the runs "
        "behind it by the rule stated in its chapter; nothing on this page is typed by hand.",
        "",
        "| verdict | claims |",
        "|---|---|",
        *(f"| {verdict} | {tally[verdict]} |" for verdict in VERDICTS),
        f"| all | {sum(tally.values())} |",
        "",
    ]
    other = [r for r in found.values() if r.other_profile]
    absent = [stem for stem in stems if stem not in found]
    for results in other:
        lines.append(
            f"- Chapter {results.number}'s results come from the `{results.profile}` profile, not this book's "
            f"`{profile}`: run `{rerun(results.stem)} --profile {profile}`."
        )
    for stem in absent:
        lines.append(f"- Chapter {int(stem[:2])} (`{stem}`) is not in this build's results: run `{rerun(stem)}`.")
    lines += [
        "",
        f"```{{table}} The claims, with the paper's number, ours and the verdict.\n:name: {TABLE_NAME}\n",
        "| paper | claim | the paper's number | ours | interval | convergence | verdict and reason | evidence |",
        "|---|---|---|---|---|---|---|---|",
        *(row for results in found.values() for row in rows(results, pages)),
        "```",
        "",
    ]
    return "\n".join(lines)
