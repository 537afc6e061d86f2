import math

import numpy as np
import pytest
from scipy import stats

from attnmem_core import intervals, scoring


def test_difference_is_welchs_interval_written_out():
    a, b = [20.1, 21.3, 19.8], [15.2, 16.0, 14.9]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch–Satterthwaite
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    d = intervals.difference(a, b)
    assert d.value == pytest.approx(np.mean(a) - np.mean(b))
    assert (d.low, d.high) == pytest.approx((d.value - half, d.value + half))
    assert d.method == "Welch t, 3 + 3 seeds"


def test_mean_is_students_interval_and_one_seed_has_none():
    m = intervals.mean([1.0, 2.0, 4.0])
    half = stats.t.ppf(0.975, 2) * np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3)
    assert (m.low, m.high) == pytest.approx((7 / 3 - half, 7 / 3 + half))
    one = intervals.mean([0.3])
    assert one.value == 0.3 and not one.known and one.method == "1 seed: no interval over seeds"
    assert intervals.difference([1.0], [2.0, 3.0]).method == "1 + 2 seeds: no interval over seeds"


def test_no_spread_gives_the_exact_number():
    d = intervals.difference([0.0, 0.0], [1.0, 1.0])
    assert (d.value, d.low, d.high) == (-1.0, -1.0, -1.0)


def test_ratio_is_the_exponentiated_interval_of_log_differences():
    a, b = [9.1, 8.7, 9.4], [5.1, 5.0, 5.3]
    logs = intervals.difference(np.log(a), np.log(b))
    r = intervals.ratio(a, b)
    assert (r.value, r.low, r.high) == pytest.approx((math.exp(logs.value), math.exp(logs.low), math.exp(logs.high)))
    assert r.method == "Welch t on logs, 3 + 3 seeds"
    with pytest.raises(ValueError, match="a ratio needs positive numbers"):
        intervals.ratio([1.0, 0.0], [1.0, 2.0])


def test_proportion_is_wilsons_interval_over_test_items():
    p = intervals.proportion(4_520, 20_000)
    n, phat, z = 20_000, 0.226, stats.norm.ppf(0.975)
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2))
    assert (p.value, p.low, p.high) == pytest.approx((phat, centre - half, centre + half))
    assert p.method == "Wilson over 20,000 test items, 1 seed"


def test_from_bootstrap_reads_scoring_paired_bootstrap():
    references = ["the cat sat on the mat", "a dog ran in the park", "it is raining today"] * 5
    better = references
    worse = ["the cat sat", "a dog", "it is raining"] * 5
    result = scoring.paired_bootstrap(better, worse, references, samples=200)
    interval = intervals.from_bootstrap(result)
    assert (interval.value, interval.low, interval.high) == (result["delta"], result["ci_low"], result["ci_high"])
    assert interval.method == "paired bootstrap over test items, 200 resamples, 1 seed"
    with pytest.raises(ValueError, match=r"not a paired_bootstrap result: \['ci_high', 'ci_low', 'samples'\]"):
        intervals.from_bootstrap({"delta": 1.0})


def test_text_shows_the_interval_and_how_it_was_computed():
    assert intervals.Interval(-5.0, -6.5, -3.6, "Welch t, 3 + 3 seeds").text("BLEU", 1) == (
        "-5.0 BLEU (-6.5 … -3.6, Welch t, 3 + 3 seeds)"
    )
    assert intervals.mean([0.63]).text("×") == "0.63 × (no interval: 1 seed: no interval over seeds)"
    assert intervals.Interval(-0.001, -0.3, 0.2, "t").text() == "0.00 (-0.30 … 0.20, t)"  # no "-0.00"


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="give one number per seed"):
        intervals.mean([])
    with pytest.raises(ValueError, match="errors=5, items=4"):
        intervals.proportion(5, 4)


def test_rate_is_t_over_seeds_or_wilson_over_the_items_of_one_seed():
    assert intervals.rate([0.2, 0.3, 0.25], 1000) == intervals.mean([0.2, 0.3, 0.25])
    assert intervals.rate([0.226], 20_000) == intervals.proportion(4_520, 20_000)


def test_rate_difference_of_one_seed_each_is_newcombes_interval_from_the_two_wilson_intervals():
    a, b = intervals.proportion(4_520, 20_000), intervals.proportion(12_200, 20_000)
    d = intervals.rate_difference([0.226], [0.61], 20_000)
    assert d.value == pytest.approx(0.226 - 0.61)
    assert d.low == pytest.approx(d.value - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2))
    assert d.high == pytest.approx(d.value + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2))
    assert d.method == "Newcombe over 20,000 test items, 1 seed each"
    assert intervals.rate_difference([0.2, 0.3], [0.5, 0.6], 100) == intervals.difference([0.2, 0.3], [0.5, 0.6])
    assert not intervals.rate_difference([0.2], [0.5, 0.6], 100).known


def test_scaled_changes_the_units_only():
    assert intervals.Interval(0.2, 0.1, 0.3, "m").scaled(100) == intervals.Interval(20.0, 10.0, 30.0, "m")


def test_draws_other_than_seeds_are_named_in_the_method():
    assert intervals.difference([1.0, 2.0, 3.0], [0.0, 1.0], over="occurrences").method == "Welch t, 3 + 2 occurrences"
    assert intervals.mean([0.5, 0.7], over="test sentences").method == "t over test sentences, 2 test sentences"
    assert intervals.mean([0.5], over="test sentences").method == "1 test sentence: no interval over test sentences"


def test_a_seed_that_measured_nothing_leaves_no_number_and_says_so():
    unmeasured = intervals.difference([0.1, math.nan, 0.3], [0.2, 0.2])
    assert math.isnan(unmeasured.value) and not unmeasured.known
    assert unmeasured.method == "1 of 3 + 2 seeds measured nothing"
    assert intervals.mean([math.nan]).method == "1 of 1 seed measured nothing"


def test_percentile_bootstrap_resamples_the_items_with_a_fixed_seed():
    values = [1, 1, 2, 2, 2, 3, 5, 8, 1, 2]
    median = intervals.percentile_bootstrap(values, np.median, "jumps", samples=500)
    assert median.value == 2.0 and median.low <= 2.0 <= median.high
    assert median == intervals.percentile_bootstrap(values, np.median, "jumps", samples=500)
    assert median.method == "bootstrap over 10 jumps, 500 resamples"


def test_counts_take_their_noun_in_the_right_number():
    assert intervals.counted(1) == "1 seed" and intervals.counted(3) == "3 seeds"
    assert intervals.counted(1, over="models") == "1 model" and intervals.counted(2, 1, over="models") == "2 + 1 models"
    assert intervals.counted(0, over="test sequences") == "0 test sequences"
