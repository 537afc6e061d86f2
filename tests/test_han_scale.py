"""How chapter 3's cpu profile was sized: the rule that picks a setting, the patience study, and the profile's
agreement with the stored record."""

import pytest

from attnmem_core.experiments import han as hx
from attnmem_core.experiments import han_scale


def _row(setting, model, accuracy, seconds):
    return {
        **dict(zip(("embedding_dim", "max_sentences", "max_words"), setting)),
        "model": model,
        "best valid accuracy": accuracy,
        "train seconds": seconds,
    }


def test_the_rule_takes_the_cheapest_setting_within_the_tolerance_of_the_largest():
    largest, small, smaller = han_scale.SETTINGS[0], han_scale.SETTINGS[1], han_scale.SETTINGS[3]
    rows = [
        _row(largest, "HN-ATT", 0.82, 20.0),
        _row(largest, "GRU-AVE (flat)", 0.80, 20.0),
        _row(small, "HN-ATT", 0.815, 15.0),  # mean 0.8075: within 0.01 of 0.81
        _row(small, "GRU-AVE (flat)", 0.80, 15.0),
        _row(smaller, "HN-ATT", 0.80, 5.0),  # mean 0.795: too far, however cheap
        _row(smaller, "GRU-AVE (flat)", 0.79, 5.0),
    ]
    assert han_scale.choose(rows) == dict(zip(("embedding_dim", "max_sentences", "max_words"), small))
    slower = [
        {**r, "train seconds": 30.0} if r["max_words"] == small[2] and r["embedding_dim"] == small[0] else r
        for r in rows
    ]
    assert han_scale.choose(slower) == dict(zip(("embedding_dim", "max_sentences", "max_words"), largest))


def test_a_shorter_patience_is_judged_on_the_validation_histories_it_would_have_cut():
    def history(accuracies):
        return [{"step": k, "valid_accuracy": a, "train_seconds": float(k)} for k, a in enumerate(accuracies, 1)]

    late_best = history([0.70, 0.69, 0.68, 0.75, 0.74, 0.73, 0.72])  # patience 2 stops at 3, before the 0.75
    early_best = history([0.70, 0.75, 0.74, 0.73, 0.72])  # patience 2 stops at 4, with its best
    study = han_scale.shorter_patience([late_best, early_best], 2)
    assert study["stopped before their best"] == 1 and study["runs"] == 2
    assert study["points lost, mean"] == pytest.approx(2.5) and study["points lost, most"] == pytest.approx(5.0)
    assert study["share of training seconds"] == pytest.approx((3 / 7 + 4 / 5) / 2, abs=1e-3)


def test_the_cpu_profile_uses_the_recorded_choice_and_a_patience_the_record_measured():
    record = han_scale.calibration()
    cpu = hx.PROFILES["cpu"]
    assert {k: getattr(cpu, k) for k in record["chosen"]} == record["chosen"]
    assert record["chosen"] == han_scale.choose(record["runs"])
    assert cpu.patience == record["patience"]["patience"]
