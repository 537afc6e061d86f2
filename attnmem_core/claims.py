"""Claims and their verdicts: the paper's effect, measured with an interval, judged by a rule fixed in advance.

A claim has one *primary* condition — the paper's effect as the paper states it ("hard attention
at least as good as soft, within 2 BLEU") — and optional *supporting* conditions, the context
("the baselines fail"), judged and shown separately. Numbers that cannot refute anything (a
property of random vectors) are *illustrations*: shown beside the claim, never judged.

Each condition compares a measured `Quantity`, an interval (`intervals`) in a stated unit, with a
bound: `>` or `<` a number, or `within` two. Its status:
  - holds           the whole interval lies on the paper's side of the bound,
  - short           it holds, but falls short of the paper's size by more than the pre-registered margin,
  - fails           the whole interval lies on the other side,
  - undecided       the interval covers the bound (or there is none: one seed and no test-item interval),
  - not converged   a run it was measured on has not converged (`convergence`) and more training could
                    change the answer. A quantity knows which way more training of each run moves it
                    (an error falls, a BLEU score rises), so a model that already meets the paper's
                    number needs no more updates, while a baseline's "failure" says nothing until it
                    has converged. A cost per update, measured on runs but not moved by training them
                    longer, is judged whatever their convergence.
The verdict, with a one-line reason:
  - not reproduced  the primary condition fails,
  - inconclusive    some condition is not converged, or the primary is undecided,
  - partially       the primary holds but is short, or holds while some supporting condition does not,
  - reproduced      the primary and every supporting condition hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from attnmem_core.convergence import Convergence
from attnmem_core.intervals import Interval

VERDICTS = ("reproduced", "partially", "not reproduced", "inconclusive")
OPS = (">", "<", "within")
BETTER = {"higher": +1, "lower": -1}


@dataclass(frozen=True)
class Quantity:
    """A measured number: its interval, its unit, and how more training of each run it was measured on moves it.

    `runs` maps a run's label (a model, over all its seeds) to +1 if training it longer raises
    the quantity, -1 if it lowers it, and 0 if it does not move it (seconds per update). Build it with
    `of_model` or `between`.
    """

    name: str
    interval: Interval
    unit: str
    runs: Mapping[str, int]

    def __post_init__(self):
        if any(sign not in (-1, 0, +1) for sign in self.runs.values()):
            raise ValueError(f"{self.name}: runs={dict(self.runs)}; each run moves the quantity by +1, -1 or 0")

    def text(self, digits: int = 2) -> str:
        return self.interval.text(self.unit, digits)


def _sign(better: str) -> int:
    if better not in BETTER:
        raise ValueError(f"better={better!r}; choose 'higher' (BLEU, accuracy) or 'lower' (error, perplexity)")
    return BETTER[better]


def of_model(name: str, interval: Interval, unit: str, run: str, better: str) -> Quantity:
    """One model's metric (e.g. fw@20's test error, better 'lower')."""
    return Quantity(name, interval, unit, {run: _sign(better)})


def between(name: str, interval: Interval, unit: str, a: str, b: str, better: str) -> Quantity:
    """A comparison of run a with run b, a − b or a / b, of a metric that is `better` 'higher' or 'lower'."""
    if a == b:
        raise ValueError(f"{name}: a comparison of {a!r} with itself")
    return Quantity(name, interval, unit, {a: _sign(better), b: -_sign(better)})


@dataclass(frozen=True)
class Condition:
    """`quantity op bound` in `unit`; `paper_size` and `shortfall` make a holding condition short when the
    interval stays more than `shortfall` below the paper's size of the effect (above it, for `<`)."""

    quantity: str
    op: str
    bound: float | tuple[float, float]
    unit: str = ""
    paper_size: float | None = None
    shortfall: float | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"{self.quantity}: op={self.op!r}; choose one of {', '.join(OPS)}")
        if (self.op == "within") != isinstance(self.bound, tuple):
            raise ValueError(f"{self.quantity}: bound={self.bound!r}; 'within' takes (low, high), '>' and '<' a number")
        if self.op == "within" and not self.bound[0] < self.bound[1]:
            raise ValueError(f"{self.quantity}: bound={self.bound!r}; low must be below high")
        if (self.paper_size is None) != (self.shortfall is None):
            raise ValueError(f"{self.quantity}: give paper_size and shortfall together, or neither")
        if self.paper_size is not None and self.op == "within":
            raise ValueError(f"{self.quantity}: a 'within' condition has no size to fall short of")

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.op == "within":
            return f"{self.bound[0]:g} < {self.quantity} < {self.bound[1]:g}{unit}"
        size = f" (paper: {self.paper_size:g}, short by > {self.shortfall:g})" if self.paper_size is not None else ""
        return f"{self.quantity} {self.op} {self.bound:g}{unit}{size}"

    def _side(self, interval: Interval) -> tuple[str, str]:
        """(holds | fails | undecided | short, why), from where the interval lies against the bound."""
        if not interval.known:
            return "undecided", f"no interval: {interval.method}"
        span = f"interval {interval.low:.3g} … {interval.high:.3g} {self.unit}".rstrip()
        if self.op == "within":
            low, high = self.bound
            if low < interval.low and interval.high < high:
                return "holds", f"{span} lies within {low:g} … {high:g}"
            if interval.high < low or interval.low > high:
                return "fails", f"{span} lies outside {low:g} … {high:g}"
            return "undecided", f"{span} covers a bound of {low:g} … {high:g}"
        # mirror '<' onto '>' so that the paper's side always lies above the bound
        sign = 1 if self.op == ">" else -1
        low, high = sorted((sign * interval.low, sign * interval.high))
        bound, (side, other) = sign * self.bound, ("above", "below")[::sign]
        if low > bound:
            if self.paper_size is not None and high < sign * self.paper_size - self.shortfall:
                return "short", (
                    f"{span} is on the paper's side of {self.bound:g} but short of its "
                    f"{self.paper_size:g} by more than {self.shortfall:g}"
                )
            return "holds", f"{span} lies {side} {self.bound:g}"
        if high < bound:
            return "fails", f"{span} lies {other} {self.bound:g}"
        return "undecided", f"{span} covers {self.bound:g}"

    def judge(self, quantity: Quantity, convergence: Mapping[str, Sequence[Convergence]]) -> Outcome:
        status, why = self._side(quantity.interval)
        towards = {">": +1, "<": -1}.get(self.op)  # which way the quantity moves towards the paper's side
        pending = [
            run for run, sign in quantity.runs.items() if sign and not all(c.converged for c in convergence[run])
        ]
        if status == "holds":
            could_change = [run for run in pending if quantity.runs[run] != towards]
        elif status == "undecided":
            could_change = pending
        else:  # fails or short: only more training that moves towards the paper's side could change it
            could_change = [run for run in pending if towards is None or quantity.runs[run] == towards]
        if could_change:
            status, why = "not converged", _not_converged(could_change, convergence)
        states = {run: list(convergence[run]) for run in quantity.runs}
        return Outcome(self, quantity, status, why, states, tuple(could_change))


