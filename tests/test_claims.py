"""Claims and their verdicts: the verdicts a careful reader expects for the situations of issue 17's table (cpu-profile
numbers), intervals instead of seed-by-seed unanimity, the convergence gate, and bad input named."""

import json

import numpy as np
import pytest
from scipy import stats

from attnmem_core import intervals
from attnmem_core.claims import Claim, Condition, Quantity, Revision, between, of_model
from attnmem_core.convergence import Rule

RULE = Rule("valid_error", "min")
CONVERGED = RULE.judge(
    [
        {"step": s, "valid_error": e}
        for s, e in [(1000, 0.5), (2000, 0.3), (3000, 0.1), (4000, 0.1), (5000, 0.1), (6000, 0.1)]
    ]
)
STILL_FALLING = RULE.judge(
    [{"step": s, "valid_error": e} for s, e in [(500, 0.6), (1000, 0.4), (1500, 0.3), (2000, 0.226)]]
)


def test_the_two_histories_are_what_their_names_say():
    assert CONVERGED.converged and not STILL_FALLING.converged


# ---- fw-solves-R20: fast weights 22.6 % error at R = 20, the paper says < 5 % -------------------------------------

FW_R20 = Claim(
    "fw-solves-R20",
    "With 20 hidden units fast weights solve the task, while the baselines fail.",
    "FW 1.81%; others 60.1–62.1%",
    primary=Condition("fw@20 error", "<", 5.0, "%"),
    supporting=[Condition(f"{m}@20 error", ">", 20.0, "%") for m in ("irnn", "lstm")],
)


def fw_r20_quantities():
    fw = intervals.proportion(4_520, 20_000)  # 22.6 % of 20,000 test sequences, 1 seed
    fw = intervals.Interval(100 * fw.value, 100 * fw.low, 100 * fw.high, fw.method)
    baselines = [
        of_model(
            f"{m}@20 error",
            intervals.Interval(61.0, 60.3, 61.7, "Wilson over 20,000 test items, 1 seed"),
            "%",
            f"{m}@20",
            "lower",
        )
        for m in ("irnn", "lstm")
    ]
    return [of_model("fw@20 error", fw, "%", "fw@20", "lower"), *baselines]


def test_fast_weights_at_22_6_percent_is_not_reproduced_once_converged():
    judgment = FW_R20.judge(fw_r20_quantities(), {"fw@20": CONVERGED, "irnn@20": CONVERGED, "lstm@20": CONVERGED})
    assert judgment.verdict == "not reproduced"
    assert judgment.reason == "interval 22 … 23.2 % lies above 5"


def test_fast_weights_at_22_6_percent_after_2000_updates_is_inconclusive_not_converged():
    judgment = FW_R20.judge(fw_r20_quantities(), {"fw@20": STILL_FALLING, "irnn@20": CONVERGED, "lstm@20": CONVERGED})
    assert judgment.verdict == "inconclusive"
    assert judgment.reason == ("not converged: fw@20 (valid_error fell 44% over the last half of its 2,000 updates)")


def test_a_model_that_already_meets_the_papers_number_needs_no_more_updates():
    solved = [
        of_model(
            "fw@20 error",
            intervals.Interval(1.2, 1.0, 1.4, "Wilson over 20,000 test items, 1 seed"),
            "%",
            "fw@20",
            "lower",
        ),
        *fw_r20_quantities()[1:],
    ]
    judgment = FW_R20.judge(solved, {"fw@20": STILL_FALLING, "irnn@20": CONVERGED, "lstm@20": CONVERGED})
    assert judgment.verdict == "reproduced" and judgment.primary.status == "holds"


# ---- hard-matches-soft (chapter 1): hard 5 BLEU-4 below soft on every seed ----------------------------------------

SOFT, HARD = [20.1, 21.3, 19.8], [15.2, 16.0, 14.9]
HARD_SOFT = Claim(
    "hard-matches-soft",
    "Hard attention captions at least as well as soft, slightly better.",
    "COCO BLEU-4: hard 25.0, soft 24.3",
    primary=Condition("hard − soft BLEU-4", ">", -2.0, "BLEU"),
)


