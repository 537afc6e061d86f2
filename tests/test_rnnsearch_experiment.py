"""The align-and-translate experiments' pieces: the run plan and cache key, and the Figure 2/3 measures."""

import dataclasses

import numpy as np
import pytest
import torch

from attnmem_core import intervals, runs, scoring, translation
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


def test_calibration_holds_both_models_judged_on_validation_only():
    record = tx.calibration()
    models = {row["model"].split("-")[0] for row in record["runs"]}
    assert models == {"RNNsearch", "RNNencdec"} and len(record["commit"]) == 7
    assert not any("test" in key.lower() for row in record["runs"] for key in row)
    gate = record["to_the_gate"]
    assert {row["model"] for row in gate["runs"]} == {"RNNsearch-40", "RNNencdec-40"} and len(gate["commit"]) == 7
    assert all(row["converged"].startswith("yes") and row["best at"] <= row["updates"] for row in gate["runs"])
    assert not any("test" in key.lower() for row in gate["runs"] for key in row)


def test_table1_sets_our_cut_offs_beside_the_papers():
    assert tx.PAPER_TABLE1["RNNsearch-50"] == (26.75, 34.16) and tx.PAPER_TABLE1["RNNencdec-30"] == (13.93, 24.19)


def test_monotonicity_of_hand_made_alignments():
    identity = np.eye(6)  # 5 tokens + <eos>, attending straight along
    assert tx.monotonicity(identity)["tau"] == pytest.approx(1.0)
    assert tx.monotonicity(identity)["backward"] == 0
    swapped = np.eye(6)[[0, 2, 1, 3, 4, 5]]  # the 2nd and 3rd target tokens swap their sources
    shape = tx.monotonicity(swapped)
    assert shape["backward"] == 1 and shape["backward_sizes"] == [1] and 0 < shape["tau"] < 1


def test_the_diagonal_attends_in_proportion_to_the_lengths():
    assert tx.diagonal(3, 5).argmax(1).tolist() == [0, 2, 4] and tx.diagonal(1, 4).argmax(1).tolist() == [0]
    assert (tx.diagonal(4, 7).sum(1) == 1).all()


def test_a_reordered_pair_is_followed_only_by_an_alignment_that_crosses():
    words = np.array([0, 1, 2, 2])  # "the Holy Spi rit": the noun in two pieces
    pair = {"source": (words, 1), "target": (np.array([0, 1, 2]), 1)}  # "el Espíritu Santo"
    crossed = np.array([[1, 0, 0, 0], [0, 0, 0.5, 0.5], [0, 1, 0, 0]], dtype=float)
    assert tx.follows_reordering(crossed, pair)
    assert not tx.follows_reordering(tx.diagonal(3, 4), pair)  # the diagonal reads "Holy" first


def test_reordered_pairs_are_found_on_both_sides_by_their_words(corpus, tmp_path):
    data = tx.prepare(corpus, dataclasses.replace(SMOKE, limit=None, vocabulary=300), "bpe", tmp_path)
    found = tx.reordered_pairs(data)
    assert len(found) >= 10
    for pair in found[:5]:
        (src, k), (tgt, K) = pair["source"], pair["target"]
        source, target = (data.text["test"][side][pair["verse"]] for side in ("source", "target"))
        words = tx.piece_words(data.source_tokenizer.pieces(source))[1]
        assert " ".join(words[k : k + 2]) == pair["phrase"].lower()
        spanish = tx.piece_words(data.target_tokenizer.pieces(target))[1]
        assert " ".join(spanish[K : K + 2]) == tx.REORDERED[pair["phrase"]].lower()
        assert len(src) == len(data.source_tokenizer.encode(source)) and len(tgt) == len(
            data.target_tokenizer.encode(target)
        )


def test_figure3_picks_three_distinct_verses_the_first_with_a_pair_reordered_in_its_reference(corpus, tmp_path):
    data = tx.prepare(corpus, dataclasses.replace(SMOKE, limit=None, vocabulary=300), "bpe", tmp_path)
    reordered = tx.reordered_pairs(data)
    chosen = tx.figure3_verses(data, reordered, long_words=40)
    assert len({i for i, _ in chosen}) == 3
    (first, title), words = chosen[0], data.words("test")
    phrase = title.strip('"')
    assert phrase in data.text["test"].source[first]
    assert tx.REORDERED[phrase] in data.text["test"].target[first]
    # the shortest such verse: an English phrase alone ("right hand" written "tu diestra") does not count
    assert words[first] == min(words[p["verse"]] for p in reordered if words[p["verse"]] >= 6)
    assert words[chosen[2][0]] == pytest.approx(40, abs=3)


def test_one_seeds_relative_bleu_interval_is_a_bootstrap_around_it_and_its_bleu_gap_koehns(corpus, tmp_path):
    data = tx.prepare(corpus, dataclasses.replace(SMOKE, limit=None), "bpe", tmp_path)
    references, words = list(data.text["test"].target), data.source_words("test")
    worse_when_long = [
        " ".join(r.split()[: max(1, len(r.split()) // 2)]) if n >= tx.LONG_FROM else r
        for r, n in zip(references, words)
    ]
    a, b = (
        runs.TrainedRun(tx.RunSpec(model, 30, 0, SMOKE), [], {"hypotheses": h}, {}, 0, 0.0, 0.0, False)
        for model, h in (("RNNsearch", references), ("RNNencdec", worse_when_long))
    )
    assert tx.relative_bleu(a, data) == pytest.approx(1.0) and tx.relative_bleu(b, data) < 0.8
    alone = tx.relative_interval([b], [], data, samples=100)
    assert alone.value == pytest.approx(tx.relative_bleu(b, data)) and alone.low <= alone.value <= alone.high
    gap = tx.relative_interval([a], [b], data, samples=100)
    assert gap.value == pytest.approx(1.0 - tx.relative_bleu(b, data))
    assert gap.low > 0 and gap.method == f"bootstrap over {len(references):,} test verses, 100 resamples, 1 seed"
    assert tx.bleu_gap([a], [b], data) == intervals.from_bootstrap(
        scoring.paired_bootstrap(references, worse_when_long, references, seed=0)
    )


def test_a_run_stops_at_the_gate_and_translates_with_its_best_weights(corpus, tmp_path):
    data = tx.prepare(corpus, SMOKE, "bpe", tmp_path)
    scale = dataclasses.replace(SMOKE, steps=400, eval_every=4, learning_rate=1e-2)
    spec = tx.RunSpec("RNNsearch", scale.long, 0, scale)
    payload = spec.train(data, torch.device("cpu"))
    history = payload["history"]
    assert history[-1]["step"] < scale.steps and tx.CONVERGENCE.judge(history).converged
    assert not tx.CONVERGENCE.judge(history[:-1]).converged  # it stopped at the first evaluation that could
    run = runs.TrainedRun(spec, history, payload["outputs"], payload["state_dict"], 0, 1.0, 0.0, cached=False)
    valid = translation.split_pairs(data, "valid", scale.long)
    kept = translation.perplexity(run.model(data), *valid, "cpu", scale.max_tokens)
    assert kept == pytest.approx(translation.best_perplexity(history), rel=1e-5)
    assert kept < history[-1]["valid_perplexity"] or min(history, key=lambda r: r["valid_perplexity"]) is history[-1]
    assert len(payload["outputs"]["hypotheses"]) == len(data.text["test"])
