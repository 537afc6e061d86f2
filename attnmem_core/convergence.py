"""Did a training run converge? One stated rule, applied to its validation history.

The papers report numbers at convergence; a run stopped early says how far a model got in its
budget, not where it ends. The rule: a run has converged when the best validation value of the
last half of its updates (`window`) improves on the best value reached before them by less than
2 % of it (`tolerance`), or by less than three times the curve's own noise in that half (the standard
deviation of its evaluation-to-evaluation changes over √2), or by at most `atol` in the metric's
own units (so that an error of 0 counts as converged). A best value that got worse is converged:
more updates only overfit. A history with fewer than one evaluation before that half and two
within it is too short to tell, and is not converged.

Why half the run, not the last few evaluations: a curve can sit on a plateau and then fall again.
Fast weights at R = 20 sit at 7.4–7.8 % validation error from 10k to 17k updates, then fall to
3.3 % by 30k; a rule that looks at a fixed number of updates calls that plateau converged. Asking
the curve to have been flat for as long as everything before it took makes a plateau of 7k
updates after 10k of descent read "still improving". Why the noise: a converged curve still
wobbles, and its best value of one half beats the other's by chance; three times the wobble
is a margin that chance rarely crosses and a real descent does.

Half the run is not enough when the plateau comes first: the IRNN and the LSTM sit on a plateau of
the retrieval task (about 62 % error; chance is 90 %) from their first evaluations, and a run stopped there
has been flat all along. A curve cannot tell that it will fall later, so a chapter whose models do this states the
updates a run needs before it can be judged at all (`min_steps`); a shorter run is not converged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

GOALS = ("min", "max")


@dataclass(frozen=True)
class Convergence:
    """The rule's answer for one run: converged or not, why, the last step it saw, and the improvement it measured."""

    converged: bool
    reason: str
    step: int
    improvement: float  # of the best value over the window, relative to the best before it (0.31 = 31 %)


@dataclass(frozen=True)
class Rule:
    """One stated convergence rule for the runs of a chapter, e.g. Rule("valid_error", "min")."""

    metric: str
    goal: str
    window: float = 0.5
    tolerance: float = 0.02
    atol: float = 0.0
    min_steps: int = 0  # a run with fewer updates is not converged, however flat its curve

    def __post_init__(self):
        if self.goal not in GOALS:
            raise ValueError(f"goal={self.goal!r}; choose 'min' (an error, a perplexity) or 'max' (BLEU, accuracy)")
        if not 0 < self.window < 1:
            raise ValueError(f"window={self.window}: the share of the run that must be flat, between 0 and 1")
        if self.tolerance < 0 or self.atol < 0 or self.min_steps < 0:
            raise ValueError(
                f"tolerance={self.tolerance}, atol={self.atol}, min_steps={self.min_steps}: they must not be negative"
            )

    def _span(self) -> str:
        return "half" if self.window == 0.5 else f"{self.window:.0%}"

    def text(self) -> str:
        floor = f", or by at most {self.atol:g}" if self.atol else ""
        minimum = f", and only once it has trained at least {self.min_steps:,} updates" if self.min_steps else ""
        return (
            f"a run has converged when the best {self.metric} of the last {self._span()} of its updates improves on "
            f"the best before them by less than {self.tolerance:.0%} or three times its evaluation-to-evaluation "
            f"noise{floor}{minimum}"
        )

    def judge(self, history: list[dict]) -> Convergence:
        """Apply the rule to one run's history (training.train's rows: "step" and the metrics)."""
        if not history:
            raise ValueError(
                f"no validation history to judge {self.metric} on; evaluate during training "
                "(training.train's evaluate and eval_every)"
            )
        for row in history:
            missing = [key for key in ("step", self.metric) if key not in row]
            if missing:
                raise ValueError(f"a history row has no {missing[0]!r}; its keys are {sorted(row)}")
        last = int(history[-1]["step"])
        start = last * (1 - self.window)
        sign = -1.0 if self.goal == "min" else 1.0  # so that larger is better below
        before = np.array([sign * row[self.metric] for row in history if row["step"] <= start])
        within = np.array([sign * row[self.metric] for row in history if row["step"] > start])
        updates = f"the last {self._span()} of its {last:,} updates"
        if not len(before) or len(within) < 2:
            judged = f"{len(before)} before and {len(within)} within {updates}"
            return Convergence(False, f"too few evaluations to judge: {judged}", last, math.nan)
        reference = before.max()
        gain = within.max() - reference
        relative = gain / abs(reference) if reference else (math.inf if gain > 0 else 0.0)
        noise = np.std(np.diff(within), ddof=1) / math.sqrt(2) if len(within) >= 3 else 0.0
        converged = gain <= self.atol or relative < self.tolerance or gain < 3 * noise
        if gain > 0:
            moved = f"{'fell' if self.goal == 'min' else 'rose'} {f'{relative:.0%}' if reference else f'by {gain:.3g}'}"
        else:
            moved = "did not improve"
        reason = f"{self.metric} {moved} over {updates}"
        if last < self.min_steps:
            converged, reason = False, f"{reason}, fewer than the {self.min_steps:,} a run needs to be judged"
        return Convergence(bool(converged), reason, last, float(relative))


def by_run(rule: Rule, histories: Iterable[tuple[str, list[dict]]]) -> dict[str, list[Convergence]]:
    """label → the rule's answer for each run under that label (one per seed), from (label, history) pairs."""
    judged: dict[str, list[Convergence]] = {}
    for label, history in histories:
        try:
            judged.setdefault(label, []).append(rule.judge(history))
        except ValueError as error:
            raise ValueError(f"{label}: {error}") from None
    return judged