def test_hard_five_bleu_below_soft_on_every_seed_is_not_reproduced():
    gap = between("hard − soft BLEU-4", intervals.difference(HARD, SOFT), "BLEU", "hard", "soft", "higher")
    judgment = HARD_SOFT.judge([gap], {"hard": [CONVERGED] * 3, "soft": [CONVERGED] * 3})
    assert judgment.verdict == "not reproduced"
    assert judgment.reason.startswith("interval -6.") and judgment.reason.endswith(" BLEU lies below -2")
    assert judgment.primary.quantity.interval.method == "Welch t, 3 + 3 seeds"


def test_an_unconverged_hard_captioner_leaves_it_open_but_an_unconverged_soft_one_does_not():
    gap = between("hard − soft BLEU-4", intervals.difference(HARD, SOFT), "BLEU", "hard", "soft", "higher")
    hard_late = HARD_SOFT.judge([gap], {"hard": [CONVERGED, STILL_FALLING, CONVERGED], "soft": [CONVERGED] * 3})
    assert hard_late.verdict == "inconclusive" and hard_late.reason.startswith(
        "not converged: hard (1 of 3 runs: valid_error fell"
    )
    soft_late = HARD_SOFT.judge([gap], {"hard": [CONVERGED] * 3, "soft": [STILL_FALLING] * 3})
    assert soft_late.verdict == "not reproduced"  # a better soft captioner only widens the gap


# ---- scaling-matters (chapter 4): trained perplexity ratio 1.76, a Jacobian ratio on random vectors 0.63 -----------

UNSCALED, SCALED = [9.1, 8.7, 9.4], [5.1, 5.0, 5.3]


def scaling_quantities():
    trained = between(
        "perplexity h=1 unscaled / h=1", intervals.ratio(UNSCALED, SCALED), "×", "unscaled", "h=1", "lower"
    )
    jacobian = Quantity(
        "Jacobian norm unscaled / scaled, random vectors",
        intervals.Interval(0.63, 0.61, 0.65, "1,000 random draws"),
        "×",
        runs={},
    )
    return [trained, jacobian]


SCALING = Claim(
    "scaling-matters",
    "Without 1/√d_k, large dot products push the softmax into regions of tiny gradients.",
    "Sec. 3.2.1 (argued, not measured)",
    primary=Condition("perplexity h=1 unscaled / h=1", ">", 1.02, "×"),
    illustrations=["Jacobian norm unscaled / scaled, random vectors"],
)


def test_scaling_is_reproduced_when_both_trainings_converged_and_the_jacobian_is_only_shown():
    judgment = SCALING.judge(scaling_quantities(), {"unscaled": [CONVERGED] * 3, "h=1": [CONVERGED] * 3})
    assert judgment.verdict == "reproduced"
    assert judgment.primary.quantity.interval.value == pytest.approx(np.exp(np.mean(np.log(UNSCALED) - np.log(SCALED))))
    assert [q.name for q in judgment.illustrations] == ["Jacobian norm unscaled / scaled, random vectors"]


def test_scaling_is_inconclusive_while_the_unscaled_model_is_still_improving():
    judgment = SCALING.judge(scaling_quantities(), {"unscaled": [STILL_FALLING] * 3, "h=1": [CONVERGED] * 3})
    assert judgment.verdict == "inconclusive" and judgment.reason.startswith("not converged: unscaled (3 of 3 runs")


def test_a_condition_no_run_can_fail_is_rejected_as_a_condition():
    jacobian = Claim(
        "scaling-matters", "…", "…", primary=Condition("Jacobian norm unscaled / scaled, random vectors", "<", 0.5, "×")
    )
    with pytest.raises(
        ValueError,
        match=r"claim scaling-matters: Jacobian norm unscaled / scaled, random vectors "
        r"depends on no trained run, .* show it as an illustration",
    ):
        jacobian.judge(scaling_quantities(), {"unscaled": CONVERGED, "h=1": CONVERGED})


# ---- fw-best-R50: passes partly because the IRNN "fails" after 2,000 updates -----------------------------------------

FW_R50 = Claim(
    "fw-best-R50",
    "With 50 hidden units fast weights are at least as good as every baseline; IRNN fails.",
    "FW 0%; LSTM 1.85%; A-LSTM 1.62%; IRNN 60.23%",
    primary=Condition("fw@50 − lstm@50 error", "<", 0.5, "pp"),
    supporting=[Condition("irnn@50 error", ">", 20.0, "%")],
)


