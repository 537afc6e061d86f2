from attnmem_core.claims import Claim, Condition
from attnmem_core.tables import claims_table, mean_spread


def test_mean_spread_formats_one_or_several_seeds():
    assert mean_spread([0.0181], scale=100) == "1.81"
    assert mean_spread([1.0, 3.0]) == "2.00 ± 1.41"


def test_claims_table_shows_rule_numbers_and_computed_verdict():
    c = Claim("fw-r20", "FW solves R=20", "1.81%", [Condition("fw@20", "<", 0.05)])
    c.judge({"fw@20": [0.5]})
    row = claims_table([c]).loc["fw-r20"]
    assert row["verdict"] == "not reproduced" and row["rule (fixed before the run)"] == "fw@20 < 0.05"
    assert row["ours"] == "fw@20 = 0.5000" and row["paper"] == "1.81%"