def _not_converged(runs: Sequence[str], convergence: Mapping[str, Sequence[Convergence]]) -> str:
    """'not converged: fw@20 (valid_error fell 44% over the last half of its 2,000 updates), irnn@20': the first
    run with the rule's reason (and how many of its seeds), the others by name."""
    states = convergence[runs[0]]
    late = [c for c in states if not c.converged]
    seeds = f"{len(late)} of {len(states)} runs: " if len(states) > 1 else ""
    return f"not converged: {runs[0]} ({seeds}{late[0].reason})" + "".join(f", {run}" for run in runs[1:])


@dataclass(frozen=True)
class Outcome:
    """A condition applied to its quantity: the status, why, and the convergence of every run behind it."""

    condition: Condition
    quantity: Quantity
    status: str
    reason: str
    convergence: Mapping[str, list[Convergence]]
    unsettled: tuple[str, ...] = ()  # the unconverged runs that could still change the status

    def to_dict(self) -> dict:
        interval = self.quantity.interval
        return {
            "condition": self.condition.text(),
            "quantity": self.quantity.name,
            "unit": self.quantity.unit,
            "value": interval.value,
            "low": interval.low,
            "high": interval.high,
            "method": interval.method,
            "status": self.status,
            "reason": self.reason,
            "convergence": {run: [asdict(c) for c in states] for run, states in self.convergence.items()},
        }


@dataclass(frozen=True)
class Revision:
    """A rule changed after a run was seen: its first form and why it changed."""

    first: str
    reason: str


