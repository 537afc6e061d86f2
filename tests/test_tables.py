from attnmem_core import claims, intervals
from attnmem_core.convergence import Convergence
from attnmem_core.tables import mean_spread, rules_table, verdict_table


def test_mean_spread_formats_one_or_several_seeds():
    assert mean_spread([0.0181], scale=100) == "1.81"
    assert mean_spread([1.0, 3.0]) == "2.00 ± 1.41"
    assert mean_spread([-0.001]) == "0.00" and mean_spread([-0.004, 0.001]) == "0.00 ± 0.00"  # no "-0.00"


def test_mean_spread_leaves_out_runs_with_nothing_to_measure_and_says_so():
    nan = float("nan")
    assert mean_spread([1.0, nan, 3.0]) == "2.00 ± 1.41 (2 of 3 runs)"
    assert mean_spread([nan, 0.5], scale=100, digits=1) == "50.0 (1 of 2 runs)"
    assert mean_spread([nan, nan]) == "—"


def judged(claim: claims.Claim, fw_error: list[float], convergence) -> claims.Judgment:
    q = claims.of_model("fw@20 error", intervals.mean(fw_error), "%", "fw@20", "lower")
    return claim.judge([q], {"fw@20": convergence})


FW_R20 = claims.Claim("fw-r20", "FW solves R=20", "1.81%", primary=claims.Condition("fw@20 error", "<", 5.0, "%"))
LATE = Convergence(False, "valid_error fell 44% over the last half of its 2,000 updates", 2000, 0.44)
DONE = Convergence(True, "valid_error did not improve over the last half of its 30,000 updates", 30000, 0)


def test_verdict_table_shows_primary_effect_interval_convergence_reason_and_verdict():
    row = verdict_table([judged(FW_R20, [22.1, 23.0, 22.7], [DONE, LATE, DONE])]).loc["fw-r20"]
    assert row["primary effect, rule (fixed before the run)"] == "fw@20 error < 5 %"
    assert row["ours (95 % interval)"].startswith("22.60 % (21.") and row["ours (95 % interval)"].endswith(
        "t over seeds, 3 seeds)"
    )
    assert row["convergence"] == "fw@20: 2 of 3 converged" and row["verdict"] == "inconclusive"
    assert row["reason"] == f"not converged: fw@20 (1 of 3 runs: {LATE.reason})"


def test_a_revised_rule_keeps_its_first_form_and_loses_fixed_before_the_run():
    revised = claims.Claim(
        **{
            **vars(FW_R20),
            "id": "fw-r20-revised",
            "revision": claims.Revision("fw@20 error < 2 %", "2 % sat below our test noise"),
        }
    )
    table = verdict_table([judged(FW_R20, [1.2, 1.0, 1.4], DONE), judged(revised, [1.2, 1.0, 1.4], DONE)])
    assert "primary effect" in table.columns and not any("fixed before" in c for c in table.columns)
    assert table.loc["fw-r20", "revised"] == "no: fixed before the run"
    assert table.loc["fw-r20-revised", "revised"] == "first: fw@20 error < 2 %; why: 2 % sat below our test noise"
    assert list(rules_table([FW_R20]).columns) == [
        "the paper says",
        "paper",
        "primary effect, rule (fixed before the run)",
        "supporting",
        "illustrations (not judged)",
    ]
    assert "revised" in rules_table([FW_R20, revised]).columns
