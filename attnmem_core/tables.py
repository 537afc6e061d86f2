"""Tables for the book: our numbers beside the paper's, and the claims with their verdicts."""

from __future__ import annotations

import math
import statistics

import pandas as pd

from attnmem_core.claims import Claim, Judgment
from attnmem_core.intervals import fixed

FIXED = "rule (fixed before the run)"


def mean_spread(values, scale: float = 1.0, digits: int = 2) -> str:
    """'1.81' for one value, '1.81 ± 0.40' (sample standard deviation) for several. A value that is NaN (nothing
    to measure in that run, e.g. a rate over zero items) is left out and the count of the rest is shown: '1.81 (2 of
    3 runs)'; '—' when every value is NaN."""
    values = [v * scale for v in values]
    measured = [v for v in values if not math.isnan(v)]
    if not measured:
        return "—"
    shown = (
        fixed(measured[0], digits)
        if len(measured) == 1
        else f"{fixed(statistics.mean(measured), digits)} ± {fixed(statistics.stdev(measured), digits)}"
    )
    return shown if len(measured) == len(values) else f"{shown} ({len(measured)} of {len(values)} runs)"


def _rules(claim: Claim, revised: bool) -> dict:
    """The rule columns: primary effect, supporting conditions, illustrations; and the first form of a revised rule."""
    row = {
        "primary effect": claim.primary.text(),
        "supporting": "; ".join(c.text() for c in claim.supporting) or "none",
        "illustrations (not judged)": "; ".join(claim.illustrations) or "none",
    }
    if revised:
        row["revised"] = (
            f"first: {claim.revision.first}; why: {claim.revision.reason}"
            if claim.revision
            else "no: fixed before the run"
        )
    return row


def rules_table(claims: list[Claim]) -> pd.DataFrame:
    """The claims and their rules, shown before any run: a 'revised' column appears when some rule was changed
    after a run was seen, and the heading then no longer says that every rule was fixed before the run."""
    revised = any(c.revision for c in claims)
    table = pd.DataFrame(
        [{"claim": c.id, "the paper says": c.statement, "paper": c.paper, **_rules(c, revised)} for c in claims]
    ).set_index("claim")
    return table if revised else table.rename(columns={"primary effect": f"primary effect, {FIXED}"})


def _convergence(judgment: Judgment) -> str:
    """'fw@20: 1 of 3 converged; lstm@20: converged', each run once, in the order the conditions name them."""
    states = {}
    for outcome in (judgment.primary, *judgment.supporting):
        states.update(outcome.convergence)
    parts = []
    for run, runs in states.items():
        done = sum(c.converged for c in runs)
        if done == len(runs):
            parts.append(f"{run}: converged")
        else:
            parts.append(f"{run}: {'not converged' if len(runs) == 1 else f'{done} of {len(runs)} converged'}")
    return "; ".join(parts)


def verdict_table(judgments: list[Judgment]) -> pd.DataFrame:
    """One row per claim: primary effect and its interval, supporting conditions, convergence, reason, verdict."""
    revised = any(j.claim.revision for j in judgments)
    rows = []
    for j in judgments:
        rules = _rules(j.claim, revised)
        rows.append(
            {
                "claim": j.claim.id,
                "primary effect": rules["primary effect"],
                "ours (95 % interval)": j.primary.quantity.text(),
                "supporting": "; ".join(f"{o.condition.text()}: {o.status}" for o in j.supporting) or "none",
                "illustrations (not judged)": "; ".join(f"{q.name} = {q.text()}" for q in j.illustrations) or "none",
                "convergence": _convergence(j),
                "reason": j.reason,
                "verdict": j.verdict,
                **({"revised": rules["revised"]} if revised else {}),
            }
        )
    table = pd.DataFrame(rows).set_index("claim")
    return table if revised else table.rename(columns={"primary effect": f"primary effect, {FIXED}"})
