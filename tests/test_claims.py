import math

import pytest

from attnmem_core.claims import Claim, Condition


def claim(*conditions):
    return Claim("c", "statement", "1.81%", list(conditions))


def test_all_conditions_hold_is_reproduced():
    c = claim(Condition("fw", "<", 0.05), Condition("lstm", ">", "fw"))
    assert c.judge({"fw": [0.01, 0.02], "lstm": [0.5, 0.6]}) == "reproduced"


def test_some_hold_is_partially_none_hold_is_not_reproduced():
    c = claim(Condition("fw", "<", 0.05), Condition("lstm", ">", 0.2))
    assert c.judge({"fw": [0.01], "lstm": [0.1]}) == "partially"
    assert c.judge({"fw": [0.5], "lstm": [0.1]}) == "not reproduced"


def test_seeds_that_disagree_make_it_inconclusive():
    c = claim(Condition("fw", "<", 0.05))
    assert c.judge({"fw": [0.01, 0.09]}) == "inconclusive"


def test_missing_or_nan_numbers_are_inconclusive():
    c = claim(Condition("fw", "<", "lstm"))
    assert c.judge({"fw": [0.01]}) == "inconclusive"
    assert c.judge({"fw": [math.nan], "lstm": [0.3]}) == "inconclusive"


def test_quantities_compare_seed_by_seed_with_a_margin():
    c = claim(Condition("fw", "<=", "lstm", margin=0.01))
    assert c.judge({"fw": [0.10, 0.20], "lstm": [0.095, 0.30]}) == "reproduced"
    assert c.judge({"fw": [0.10, 0.20], "lstm": [0.05, 0.10]}) == "not reproduced"
    with pytest.raises(ValueError, match="pair them by seed"):
        c.judge({"fw": [0.1, 0.2], "lstm": [0.1, 0.2, 0.3]})


def test_unknown_operator_rejected():
    with pytest.raises(ValueError, match="choose one of"):
        Condition("a", "==", 1)


def test_to_dict_records_rule_numbers_and_verdict():
    c = claim(Condition("fw", "<", 0.05))
    c.judge({"fw": [0.01]})
    d = c.to_dict()
    assert d["rule"] == "fw < 0.05" and d["measured"] == {"fw": [0.01]} and d["verdict"] == "reproduced"