def fw_r50_quantities(irnn):
    fw, lstm = [0.4, 0.6, 0.3], [1.9, 2.2, 1.6]
    return [
        between("fw@50 − lstm@50 error", intervals.difference(fw, lstm), "pp", "fw@50", "lstm@50", "lower"),
        of_model("irnn@50 error", intervals.mean(irnn), "%", "irnn@50", "lower"),
    ]


def test_an_irnn_that_fails_before_it_converged_says_nothing():
    runs = {"fw@50": [CONVERGED] * 3, "lstm@50": [CONVERGED] * 3, "irnn@50": [STILL_FALLING] * 3}
    judgment = FW_R50.judge(fw_r50_quantities([60.1, 59.8, 60.5]), runs)
    assert judgment.primary.status == "holds" and judgment.supporting[0].status == "not converged"
    assert judgment.verdict == "inconclusive" and judgment.reason.startswith("not converged: irnn@50 (3 of 3 runs")
    converged = FW_R50.judge(fw_r50_quantities([60.1, 59.8, 60.5]), {**runs, "irnn@50": [CONVERGED] * 3})
    assert converged.verdict == "reproduced"
    assert converged.reason.endswith("lies below 0.5, and every supporting condition holds")


def test_an_irnn_that_already_succeeds_refutes_the_supporting_condition_converged_or_not():
    runs = {"fw@50": [CONVERGED] * 3, "lstm@50": [CONVERGED] * 3, "irnn@50": [STILL_FALLING] * 3}
    judgment = FW_R50.judge(fw_r50_quantities([3.0, 2.5, 3.5]), runs)
    assert judgment.verdict == "partially" and "irnn@50 error > 20 %: fails" in judgment.reason


# ---- more seeds never turn a clear result inconclusive -----------------------------------------------------------


def seeds_with(mean, sd, n):
    """n per-seed numbers with exactly this mean and sample standard deviation (normal quantiles, rescaled)."""
    z = stats.norm.ppf((np.arange(n) + 0.5) / n)
    return list(mean + sd * (z - z.mean()) / z.std(ddof=1))


ATT_AVE = Claim(
    "att-beats-pooling",
    "HN-ATT is more accurate than HN-AVE.",
    "Yelp'15 71.0 vs 69.9",
    primary=Condition("HN-ATT − HN-AVE accuracy", ">", 0.0, "pp"),
)


def att_ave_verdict(att, ave):
    gap = between("HN-ATT − HN-AVE accuracy", intervals.difference(att, ave), "pp", "HN-ATT", "HN-AVE", "higher")
    return ATT_AVE.judge([gap], {"HN-ATT": [CONVERGED] * len(att), "HN-AVE": [CONVERGED] * len(ave)}).verdict


def test_chapter_3s_five_seeds_are_inconclusive_by_their_interval_and_more_seeds_decide():
    assert att_ave_verdict(seeds_with(76.7, 2.6, 5), seeds_with(78.8, 1.6, 5)) == "inconclusive"
    assert att_ave_verdict(seeds_with(76.7, 2.6, 100), seeds_with(78.8, 1.6, 100)) == "not reproduced"


@pytest.mark.parametrize("att_mean, expected", [(76.7, "not reproduced"), (80.9, "reproduced")])
def test_more_seeds_never_turn_a_clear_result_inconclusive(att_mean, expected):
    verdicts = [att_ave_verdict(seeds_with(att_mean, 2.6, n), seeds_with(78.8, 1.6, n)) for n in range(2, 101)]
    first_clear = next(i for i, v in enumerate(verdicts) if v != "inconclusive")
    assert set(verdicts[first_clear:]) == {expected}


def test_one_seed_that_disagrees_among_a_hundred_does_not_make_it_inconclusive():
    att, ave = seeds_with(76.7, 2.6, 100), seeds_with(78.8, 1.6, 100)
    att[0] = max(ave) + 1  # this seed of HN-ATT beats every seed of HN-AVE
    assert att_ave_verdict(att, ave) == "not reproduced"


