"""BLEU for the translation chapters: corpus score, score by sentence length, paired bootstrap test.

- `bleu`: corpus BLEU (Papineni et al. 2002) exactly as `sacrebleu` computes it (Post 2018),
  one reference per sentence, its default 13a tokenizer, mixed case, exponential smoothing,
  with the signature string that says so; hypotheses and references are detokenized text.
- `bleu_by_length`: corpus BLEU of the sentences in each source-length bucket, the analog of
  Bahdanau et al. 2015's Figure 2 (BLEU against sentence length).
- `paired_bootstrap`: Koehn 2004's paired bootstrap resampling test of "system A beats
  system B". sacrebleu's own paired test (`sacrebleu.significance`) takes its seed from the
  environment and reports a two-sided p-value about |A - B| against a baseline, so this module
  makes its own from sacrebleu's per-sentence sufficient statistics (hypothesis and reference
  lengths, n-gram matches and totals): a resample's statistics are a sum of those rows, and
  its BLEU is sacrebleu's `compute_bleu` on the sum, so the full-set score equals
  `corpus_score` exactly. 1,000 resamples of 1,500 sentences take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sacrebleu.metrics import BLEU


def _metric() -> BLEU:
    return BLEU()  # sacrebleu's defaults: tokenize 13a, smooth exp, no lowercasing, 4-grams


def _check(references: Sequence[str], **systems: Sequence[str]) -> None:
    for name, seq in {"references": references, **systems}.items():
        if isinstance(seq, str):
            raise TypeError(f"{name} must be a sequence of sentences, got one string")
    for name, hypotheses in systems.items():
        if len(hypotheses) != len(references):
            raise ValueError(
                f"{len(hypotheses)} {name} but {len(references)} references; they must be aligned one to one"
            )
    if not len(references):
        raise ValueError("no sentences to score")


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU: score (0-100), sacrebleu signature, 1- to 4-gram precisions (%), brevity penalty, lengths."""
    _check(references, hypotheses=hypotheses)
    metric = _metric()
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return {
        "score": result.score,
        "signature": str(metric.get_signature()),
        "precisions": list(result.precisions),
        "brevity_penalty": result.bp,
        "hyp_len": result.sys_len,
        "ref_len": result.ref_len,
    }


def sentence_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """sacrebleu's sufficient statistics, one row per sentence: hyp len, ref len, 4 n-gram matches, 4 n-gram totals."""
    _check(references, hypotheses=hypotheses)
    return np.asarray(_metric()._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=np.int64)


def bleu_from_stats(stats: np.ndarray) -> float:
    """Corpus BLEU from summed sufficient statistics (one row of 10), as sacrebleu's corpus_score computes it."""
    return _metric()._compute_score_from_stats([int(x) for x in stats]).score


def bleu_by_length(
    hypotheses: Sequence[str], references: Sequence[str], lengths: Sequence[int], edges: Sequence[int]
) -> pd.DataFrame:
    """Corpus BLEU per bucket of source length: bucket i holds lengths in [edges[i], edges[i+1]).

    Columns: bucket (a label, "10-19" for lo 10, hi 20), lo, hi, sentences, bleu (NaN for an
    empty bucket). A sentence outside [edges[0], edges[-1]) is an error rather than dropped.
    """
    _check(references, hypotheses=hypotheses, lengths=lengths)
    edges = [int(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be at least two increasing numbers, not {edges}")
    lengths = np.asarray(lengths)
    outside = (lengths < edges[0]) | (lengths >= edges[-1])
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} sentences have source lengths outside [{edges[0]}, {edges[-1]}) "
            f"(e.g. {int(lengths[outside][0])}); widen the edges"
        )
    stats = sentence_stats(hypotheses, references)
    rows = []
    for lo, hi in zip(edges, edges[1:]):
        chosen = (lengths >= lo) & (lengths < hi)
        n = int(chosen.sum())
        rows.append(
            {
                "bucket": f"{lo}-{hi - 1}",
                "lo": lo,
                "hi": hi,
                "sentences": n,
                "bleu": bleu_from_stats(stats[chosen].sum(0)) if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def paired_bootstrap(
    hyp_a: Sequence[str], hyp_b: Sequence[str], references: Sequence[str], samples: int = 1000, seed: int = 0
) -> dict:
    """Koehn 2004's paired bootstrap test that system A beats system B in BLEU.

    Each of `samples` resamples draws len(references) sentence indices with replacement (the
    same for both systems). Returns bleu_a, bleu_b, delta (A - B on the full set), ci_low and
    ci_high (the 2.5 and 97.5 percentiles of the resampled deltas), p_value (the share of
    resamples in which A does not beat B, i.e. delta <= 0), samples and seed.
    """
    _check(references, hyp_a=hyp_a, hyp_b=hyp_b)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    stats_a, stats_b = sentence_stats(hyp_a, references), sentence_stats(hyp_b, references)
    n = len(references)
    rng = np.random.default_rng(seed)
    # counts[s, i]: how often resample s drew sentence i; the resample's statistics are counts @ stats
    drawn = rng.integers(0, n, size=(samples, n)) + n * np.arange(samples)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=samples * n).reshape(samples, n)
    sums_a, sums_b = counts @ stats_a, counts @ stats_b
    deltas = np.array([bleu_from_stats(a) - bleu_from_stats(b) for a, b in zip(sums_a, sums_b)])
    bleu_a, bleu_b = bleu_from_stats(stats_a.sum(0)), bleu_from_stats(stats_b.sum(0))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {
        "bleu_a": bleu_a,
        "bleu_b": bleu_b,
        "delta": bleu_a - bleu_b,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(np.mean(deltas <= 0)),
        "samples": samples,
        "seed": seed,
    }
