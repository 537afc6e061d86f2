"""Claims and their verdicts, computed from measured numbers against a rule fixed in advance.

A claim pairs a paper's statement (and number) with a rule: a list of conditions on
quantities we measure. The rule is written in the notebook *before* the results exist;
`Claim.judge` then applies it to the measurements. Nobody types a verdict.

Each measured quantity is a list of values, one per seed. A condition compares two
quantities (or a quantity and a constant) seed by seed:
  - it holds when it holds for every seed,
  - it fails when it fails for every seed,
  - it is undecided when seeds disagree, or a number is missing or NaN.
The verdict over the conditions:
  - `reproduced`      every condition holds,
  - `inconclusive`    some condition is undecided,
  - `partially`       some hold, some fail,
  - `not reproduced`  every condition fails.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

VERDICTS = ("reproduced", "partially", "not reproduced", "inconclusive")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Condition:
    """`left op right (+ margin)`, where left and right name measured quantities or are numbers."""

    left: str
    op: str
    right: str | float
    margin: float = 0.0

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"op={self.op!r}; choose one of {', '.join(_OPS)}")

    def text(self) -> str:
        margin = f" {'+' if self.margin >= 0 else '-'} {abs(self.margin):g}" if self.margin else ""
        return f"{self.left} {self.op} {self.right}{margin}"

    def holds(self, measured: dict[str, list[float]]) -> bool | None:
        lefts = _values(self.left, measured)
        rights = _values(self.right, measured)
        if lefts is None or rights is None:
            return None
        if len(rights) == 1:
            rights = rights * len(lefts)
        if len(lefts) == 1:
            lefts = lefts * len(rights)
        if len(lefts) != len(rights):
            raise ValueError(f"{self.text()}: {len(lefts)} values against {len(rights)}; pair them by seed")
        outcomes = {_OPS[self.op](a, b + self.margin) for a, b in zip(lefts, rights)}
        return outcomes.pop() if len(outcomes) == 1 else None


def _values(term, measured) -> list[float] | None:
    values = [float(term)] if isinstance(term, (int, float)) else measured.get(term)
    if not values or any(v is None or math.isnan(v) for v in values):
        return None
    return list(values)


@dataclass
class Claim:
    """A paper's statement, its number, and the rule that decides whether we reproduce it."""

    id: str
    statement: str
    paper_number: str
    conditions: list[Condition]
    measured: dict[str, list[float]] = field(default_factory=dict)

    def rule_text(self) -> str:
        return " and ".join(c.text() for c in self.conditions)

    def judge(self, measured: dict[str, list[float]]) -> str:
        self.measured = {k: list(map(float, v)) for k, v in measured.items()}
        outcomes = [c.holds(self.measured) for c in self.conditions]
        if any(o is None for o in outcomes):
            return "inconclusive"
        if all(outcomes):
            return "reproduced"
        return "partially" if any(outcomes) else "not reproduced"

    @property
    def verdict(self) -> str:
        return self.judge(self.measured)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "statement": self.statement,
            "paper_number": self.paper_number,
            "rule": self.rule_text(),
            "measured": self.measured,
            "verdict": self.verdict,
        }
