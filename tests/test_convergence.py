import math

import numpy as np
import pytest

from attnmem_core.convergence import Rule, by_run

# Fast weights at R = 20, validation error (%) every 1k updates. From the issue: 15.6 at 2k, 7.4–7.8 from
# 10k to 17k, 4.1 at 25k, 3.3–3.7 from 26k to 30k; the points between those are interpolated.
FAST_WEIGHTS_R20 = [
    40.0,
    15.6,
    12.4,
    10.6,
    9.5,
    8.8,
    8.4,
    8.1,
    7.9,
    7.8,
    7.6,
    7.7,
    7.5,
    7.6,
    7.4,
    7.5,
    7.4,
    6.9,
    6.1,
    5.4,
    4.9,
    4.6,
    4.4,
    4.2,
    4.1,
    3.7,
    3.5,
    3.6,
    3.3,
    3.4,
]


def history(values, every=1000, metric="valid_error"):
    return [{"step": every * (i + 1), "seconds": 1.0 * i, "train_loss": 1.0, metric: v} for i, v in enumerate(values)]


RULE = Rule("valid_error", "min")


@pytest.mark.parametrize("stop", range(10, 31))
def test_the_fast_weights_plateau_is_not_convergence_wherever_the_run_stops(stop):
    verdict = RULE.judge(history(FAST_WEIGHTS_R20[:stop]))
    assert not verdict.converged, verdict.reason


def test_the_reason_says_how_much_it_moved_over_which_updates():
    verdict = RULE.judge(history(FAST_WEIGHTS_R20[:17]))
    assert verdict.reason == "valid_error fell 9% over the last half of its 17,000 updates"
    assert verdict.step == 17_000 and verdict.improvement == pytest.approx((8.1 - 7.4) / 8.1)


def test_converged_noisy_error_curves_are_converged_whatever_their_noise():
    steps = np.arange(500, 20_001, 500)
    for seed in range(200):
        noise = np.random.default_rng(seed).normal(0, 0.002, len(steps))
        curve = 0.05 + 0.5 * np.exp(-steps / 1000) + noise  # within its noise of 5 % from 8k updates on
        verdict = RULE.judge([{"step": int(s), "valid_error": float(v)} for s, v in zip(steps, curve)])
        assert verdict.converged, (seed, verdict.reason)


def test_a_bleu_curve_that_rose_then_levelled_off_is_converged_and_one_still_rising_is_not():
    rule = Rule("valid_bleu", "max")
    levelled = [2.0, 8.0, 13.0, 15.5, 16.4, 16.8, 16.9, 17.0, 16.9, 17.0, 16.95, 17.0]
    rising = [2.0, 5.0, 7.5, 9.0, 10.5, 11.5, 12.5, 13.2, 14.0, 14.6, 15.1, 15.7]
    assert rule.judge(history(levelled, metric="valid_bleu")).converged
    assert not rule.judge(history(rising, metric="valid_bleu")).converged


def test_a_task_solved_early_is_converged_and_so_is_a_curve_that_overfits():
    solved = RULE.judge(history([0.5, 0.1, 0.0, 0.0, 0.0, 0.0]))
    assert solved.converged and solved.reason.startswith("valid_error did not improve")
    overfits = [0.5, 0.3, 0.2, 0.18, 0.19, 0.21, 0.24, 0.26]
    assert RULE.judge(history(overfits)).converged


def test_too_short_a_history_is_not_converged_and_says_why():
    for values in ([0.5], [0.5, 0.5]):  # the second: one evaluation before the last half and one within
        verdict = RULE.judge(history(values))
        assert not verdict.converged and math.isnan(verdict.improvement)
    assert verdict.reason == "too few evaluations to judge: 1 before and 1 within the last half of its 2,000 updates"
    assert RULE.judge(history([0.5, 0.5, 0.5])).converged


def test_a_run_shorter_than_the_minimum_is_not_converged_however_flat_and_says_so():
    """The IRNN at the retrieval task's 62 % plateau from its first evaluation to its last."""
    rule = Rule("valid_error", "min", min_steps=30_000)
    flat = [0.62] * 8
    assert RULE.judge(history(flat, every=250)).converged
    short = rule.judge(history(flat, every=250))
    assert not short.converged and short.improvement == 0.0
    assert short.reason == (
        "valid_error did not improve over the last half of its 2,000 updates, fewer than the 30,000 a run needs "
        "to be judged"
    )
    assert rule.judge(history(flat, every=5_000)).converged  # 40,000 updates
    assert not rule.judge(history(FAST_WEIGHTS_R20)).converged  # 30,000 updates, still falling


def test_a_history_without_the_metric_names_the_metric_and_the_keys():
    with pytest.raises(
        ValueError,
        match=r"a history row has no 'valid_error'; its keys are \['seconds', 'step', "
        r"'train_loss', 'valid_nll'\]",
    ):
        RULE.judge(history([0.5, 0.4], metric="valid_nll"))
    with pytest.raises(ValueError, match="no validation history to judge valid_error on"):
        RULE.judge([])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="goal='lowest'; choose 'min'"):
        Rule("valid_error", "lowest")
    with pytest.raises(ValueError, match="window=1.5"):
        Rule("valid_error", "min", window=1.5)
    with pytest.raises(ValueError, match="min_steps=-1: they must not be negative"):
        Rule("valid_error", "min", min_steps=-1)


def test_the_rule_in_words():
    assert RULE.text() == (
        "a run has converged when the best valid_error of the last half of its updates improves on the best "
        "before them by less than 2% or three times its evaluation-to-evaluation noise"
    )
    assert (
        Rule("valid_error", "min", min_steps=30_000)
        .text()
        .endswith("noise, and only once it has trained at least 30,000 updates")
    )


def test_by_run_groups_the_seeds_of_a_label_and_names_the_run_whose_history_is_bad():
    judged = by_run(
        RULE,
        [
            ("fw@20", history(FAST_WEIGHTS_R20[:17])),
            ("lstm@20", history([0.5, 0.1, 0.1, 0.1])),
            ("fw@20", history(FAST_WEIGHTS_R20)),
        ],
    )
    assert [c.converged for c in judged["fw@20"]] == [False, False] and judged["lstm@20"][0].converged
    with pytest.raises(ValueError, match="^fw@20: a history row has no 'valid_error'"):
        by_run(RULE, [("fw@20", history([0.5], metric="valid_nll"))])