def test_one_seed_is_undecided_unless_judged_over_test_items():
    assert att_ave_verdict([76.7], [78.8]) == "inconclusive"
    gap = between(
        "HN-ATT − HN-AVE accuracy",
        intervals.from_bootstrap({"delta": -2.1, "ci_low": -3.0, "ci_high": -1.2, "samples": 1000}),
        "pp",
        "HN-ATT",
        "HN-AVE",
        "higher",
    )
    judgment = ATT_AVE.judge([gap], {"HN-ATT": CONVERGED, "HN-AVE": CONVERGED})
    assert judgment.verdict == "not reproduced" and judgment.primary.quantity.interval.method.endswith("1 seed")


# ---- sizes, equivalence, revisions, the results file ---------------------------------------------------------------


def test_the_right_direction_but_well_short_of_the_papers_size_is_partially():
    claim = Claim(
        "search-beats-encdec",
        "RNNsearch beats RNNencdec.",
        "26.75 vs 17.82",
        primary=Condition("search − encdec BLEU", ">", 0.0, "BLEU", paper_size=8.93, shortfall=4.0),
    )
    for interval, verdict in [((1.0, 0.4, 1.6), "partially"), ((6.0, 4.0, 8.0), "reproduced")]:
        gap = between(
            "search − encdec BLEU",
            intervals.Interval(*interval, "Welch t, 3 + 3 seeds"),
            "BLEU",
            "search",
            "encdec",
            "higher",
        )
        assert claim.judge([gap], {"search": CONVERGED, "encdec": CONVERGED}).verdict == verdict


def test_equivalence_holds_only_when_the_whole_interval_lies_within_the_margin():
    claim = Claim(
        "learned-equals-sinusoidal",
        "Learned positions give nearly identical results.",
        "4.92 vs 4.92",
        primary=Condition("perplexity learned / base", "within", (0.98, 1.02), "×"),
    )
    for interval, verdict in [
        ((1.0, 0.99, 1.01), "reproduced"),
        ((1.0, 0.95, 1.05), "inconclusive"),
        ((1.10, 1.05, 1.15), "not reproduced"),
    ]:
        ratio = between(
            "perplexity learned / base",
            intervals.Interval(*interval, "Welch t on logs, 3 + 3 seeds"),
            "×",
            "learned",
            "base",
            "lower",
        )
        assert claim.judge([ratio], {"learned": CONVERGED, "base": CONVERGED}).verdict == verdict


def test_the_results_file_carries_conditions_intervals_convergence_reason_and_verdict():
    claim = Claim(**{**vars(FW_R50), "revision": Revision("irnn@50 error > 50 %", "the paper's IRNN is at 60 %")})
    record = claim.judge(
        fw_r50_quantities([60.1, 59.8, 60.5]),
        {"fw@50": [CONVERGED] * 3, "lstm@50": [CONVERGED] * 3, "irnn@50": [STILL_FALLING] * 3},
    ).to_dict()
    json.dumps(record, allow_nan=False)
    assert record["verdict"] == "inconclusive" and record["reason"].startswith("not converged: irnn@50")
    assert record["primary"]["condition"] == "fw@50 − lstm@50 error < 0.5 pp"
    assert record["primary"]["method"] == "Welch t, 3 + 3 seeds" and record["primary"]["status"] == "holds"
    assert record["primary"]["convergence"]["fw@50"][0]["converged"] is True
    assert record["supporting"][0]["convergence"]["irnn@50"][2]["reason"] == STILL_FALLING.reason
    assert record["revision"] == {"first": "irnn@50 error > 50 %", "reason": "the paper's IRNN is at 60 %"}


# ---- bad input: a clear error naming the claim ---------------------------------------------------------------------


def test_a_claim_without_a_primary_condition_is_an_error():
    with pytest.raises(ValueError, match="claim fw-solves-R20: primary=None; give the paper's effect as one Condition"):
        Claim("fw-solves-R20", "…", "…", supporting=[Condition("fw@20 error", "<", 5.0, "%")])


def test_a_bound_without_a_unit_is_an_error():
    with pytest.raises(ValueError, match="claim fw-solves-R20: fw@20 error < 5 has a bound without a unit"):
        Claim("fw-solves-R20", "…", "…", primary=Condition("fw@20 error", "<", 5.0))


def test_a_quantity_no_run_measured_is_an_error():
    with pytest.raises(
        ValueError,
        match=r"claim fw-solves-R20: no run measured 'irnn@20 error'; measured: "
        r"\['fw@20 error'\]",
    ):
        FW_R20.judge(fw_r20_quantities()[:1], {"fw@20": CONVERGED})


