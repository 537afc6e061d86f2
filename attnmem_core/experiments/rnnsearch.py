"""The align-and-translate experiments (Bahdanau et al. 2015, Sec. 4–5) on English→Spanish verses.

The paper trains RNNencdec and RNNsearch twice: on sentence pairs of at most 30 words and
of at most 50 words (-30, -50), and tests on all test sentences. We keep that design with
cut-offs scaled to verses (`Scale.short`, `Scale.long`, counted in words on both sides).

The task itself (tokenized corpus, loss, perplexity, decoding) is `attnmem_core.translation`.
A `RunSpec` is one model from one seed at one cut-off; `runs.run_all` trains it or reads it
from the trained-model cache, and it translates the test set once trained. Chapters 4 and 5
plan the same specs and get the cached baselines back. The rest turns runs into the paper's
Table 1, Figure 2 and Figure 3 analogs, and into the claims' quantities: BLEU gaps and slopes
with intervals (over seeds, or over the test verses of one seed) and each run's convergence.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from attnmem_core import claims, convergence, intervals, runs, scoring, tables, translation
from attnmem_core.data import pairs, subwords
from attnmem_core.models import rnnsearch
from attnmem_core.runtime import autocast_dtype, seed_everything
from attnmem_core.training import train

# Bahdanau et al. 2015, Table 1: WMT'14 En→Fr test BLEU, all sentences / sentences without UNK.
PAPER_TABLE1 = {
    "RNNencdec-30": (13.93, 24.19),
    "RNNsearch-30": (21.50, 31.44),
    "RNNencdec-50": (17.82, 26.71),
    "RNNsearch-50": (26.75, 34.16),
    "RNNsearch-50*": (28.45, 36.15),
    "Moses": (33.30, 35.63),
}
MODELS = tuple(rnnsearch.MODELS)
# A run has converged when its validation perplexity stopped falling over the last half of its updates.
CONVERGENCE = convergence.Rule("valid_perplexity", "min")


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper: embeddings 620, GRUs of 1000, alignment 1000, maxout 500, 30k-word
    shortlists, batches of 80 sentences, Adadelta, gradient norm clipped at 1, beam search."""

    steps: int
    seeds: tuple[int, ...]
    workers: int
    short: int  # the "-30" cut-off, in words
    long: int  # the "-50" cut-off, in words
    vocabulary: int = 4000  # per language: BPE merges' vocabulary, or the word shortlist
    embedding: int = 128
    hidden: int = 256
    alignment: int = 256
    maxout: int = 128
    max_tokens: int = 2000  # padded tokens per batch
    learning_rate: float = 1e-3  # Adam: converges in the updates a laptop allows
    clip_norm: float = 1.0
    beam: int = 5
    alpha: float = 1.0  # length normalisation in the beam's final choice
    eval_every: int = 0  # 0: validation only after the last step
    limit: int | None = None  # smoke: the first pairs of each split only
    bf16: bool = False  # autocast on CUDA


PROFILES = {
    "smoke": Scale(
        steps=4,
        seeds=(0,),
        workers=1,
        short=15,
        long=30,
        vocabulary=300,
        embedding=16,
        hidden=16,
        alignment=16,
        maxout=8,
        max_tokens=600,
        beam=2,
        limit=200,
    ),
    # calibrated on 2 cores: small batches and a high learning rate learn most in a laptop's minutes
    "cpu": Scale(
        steps=2000,
        seeds=(0,),
        workers=2,
        short=25,
        long=40,
        embedding=96,
        hidden=128,
        alignment=128,
        maxout=96,
        max_tokens=800,
        learning_rate=3e-3,
        eval_every=500,
    ),
    "gpu": Scale(
        steps=8000,
        seeds=(0, 1),
        workers=4,
        short=25,
        long=40,
        vocabulary=8000,
        embedding=620,
        hidden=1000,
        alignment=1000,
        maxout=500,
        max_tokens=2000,
        eval_every=1000,
        bf16=True,
    ),
}


def prepare(corpus, scale: Scale, tokenization: str, data_dir) -> translation.Prepared:
    """The corpus tokenized as this chapter's profile asks (its vocabulary and, in smoke, its limit)."""
    return translation.prepare(
        corpus, tokenization=tokenization, vocabulary=scale.vocabulary, data_dir=data_dir, limit=scale.limit
    )


