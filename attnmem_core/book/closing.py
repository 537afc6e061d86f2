"""The closing chapter: the essay's own statements, each weighed against the claim of the book that tests it.

Each statement names the chapter and the claim id whose verdict answers it; the page shows the claim's rule,
our number with its interval, the verdict and its reason, read from the chapter's results file at build time.
A claim that is not in this build's results (a `--only` build, a chapter not yet run) is shown as absent, with
the command that runs its chapter, never as a verdict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from attnmem_core.book.chapters import PAPERS, VERDICTS_SECTION, Results, page_of, rerun
from attnmem_core.book.ledger import interval, ours
from attnmem_core.claims import VERDICTS

ABSENT = "not in this build's results"


@dataclass(frozen=True)
class Statement:
    """One of the essay's statements, and the chapter's claim that tests it."""

    text: str
    stem: str
    claim: str
    evidence: str  # what would count as evidence, in words

    @property
    def number(self) -> int:
        return int(self.stem[:2])


STATEMENTS = (
    Statement(
        "Scaled dot-product attention is faster and more space-efficient than additive attention.",
        "04_transformer",
        "dot-product-faster-than-additive",
        "time and peak memory of the two attention functions, measured as d_k and the length grow",
    ),
    Statement(
        "Position information matters less to a convolutional model than to a model of attention alone.",
        "05_convs2s",
        "positions-matter-less-for-convolutions",
        "what removing the position embeddings costs ConvS2S, against what it costs the Transformer",
    ),
    Statement(
        "A trained context vector is bound to the task it was trained on.",
        "03_han",
        "context-vector-task-bound",
        "how the learned word-level context vector weighs words on its own task and on another",
    ),
    Statement(
        "Fast weights attend to the recent history that attracts the current state.",
        "06_fast_weights",
        "fast-weights-attend-to-recent-past",
        "where the trained fast weights' read puts its weight over the past hidden states",
    ),
)


def judged(statement: Statement, found: dict[str, Results]) -> dict | None:
    """The claim's entry in its chapter's results file, or None when this build's results lack it."""
    results = found.get(statement.stem)
    return next((c for c in results.claims if c["id"] == statement.claim), None) if results else None


def section(statement: Statement, claim: dict | None, results: Results | None, pages: Path) -> list[str]:
    authors, title, key = PAPERS[statement.number]
    lines = [
        f"## {statement.text}",
        "",
        f"Tested in chapter {statement.number}, {title} {{cite:p}}`{key}`, by the claim `{statement.claim}`: "
        f"{statement.evidence}.",
        "",
    ]
    if claim is None:
        return lines + [f"**{ABSENT}**: run chapter {statement.number} (`{rerun(statement.stem)}`).", ""]
    label = f" (from the `{results.profile}` profile, not this book's)" if results.other_profile else ""
    link = page_of(statement.stem, pages, VERDICTS_SECTION)
    return lines + [
        f"- The paper: {claim['statement']} ({claim['paper']})",
        f"- The rule fixed before the run: {claim['primary']['condition']}",
        f"- Ours{label}: {ours(claim['primary'])}, interval {interval(claim['primary'])}",
        f"- **Verdict: {claim['verdict']}**: {claim['reason']}. [The evidence in chapter {statement.number}]({link}).",
        "",
    ]


def page(found: dict[str, Results], pages: Path) -> str:
    claims = [(s, judged(s, found)) for s in STATEMENTS]
    tally = Counter(claim["verdict"] if claim else ABSENT for _, claim in claims)
    summary = ", ".join(f"{tally[v]} {v}" for v in (*VERDICTS, ABSENT) if tally[v])
    lines = [
        "# What the essay's statements come to",
        "",
        "The essay {cite:p}`culurciello2017memory` predicts that attention and memory, not ever larger fixed "
        "summaries, are what sequence models need, and makes four statements a run can test. Each is weighed "
        "here against the verdict of the claim that tests it, read from this build's results. "
        f"Of the {len(STATEMENTS)} statements: {summary}. "
        "The [claims ledger](ledger.md) lists every claim of the book.",
        "",
    ]
    for statement, claim in claims:
        lines += section(statement, claim, found.get(statement.stem), pages)
    return "\n".join(lines)