@dataclass(frozen=True)
class Claim:
    """A paper's statement and number, its primary condition, and optional supporting conditions and illustrations."""

    id: str
    statement: str
    paper: str
    primary: Condition | None = None
    supporting: tuple[Condition, ...] = ()
    illustrations: tuple[str, ...] = ()
    revision: Revision | None = None

    def __post_init__(self):
        if not isinstance(self.primary, Condition):
            raise ValueError(f"claim {self.id}: primary={self.primary!r}; give the paper's effect as one Condition")
        object.__setattr__(self, "supporting", tuple(self.supporting))
        object.__setattr__(self, "illustrations", tuple(self.illustrations))
        for condition in self.conditions:
            if not condition.unit:
                raise ValueError(
                    f"claim {self.id}: {condition.text()} has a bound without a unit; "
                    "give unit= (e.g. 'BLEU', 'pp', '×')"
                )

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return (self.primary, *self.supporting)

    def judge(
        self, quantities: Iterable[Quantity], convergence: Mapping[str, Convergence | Sequence[Convergence]]
    ) -> Judgment:
        """The verdict from the measured quantities and the convergence of every run (one Convergence per seed)."""
        measured = self._index(quantities)
        states = {run: [c] if isinstance(c, Convergence) else list(c) for run, c in convergence.items()}
        outcomes = []
        for condition in self.conditions:
            quantity = self._measured(measured, condition.quantity)
            if quantity.unit != condition.unit:
                raise ValueError(
                    f"claim {self.id}: {condition.text()} is in {condition.unit!r}, but {quantity.name} "
                    f"was measured in {quantity.unit!r}"
                )
            if not quantity.runs:
                raise ValueError(
                    f"claim {self.id}: {quantity.name} depends on no trained run, so no result can make "
                    f"{condition.text()} fail; show it as an illustration, not a condition"
                )
            for run in quantity.runs:
                if not states.get(run):
                    raise ValueError(
                        f"claim {self.id}: no convergence recorded for run {run!r} (behind "
                        f"{quantity.name}); judge its history with convergence.Rule"
                    )
            outcomes.append(condition.judge(quantity, states))
        verdict, reason = _verdict(outcomes[0], outcomes[1:])
        shown = tuple(self._measured(measured, name) for name in self.illustrations)
        return Judgment(self, outcomes[0], tuple(outcomes[1:]), shown, verdict, reason)

    def _index(self, quantities: Iterable[Quantity]) -> dict[str, Quantity]:
        measured = {}
        for quantity in quantities:
            if quantity.name in measured:
                raise ValueError(f"claim {self.id}: {quantity.name!r} measured twice")
            measured[quantity.name] = quantity
        return measured

    def _measured(self, measured: dict[str, Quantity], name: str) -> Quantity:
        if name not in measured:
            raise ValueError(f"claim {self.id}: no run measured {name!r}; measured: {sorted(measured)}")
        return measured[name]


def _verdict(primary: Outcome, supporting: Sequence[Outcome]) -> tuple[str, str]:
    if primary.status == "fails":
        return "not reproduced", primary.reason
    unsettled = {run: o.convergence for o in (primary, *supporting) for run in o.unsettled}
    if unsettled:  # each run once, in the conditions' order
        return "inconclusive", _not_converged(list(unsettled), {run: c[run] for run, c in unsettled.items()})
    if primary.status == "undecided":
        return "inconclusive", primary.reason
    if primary.status == "short":
        return "partially", primary.reason
    weak = [o for o in supporting if o.status != "holds"]
    if weak:
        return "partially", f"{primary.reason}, but {weak[0].condition.text()}: {weak[0].status}, {weak[0].reason}"
    return "reproduced", primary.reason + (", and every supporting condition holds" if supporting else "")


@dataclass(frozen=True)
class Judgment:
    """A claim judged: its outcomes, illustrations, verdict and one-line reason."""

    claim: Claim
    primary: Outcome
    supporting: tuple[Outcome, ...]
    illustrations: tuple[Quantity, ...]
    verdict: str
    reason: str

    def to_dict(self) -> dict:
        """What the results JSON carries per claim."""
        claim = self.claim
        return {
            "id": claim.id,
            "statement": claim.statement,
            "paper": claim.paper,
            "primary": self.primary.to_dict(),
            "supporting": [o.to_dict() for o in self.supporting],
            "illustrations": [{"quantity": q.name, "unit": q.unit, **asdict(q.interval)} for q in self.illustrations],
            "revision": asdict(claim.revision) if claim.revision else None,
            "verdict": self.verdict,
            "reason": self.reason,
        }