def test_a_run_without_convergence_or_a_unit_that_differs_is_an_error():
    with pytest.raises(ValueError, match="claim fw-solves-R20: no convergence recorded for run 'lstm@20'"):
        FW_R20.judge(fw_r20_quantities(), {"fw@20": CONVERGED, "irnn@20": CONVERGED})
    fraction = of_model("fw@20 error", intervals.Interval(0.226, 0.22, 0.232, "…"), "fraction", "fw@20", "lower")
    with pytest.raises(
        ValueError,
        match=r"claim fw-solves-R20: fw@20 error < 5 % is in '%', but fw@20 error was "
        r"measured in 'fraction'",
    ):
        FW_R20.judge([fraction, *fw_r20_quantities()[1:]], {"fw@20": CONVERGED})


def test_malformed_conditions_and_quantities_are_named():
    with pytest.raises(ValueError, match="fw@20 error: op='<='; choose one of >, <, within"):
        Condition("fw@20 error", "<=", 5.0, "%")
    with pytest.raises(ValueError, match="'within' takes \\(low, high\\)"):
        Condition("ratio", "within", 1.0, "×")
    with pytest.raises(ValueError, match="better='best'; choose 'higher'"):
        of_model("fw@20 error", intervals.mean([0.1, 0.2]), "%", "fw@20", "best")


def test_a_size_short_of_the_paper_is_judged_the_same_way_for_a_lower_is_better_effect():
    claim = Claim(
        "fw-beats-lstm",
        "FW errs less than LSTM.",
        "0% vs 1.85%",
        primary=Condition("fw − lstm error", "<", 0.0, "pp", paper_size=-1.85, shortfall=1.0),
    )
    for interval, verdict in [((-0.2, -0.3, -0.1), "partially"), ((-1.5, -1.9, -1.1), "reproduced")]:
        gap = between(
            "fw − lstm error", intervals.Interval(*interval, "Welch t, 3 + 3 seeds"), "pp", "fw", "lstm", "lower"
        )
        assert claim.judge([gap], {"fw": CONVERGED, "lstm": CONVERGED}).verdict == verdict


def test_a_run_behind_several_conditions_is_named_once_in_the_reason():
    claim = Claim(
        "fw-best-R50",
        "…",
        "…",
        primary=Condition("fw − lstm error", "<", 0.5, "pp"),
        supporting=[Condition("fw − alstm error", "<", 0.5, "pp")],
    )
    gaps = [
        between(f"fw − {b} error", intervals.Interval(3.0, 2.0, 4.0, "…"), "pp", "fw", b, "lower")
        for b in ("lstm", "alstm")
    ]
    judgment = claim.judge(gaps, {"fw": STILL_FALLING, "lstm": CONVERGED, "alstm": CONVERGED})
    assert judgment.reason == f"not converged: fw ({STILL_FALLING.reason})"


# ---- a cost per update: measured on runs, not moved by training them longer -------------------------------------

FASTER = Claim(
    "faster",
    "Dot-product attention is faster than additive attention.",
    "Sec. 3.2.1",
    primary=Condition("seconds additive / dot", ">", 1.0, "×"),
)


def test_a_quantity_training_does_not_move_is_judged_while_its_runs_still_improve():
    cost = Quantity(
        "seconds additive / dot", intervals.mean([1.7, 1.9, 1.8], over="repetitions"), "×", {"a": 0, "b": 0}
    )
    judgment = FASTER.judge([cost], {"a": STILL_FALLING, "b": [STILL_FALLING] * 3})
    assert judgment.verdict == "reproduced" and "lies above 1" in judgment.reason
    moved = Quantity(cost.name, cost.interval, "×", {"a": +1, "b": -1})  # the same number, but training could move it
    assert FASTER.judge([moved], {"a": STILL_FALLING, "b": STILL_FALLING}).verdict == "inconclusive"


def test_a_run_moves_a_quantity_up_down_or_not_at_all():
    with pytest.raises(ValueError, match=r"each run moves the quantity by \+1, -1 or 0"):
        Quantity("x", intervals.mean([1.0, 2.0]), "×", {"a": 2})
