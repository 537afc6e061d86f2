import random
import subprocess
import sys

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from attnmem_core.scoring import bleu, bleu_by_length, bleu_from_stats, paired_bootstrap, sentence_stats

WORDS = (
    "el la los de y que en a por con su dijo Dios Señor pueblo tierra casa hijo padre rey día agua pan "
    "camino corazón profeta ciudad él así entonces todos hombres mujer palabra"
).split()


def references(n, seed=0):
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))).capitalize() + rng.choice([".", "?", "!"])
        for _ in range(n)
    ]


def noisy(sentences, rate, seed):
    """Each word replaced by a random one with probability `rate`."""
    rng = random.Random(seed)
    return [" ".join(w if rng.random() > rate else rng.choice(WORDS) for w in s.split()) for s in sentences]


def test_bleu_matches_sacrebleu_and_reports_its_parts():
    refs = references(200)
    hyps = noisy(refs, 0.3, 1)
    ours = bleu(hyps, refs)
    theirs = BLEU().corpus_score(hyps, [refs])
    assert ours["score"] == theirs.score
    assert ours["precisions"] == theirs.precisions and ours["brevity_penalty"] == theirs.bp
    assert ours["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert bleu(refs, refs)["score"] == pytest.approx(100)


def test_bleu_equals_the_sacrebleu_command_line(tmp_path):
    refs = references(300, seed=3)
    hyps = noisy(refs, 0.25, 4)
    hyps[5] = "¿Qué? ¡Nada!, dijo él (y 3.000 más)."
    (tmp_path / "ref.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "sacrebleu",
        str(tmp_path / "ref.txt"),
        "-i",
        str(tmp_path / "hyp.txt"),
        "-b",
        "-w",
        "4",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert round(bleu(hyps, refs)["score"], 2) == round(float(done.stdout.strip()), 2)


def test_bleu_rejects_misaligned_input():
    with pytest.raises(ValueError, match="aligned"):
        bleu(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="one string"):
        bleu("a b", "a b")


def test_bleu_from_stats_equals_corpus_score_exactly():
    refs = references(500, seed=5)
    hyps = noisy(refs, 0.4, 6)
    stats = sentence_stats(hyps, refs)
    assert stats.shape == (500, 10)
    assert bleu_from_stats(stats.sum(0)) == BLEU().corpus_score(hyps, [refs]).score


def test_bleu_by_length_buckets():
    refs = references(300, seed=7)
    hyps = noisy(refs, 0.3, 8)
    lengths = [len(r.split()) for r in refs]
    table = bleu_by_length(hyps, refs, lengths, [0, 10, 20, 31, 100])
    assert list(table["bucket"]) == ["0-9", "10-19", "20-30", "31-99"]
    assert table["sentences"].sum() == 300 and table["sentences"].iloc[-1] == 0
    assert np.isnan(table["bleu"].iloc[-1])
    short = [i for i, n in enumerate(lengths) if n < 10]
    assert table["bleu"].iloc[0] == bleu([hyps[i] for i in short], [refs[i] for i in short])["score"]
    with pytest.raises(ValueError, match="widen the edges"):
        bleu_by_length(hyps, refs, lengths, [5, 20])
    with pytest.raises(ValueError, match="increasing"):
        bleu_by_length(hyps, refs, lengths, [10, 0])


def test_paired_bootstrap_finds_the_better_system_deterministically():
    refs = references(1500, seed=9)
    better, worse = noisy(refs, 0.2, 10), noisy(refs, 0.35, 11)
    result = paired_bootstrap(better, worse, refs, samples=1000, seed=1)
    assert result["bleu_a"] == bleu(better, refs)["score"] and result["bleu_b"] == bleu(worse, refs)["score"]
    assert result["delta"] > 0 and result["ci_low"] > 0 and result["ci_low"] < result["delta"] < result["ci_high"]
    assert result["p_value"] < 0.05
    assert paired_bootstrap(better, worse, refs, samples=1000, seed=1) == result
    assert paired_bootstrap(worse, better, refs, samples=200, seed=1)["p_value"] > 0.95


def test_paired_bootstrap_identical_systems_is_not_significant():
    refs = references(300, seed=12)
    hyps = noisy(refs, 0.3, 13)
    result = paired_bootstrap(hyps, list(hyps), refs, samples=200, seed=0)
    assert result["delta"] == 0 and result["ci_low"] == result["ci_high"] == 0
    assert result["p_value"] == 1.0


def test_paired_bootstrap_seed_changes_resamples_not_full_set_scores():
    refs = references(200, seed=14)
    a, b = noisy(refs, 0.3, 15), noisy(refs, 0.32, 16)
    one, two = paired_bootstrap(a, b, refs, samples=300, seed=1), paired_bootstrap(a, b, refs, samples=300, seed=2)
    assert one["delta"] == two["delta"] and (one["ci_low"], one["ci_high"]) != (two["ci_low"], two["ci_high"])
