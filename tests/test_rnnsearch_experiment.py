"""The align-and-translate experiments' pieces: the run plan and cache key, and the Figure 2/3 measures."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from attnmem_core import intervals, runs, scoring
from attnmem_core.data import bible
from attnmem_core.experiments import rnnsearch as tx
from attnmem_core.runner import REPO

SMOKE = tx.PROFILES["smoke"]


@pytest.fixture(scope="module")
def corpus():
    return bible.load(REPO / "data" / "cache")


def test_plan_runs_the_dearest_first_and_keys_cover_what_decides_the_weights(corpus, tmp_path):
    plan = tx.plan(SMOKE, [0, 1], steps=7)
    assert [r.label for r in plan[:2]] == [f"RNNsearch-{SMOKE.long}"] * 2 and plan[
        -1
    ].label == f"RNNencdec-{SMOKE.short}"
    assert all(r.scale.steps == 7 for r in plan) and len(plan) == 8
    data = tx.prepare(corpus, SMOKE, "bpe", tmp_path)
    keys = {str(r.cache_key(data, torch.device("cpu"))) for r in plan}
    assert len(keys) == len(plan)


def test_table1_sets_our_cut_offs_beside_the_papers():
    assert tx.PAPER_TABLE1["RNNsearch-50"] == (26.75, 34.16) and tx.PAPER_TABLE1["RNNencdec-30"] == (13.93, 24.19)


def test_monotonicity_of_hand_made_alignments():
    identity = np.eye(6)  # 5 tokens + <eos>, attending straight along
    assert tx.monotonicity(identity)["tau"] == pytest.approx(1.0)
    assert tx.monotonicity(identity)["backward"] == 0
    swapped = np.eye(6)[[0, 2, 1, 3, 4, 5]]  # the 2nd and 3rd target tokens swap their sources
    shape = tx.monotonicity(swapped)
    assert shape["backward"] == 1 and shape["backward_sizes"] == [1] and 0 < shape["tau"] < 1


def test_slope_is_bleu_per_ten_words_weighted_by_bucket_size():
    frame = pd.DataFrame(
        {"model": "m", "lo": [1, 11, 21], "hi": [11, 21, 31], "sentences": [10, 10, 0], "bleu": [20.0, 18.0, np.nan]}
    )
    assert tx.slope(frame, "m") == pytest.approx(-2.0)  # the empty bucket is left out


def test_figure3_picks_three_distinct_verses_the_first_with_a_reordered_phrase(corpus, tmp_path):
    data = tx.prepare(corpus, dataclasses.replace(SMOKE, limit=None, vocabulary=300), "bpe", tmp_path)
    chosen = tx.figure3_verses(data, long_words=40)
    assert len({i for i, _ in chosen}) == 3
    first = data.text["test"].source[chosen[0][0]]
    assert any(phrase in first for phrase in tx.REORDERED)
    assert data.words("test")[chosen[2][0]] == pytest.approx(40, abs=3)


def test_one_seeds_slope_interval_is_a_bootstrap_around_figure_2s_slope_and_its_bleu_gap_koehns(corpus, tmp_path):
    data = tx.prepare(corpus, SMOKE, "bpe", tmp_path)
    references, words = list(data.text["test"].target), data.words("test")
    worse_when_long = [
        " ".join(r.split()[: max(1, len(r.split()) // 2)]) if n > 15 else r for r, n in zip(references, words)
    ]
    a, b = (
        runs.TrainedRun(tx.RunSpec(model, 30, 0, SMOKE), [], {"hypotheses": h}, {}, 0, 0.0, 0.0, False)
        for model, h in (("RNNsearch", references), ("RNNencdec", worse_when_long))
    )
    edges = [1, 10, 20, 1000]
    both = tx.by_length([a, b], data, edges)
    alone = tx.slope_interval([a], [], data, edges, samples=200)
    assert alone.value == pytest.approx(tx.slope(both, "RNNsearch-30")) and alone.low <= alone.value <= alone.high
    gap = tx.slope_interval([a], [b], data, edges, samples=200)
    assert gap.value == pytest.approx(tx.slope(both, "RNNsearch-30") - tx.slope(both, "RNNencdec-30"))
    assert gap.low > 0 and gap.method == f"bootstrap over {len(references):,} test verses, 200 resamples, 1 seed"
    assert tx.bleu_gap([a], [b], data) == intervals.from_bootstrap(
        scoring.paired_bootstrap(references, worse_when_long, references, seed=0)
    )
