"""Intervals for the claims: how sure a number measured over seeds or test items is.

Every claim compares an interval with the paper's threshold (see `claims`), so every measured
quantity comes here first. The confidence is pre-registered: 95 %, two-sided, for every chapter.

- `mean`: a model's metric over seeds, Student's t interval of the mean.
- `difference`: model A minus model B over seeds, Welch's t interval (unequal variances). Seeds
  are independent draws: seed i of A is no natural pair for seed i of B, so nothing is paired.
- `ratio`: A over B (e.g. perplexities), Welch's t on the logs, as a ratio of geometric means.
- `proportion`: an error rate of one seed, Wilson's interval over its test items.
- `rate`, `rate_difference`: a rate over seeds (t, Welch), or of one seed over its test items
  (Wilson; Newcombe's hybrid score interval for a difference of two).
- `from_bootstrap`: a paired bootstrap over test items (`scoring.paired_bootstrap`), one seed.
- `percentile_bootstrap`: any statistic of one sample of items (a median), resampled.

An interval over seeds needs two seeds on each side; with one it is NaN and says so, and the
claim reads it as undecided: one seed is judged only by an interval over test items. A seed that
measured nothing (NaN) leaves no number at all, and the method says how many did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate, its interval (low ≤ value ≤ high, NaN when there is none), and how it was computed."""

    value: float
    low: float
    high: float
    method: str

    @property
    def known(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units, e.g. a fraction × 100 in %."""
        return Interval(self.value * factor, self.low * factor, self.high * factor, self.method)

    def text(self, unit: str = "", digits: int = 2) -> str:
        """'−5.03 BLEU (−6.49 … −3.58, Welch t, 3 + 3 seeds)', or '0.63 × (no interval: …)' when there is none."""
        value = f"{fixed(self.value, digits)}{f' {unit}' if unit else ''}"
        if not self.known:
            return f"{value} (no interval: {self.method})"
        return f"{value} ({fixed(self.low, digits)} … {fixed(self.high, digits)}, {self.method})"


def fixed(value: float, digits: int) -> str:
    """`value` with `digits` decimals, and '0.00', not '-0.00', for a small negative one."""
    return f"{round(value, digits) + 0.0:.{digits}f}"


def _values(name: str, values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not len(array):
        raise ValueError(f"{name}: give one number per seed, got {values!r}")
    return array


def _unmeasured(*samples: np.ndarray, over: str = "seeds") -> Interval | None:
    """No number at all when some draw measured nothing (NaN: e.g. a captioner that named no item), saying how many."""
    missing = sum(int(np.isnan(x).sum()) for x in samples)
    if not missing:
        return None
    return Interval(
        math.nan, math.nan, math.nan, f"{missing} of {counted(*map(len, samples), over=over)} measured nothing"
    )


def counted(*counts: int, over: str = "seeds") -> str:
    """Counts with their noun in the right number: '3 + 3 seeds', '1 seed', '120 + 80 occurrences', '1 model'."""
    return f"{' + '.join(map(str, counts))} {over.removesuffix('s') if sum(counts) == 1 else over}"


def mean(values: Sequence[float], over: str = "seeds") -> Interval:
    """The mean over seeds (or other draws, `over`, e.g. test sentences) with Student's t interval."""
    x = _values("values", values)
    if unmeasured := _unmeasured(x, over=over):
        return unmeasured
    method = f"t over {over}, {counted(len(x), over=over)}"
    if len(x) < 2:
        return Interval(float(x[0]), math.nan, math.nan, f"{counted(1, over=over)}: no interval over {over}")
    if np.ptp(x) == 0:  # no spread: t is undefined and the mean is not in doubt
        return Interval(float(x[0]), float(x[0]), float(x[0]), method)
    low, high = stats.ttest_1samp(x, 0.0).confidence_interval(CONFIDENCE)
    return Interval(float(x.mean()), float(low), float(high), method)


def difference(a: Sequence[float], b: Sequence[float], over: str = "seeds") -> Interval:
    """mean(a) − mean(b) over independent seeds (or other draws, `over`) with Welch's t interval."""
    x, y = _values("a", a), _values("b", b)
    if unmeasured := _unmeasured(x, y, over=over):
        return unmeasured
    value = float(x.mean() - y.mean())
    if min(len(x), len(y)) < 2:
        return Interval(value, math.nan, math.nan, f"{counted(len(x), len(y), over=over)}: no interval over {over}")
    method = f"Welch t, {counted(len(x), len(y), over=over)}"
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return Interval(value, value, value, method)
    low, high = stats.ttest_ind(x, y, equal_var=False).confidence_interval(CONFIDENCE)
    return Interval(value, float(low), float(high), method)


def ratio(a: Sequence[float], b: Sequence[float]) -> Interval:
    """geomean(a) / geomean(b) over independent seeds: Welch's t interval of the difference of logs, exponentiated."""
    x, y = _values("a", a), _values("b", b)
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError(f"a ratio needs positive numbers, got {list(x)} over {list(y)}; compare a difference instead")
    logs = difference(np.log(x), np.log(y))
    return Interval(
        math.exp(logs.value), math.exp(logs.low), math.exp(logs.high), logs.method.replace("Welch t", "Welch t on logs")
    )


def proportion(errors: int, items: int) -> Interval:
    """An error rate errors/items of one seed with Wilson's score interval over its test items."""
    if not 0 <= errors <= items or items < 1:
        raise ValueError(f"errors={errors}, items={items}: need 0 <= errors <= items and items >= 1")
    ci = stats.binomtest(errors, items).proportion_ci(CONFIDENCE, method="wilson")
    return Interval(errors / items, float(ci.low), float(ci.high), f"Wilson over {items:,} test items, 1 seed")


def from_bootstrap(result: dict) -> Interval:
    """The delta and percentile interval of `scoring.paired_bootstrap` (A − B in BLEU, one seed)."""
    missing = {"delta", "ci_low", "ci_high", "samples"} - result.keys()
    if missing:
        raise ValueError(f"not a paired_bootstrap result: {sorted(missing)} missing from {sorted(result)}")
    return Interval(
        result["delta"],
        result["ci_low"],
        result["ci_high"],
        f"paired bootstrap over test items, {result['samples']:,} resamples, 1 seed",
    )


def rate(values: Sequence[float], items: int) -> Interval:
    """A rate (an error, an accuracy; a fraction) over seeds with t, or of one seed with Wilson over its `items`."""
    x = _values("values", values)
    return mean(x) if len(x) > 1 else proportion(round(float(x[0]) * items), items)


def rate_difference(a: Sequence[float], b: Sequence[float], items: int) -> Interval:
    """Rate a − rate b: Welch over seeds, or Newcombe's hybrid score interval for one seed of each on `items`
    test items (taken as independent samples, which is conservative for two models scored on the same items)."""
    x, y = _values("a", a), _values("b", b)
    if len(x) > 1 or len(y) > 1:
        return difference(x, y)  # with one seed on one side only, no interval, and its method says why
    p, q = rate(x, items), rate(y, items)
    d = p.value - q.value
    low = d - math.hypot(p.value - p.low, q.high - q.value)
    high = d + math.hypot(p.high - p.value, q.value - q.low)
    return Interval(d, low, high, f"Newcombe over {items:,} test items, 1 seed each")


def percentile_bootstrap(values: Sequence[float], statistic, over: str, samples: int = 1000, seed: int = 0) -> Interval:
    """statistic(values) with the 2.5 and 97.5 percentiles of `samples` resamples of the values (e.g. a median)."""
    x = _values("values", values)
    rng = np.random.default_rng(seed)
    resampled = [statistic(x[rng.integers(0, len(x), len(x))]) for _ in range(samples)]
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Interval(
        float(statistic(x)),
        float(low),
        float(high),
        f"bootstrap over {counted(len(x), over=over)}, {samples:,} resamples",
    )