# ---- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One translator from one seed, trained on the pairs of at most `cutoff` words, then translating the test set."""

    model: str
    cutoff: int
    seed: int
    scale: Scale

    @property
    def label(self) -> str:
        return f"{self.model}-{self.cutoff}"

    def cache_key(self, data: translation.Prepared, device: torch.device) -> dict:
        return {
            "model": self.model,
            "cutoff": self.cutoff,
            "seed": self.seed,
            "scale": asdict(self.scale),
            **data.identity(),
            "device": device.type,
        }

    def build(self, data: translation.Prepared) -> nn.Module:
        options = dict(embedding=self.scale.embedding, hidden=self.scale.hidden, maxout=self.scale.maxout)
        if self.model == "RNNsearch":
            options["alignment"] = self.scale.alignment
        return rnnsearch.MODELS[self.model](*data.vocabularies(), **options)

    def cost(self) -> float:
        return self.cutoff * (3 if self.model == "RNNsearch" else 1)

    def train(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = self.scale
        seed_everything(self.seed)
        model = self.build(data).to(device)
        valid = translation.split_pairs(data, "valid", self.cutoff)
        autocast = autocast_dtype(device, scale.bf16)
        history = train(
            model,
            translation.training_batches(data, self.cutoff, scale.max_tokens, self.seed),
            steps=scale.steps,
            optimizer=torch.optim.Adam(model.parameters(), lr=scale.learning_rate),
            loss_fn=translation.sequence_loss,
            device=device,
            clip_norm=scale.clip_norm,
            eval_every=scale.eval_every,
            autocast=autocast,
            evaluate=lambda: {"valid_perplexity": translation.perplexity(model, *valid, device, scale.max_tokens)},
            desc=self.label,
            progress=False,
        )
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            hypotheses = translation.translate_ids(model, data, "test", device, beam=scale.beam, alpha=scale.alpha)
        outputs = {
            "train_pairs": len(translation.within(data, "train", self.cutoff)),
            "hypothesis_ids": hypotheses,
            "hypotheses": [data.target_tokenizer.decode(h) for h in hypotheses],
        }
        return runs.payload(model, history, outputs, time.perf_counter() - start)


def plan(scale: Scale, seeds: list[int], steps: int) -> list[RunSpec]:
    """Both models × both cut-offs × seeds."""
    scale = replace(scale, steps=steps)
    return [
        RunSpec(m, c, s, scale) for c in (scale.long, scale.short) for m in ("RNNsearch", "RNNencdec") for s in seeds
    ]


# ---- Table 1 and Figure 2: BLEU, overall and by sentence length -------------------------------


def bleu_on_test(run: runs.TrainedRun, data: translation.Prepared) -> float:
    """sacreBLEU of a run's test translations."""
    return scoring.bleu(run.outputs["hypotheses"], list(data.text["test"].target))["score"]


def table1(results: list[runs.TrainedRun], data: translation.Prepared, peers: dict[str, dict]) -> pd.DataFrame:
    """Test BLEU per model (mean ± spread over seeds) beside the paper's, then peer systems' rows."""
    rows = []
    for label in dict.fromkeys(r.spec.label for r in results):
        same = [r for r in results if r.spec.label == label]
        spec = same[0].spec
        paper = PAPER_TABLE1[label.replace(f"-{spec.scale.short}", "-30").replace(f"-{spec.scale.long}", "-50")]
        rows.append(
            {
                "model": label,
                "trained on": f"≤ {spec.cutoff} words ({same[0].outputs['train_pairs']:,} pairs)",
                "parameters": f"{same[0].parameters / 1e6:.1f} M",
                "BLEU (ours)": tables.mean_spread([bleu_on_test(r, data) for r in same]),
                "BLEU (paper, all / no UNK)": f"{paper[0]} / {paper[1]}",
                "valid perplexity": tables.mean_spread([r.final["valid_perplexity"] for r in same]),
                "train minutes": tables.mean_spread([r.train_seconds / 60 for r in same], digits=1),
            }
        )
    for name, peer in peers.items():
        rows.append(
            {
                "model": name,
                "trained on": peer.get("trained on", "—"),
                "parameters": "—",
                "BLEU (ours)": peer["bleu"],
                "BLEU (paper, all / no UNK)": "—",
                "valid perplexity": "—",
                "train minutes": "—",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def by_length(results: list[runs.TrainedRun], data: translation.Prepared, edges: list[int]) -> pd.DataFrame:
    """BLEU per source-length bucket (words), one row per model and bucket, seeds pooled by mean."""
    references, lengths = list(data.text["test"].target), data.words("test")
    frames = []
    for r in results:
        frame = scoring.bleu_by_length(r.outputs["hypotheses"], references, lengths, edges)
        frames.append(frame.assign(model=r.spec.label, seed=r.spec.seed))
    frame = pd.concat(frames)
    return frame.groupby(["model", "bucket", "lo", "hi"], sort=False, as_index=False).agg(
        sentences=("sentences", "first"), bleu=("bleu", "mean")
    )


def slope(frame: pd.DataFrame, model: str) -> float:
    """BLEU change per 10 more words: least squares over the buckets' midpoints, weighted by their sentences."""
    rows = frame[(frame.model == model) & (frame.sentences > 0)]
    midpoints = (rows.lo + rows.hi - 1) / 2
    return float(np.polyfit(midpoints, rows.bleu, 1, w=np.sqrt(rows.sentences))[0] * 10)


def bleu_gap(a: list[runs.TrainedRun], b: list[runs.TrainedRun], data: translation.Prepared) -> intervals.Interval:
    """Test BLEU of a − b: Welch's t over seeds, or Koehn's paired bootstrap over the test verses with one seed each."""
    if len(a) == 1 and len(b) == 1:
        references = list(data.text["test"].target)
        return intervals.from_bootstrap(
            scoring.paired_bootstrap(
                a[0].outputs["hypotheses"], b[0].outputs["hypotheses"], references, seed=a[0].spec.seed
            )
        )
    return intervals.difference([bleu_on_test(r, data) for r in a], [bleu_on_test(r, data) for r in b])


def slope_interval(
    a: list[runs.TrainedRun],
    b: list[runs.TrainedRun],
    data: translation.Prepared,
    edges: list[int],
    samples: int = 1000,
) -> intervals.Interval:
    """slope(a) − slope(b), or slope(a) alone when b is empty: Welch's t (Student's) over seeds' slopes with several
    seeds, or with one seed each a percentile bootstrap over the test verses, the same resamples for both."""

    def slopes(runs_):
        return [slope(by_length([r], data, edges), r.spec.label) for r in runs_]

    if len(a) > 1 or len(b) > 1:
        return intervals.difference(slopes(a), slopes(b)) if b else intervals.mean(slopes(a))
    references, lengths = list(data.text["test"].target), np.asarray(data.words("test"))
    bucket = np.digitize(lengths, edges) - 1
    midpoints = np.array([(lo + hi - 1) / 2 for lo, hi in zip(edges, edges[1:])])
    rng = np.random.default_rng(a[0].spec.seed)
    counts = [np.bincount(rng.integers(0, len(lengths), len(lengths)), minlength=len(lengths)) for _ in range(samples)]

    def resampled(run):
        stats_ = scoring.sentence_stats(run.outputs["hypotheses"], references)
        return np.array([_slope(midpoints, bucket, stats_, weights) for weights in [np.ones(len(lengths)), *counts]])

    values = resampled(a[0]) - (resampled(b[0]) if b else 0.0)
    low, high = np.percentile(values[1:], [2.5, 97.5])
    return intervals.Interval(
        float(values[0]),
        float(low),
        float(high),
        f"bootstrap over {len(lengths):,} test verses, {samples:,} resamples, 1 seed",
    )


def _slope(midpoints: np.ndarray, bucket: np.ndarray, stats_: np.ndarray, weights: np.ndarray) -> float:
    """`slope` of one (re)sample: each verse counted `weights` times."""
    sentences = np.bincount(bucket, weights=weights, minlength=len(midpoints))
    bleu = np.array(
        [
            scoring.bleu_from_stats((weights[bucket == k, None] * stats_[bucket == k]).sum(0))
            if sentences[k]
            else np.nan
            for k in range(len(midpoints))
        ]
    )
    kept = sentences > 0
    return float(np.polyfit(midpoints[kept], bleu[kept], 1, w=np.sqrt(sentences[kept]))[0] * 10)


def convergence_states(results: list[runs.TrainedRun]) -> dict[str, list[convergence.Convergence]]:
    """'RNNsearch-40' and the like → CONVERGENCE's answer for each of its runs (one per seed)."""
    return convergence.by_run(CONVERGENCE, ((r.spec.label, r.history) for r in results))


def quantities(
    results: list[runs.TrainedRun],
    data: translation.Prepared,
    edges: list[int],
    short: int,
    long: int,
    taus: list[float],
    backward_jumps: list[int],
) -> list[claims.Quantity]:
    """The claims' numbers: BLEU gaps (`bleu_gap`) of RNNsearch over RNNencdec, the slopes of RNNsearch-`long` and
    RNNencdec-`long` and their difference (`slope_interval`; a higher slope is taken for more training's way), and
    RNNsearch-`long`'s alignments: mean τ over the test verses (Student's t) and the median backward jump
    (bootstrap over the jumps)."""
    by_label: dict[str, list[runs.TrainedRun]] = {}
    for r in sorted(results, key=lambda r: r.spec.seed):
        by_label.setdefault(r.spec.label, []).append(r)
    S, L, ES, EL = f"RNNsearch-{short}", f"RNNsearch-{long}", f"RNNencdec-{short}", f"RNNencdec-{long}"
    measured = [
        claims.between(f"{a} − {b} BLEU", bleu_gap(by_label[a], by_label[b], data), "BLEU", a, b, "higher")
        for a, b in ((L, EL), (S, ES), (S, EL))
    ]
    unit = "BLEU per 10 words"
    measured.append(
        claims.between(
            f"slope {L} − slope {EL}", slope_interval(by_label[L], by_label[EL], data, edges), unit, L, EL, "higher"
        )
    )
    measured += [
        claims.of_model(f"slope {label}", slope_interval(by_label[label], [], data, edges), unit, label, "higher")
        for label in (L, EL)
    ]
    tau = (
        intervals.mean(taus, over="test verses")
        if taus
        else intervals.Interval(np.nan, np.nan, np.nan, "no test verse has two distinct peaks, so none has a τ")
    )
    measured.append(claims.of_model("mean τ", tau, "τ", L, "higher"))
    jumps = (
        intervals.percentile_bootstrap(backward_jumps, np.median, "backward jumps")
        if backward_jumps
        else (intervals.Interval(0.0, 0.0, 0.0, "no backward jump"))
    )
    measured.append(claims.of_model("median backward jump", jumps, "tokens", L, "lower"))
    return measured


# ---- Figure 3: alignments ---------------------------------------------------------------------


@torch.no_grad()
def alignments(
    model: nn.Module, data: translation.Prepared, hypothesis_ids: list[list[int]], index, batch_size: int = 64
):
    """α (Ty, Tx) of the model on its own translations of test sentences `index`, <eos> rows and columns included."""
    out = []
    for start in range(0, len(index), batch_size):
        chunk = list(index[start : start + batch_size])
        x = pairs.pad([data.ids["test"][0][i] + [subwords.EOS] for i in chunk], subwords.PAD)
        y = pairs.pad([[subwords.BOS] + hypothesis_ids[i] for i in chunk], subwords.PAD)
        α = model.align(x, y)[1]
        out += [
            α[row, : len(hypothesis_ids[i]) + 1, : len(data.ids["test"][0][i]) + 1].numpy()
            for row, i in enumerate(chunk)
        ]
    return out


def monotonicity(alignment: np.ndarray) -> dict:
    """How monotonic one alignment is, over the real tokens (no <eos>): Kendall's τ between each target
    position and the source position it attends to most, and the backward jumps of that position."""
    peaks = alignment[:-1, :-1].argmax(-1) if alignment.shape[0] > 2 else np.array([])
    jumps = np.diff(peaks)
    tau = stats.kendalltau(np.arange(len(peaks)), peaks).statistic if len(set(peaks)) > 1 else float("nan")
    return {
        "tau": tau,
        "steps": len(jumps),
        "backward": int((jumps < 0).sum()),
        "backward_sizes": (-jumps[jumps < 0]).tolist(),
    }


# English adjective–noun phrases that Spanish writes noun first ("vida eterna", "Espíritu Santo", ...):
# the reorderings the paper's Figure 3 shows for French.
REORDERED = (
    "Holy Spirit",
    "eternal life",
    "living God",
    "unclean spirit",
    "evil spirit",
    "great nation",
    "precious stones",
)


def figure3_verses(data: translation.Prepared, long_words: int = 30) -> list[tuple[int, str]]:
    """Three test verses: the shortest (of 6 words or more) with a phrase from REORDERED, the first of 8–12 words,
    and the one whose length is nearest to `long_words`."""
    source, words = data.text["test"].source, data.words("test")
    chosen = []
    for i in np.argsort(words, kind="stable"):
        phrase = next((p for p in REORDERED if p in source[i]), None)
        if phrase and words[i] >= 6:
            chosen.append((int(i), f'"{phrase}"'))
            break
    short = next(i for i in range(len(words)) if 8 <= words[i] <= 12 and all(i != c for c, _ in chosen))
    chosen.append((short, f"{words[short]} words"))
    far = np.abs(words - long_words).astype(float)
    far[[c for c, _ in chosen]] = np.inf
    chosen.append((int(far.argmin()), f"{words[far.argmin()]} words"))
    return chosen
