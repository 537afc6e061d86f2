"""The align-and-translate experiments (Bahdanau et al. 2015, Sec. 4–5) on English→Spanish verses.

The paper trains RNNencdec and RNNsearch twice: on sentence pairs of at most 30 words and
of at most 50 words (-30, -50), and tests on all test sentences. We keep that design with
cut-offs scaled to verses (`Scale.short`, `Scale.long`, counted in words on both sides).

The task itself (tokenized corpus, loss, perplexity, decoding) is `attnmem_core.translation`.
A `RunSpec` is one model from one seed at one cut-off; `runs.run_all` trains it or reads it
from the trained-model cache. It trains until the convergence gate says it has converged or its
profile's cap of updates, then translates the test set with its weights of best validation perplexity. Chapters 4 and 5
plan the same specs and get the cached baselines back. The rest turns runs into the paper's
Table 1, Figure 2 and Figure 3 analogs, and into the claims' quantities: BLEU gaps and slopes
with intervals (over seeds, or over the test verses of one seed) and each run's convergence.
"""

from __future__ import annotations

import json
import string
import time
from dataclasses import asdict, dataclass, replace
from importlib import resources

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

    steps: int  # at most; a run ends sooner when the convergence gate says it has converged
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
        eval_every=250,
    ),
    "gpu": Scale(
        steps=20000,
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
        best = translation.BestWeights(model)
        autocast = autocast_dtype(device, scale.bf16)
        history = train(
            model,
            translation.training_batches(data, self.cutoff, scale.max_tokens, self.seed),
            steps=scale.steps,
            optimizer=torch.optim.Adam(model.parameters(), lr=scale.learning_rate, fused=True),  # one kernel per update
            loss_fn=translation.sequence_loss,
            device=device,
            clip_norm=scale.clip_norm,
            eval_every=scale.eval_every,
            autocast=autocast,
            evaluate=lambda: best.keep(
                {"valid_perplexity": translation.perplexity(model, *valid, device, scale.max_tokens)}
            ),
            stop=lambda rows: CONVERGENCE.judge(rows).converged,  # `steps` is a cap: the gate ends a run sooner
            desc=self.label,
            progress=False,
        )
        best.restore()  # the weights at the best validation perplexity translate the test set
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            hypotheses = translation.translate_ids(model, data, "test", device, beam=scale.beam, alpha=scale.alpha)
        outputs = {
            "train_pairs": len(translation.within(data, "train", self.cutoff)),
            "hypothesis_ids": hypotheses,
            "hypotheses": [data.target_tokenizer.decode(h) for h in hypotheses],
        }
        return runs.payload(model, history, outputs, time.perf_counter() - start)


def calibration() -> dict:
    """The runs that chose the `cpu` profile's settings, both models by one procedure on validation perplexity only,
    as recorded with their commit."""
    return json.loads(resources.files("attnmem_core.experiments").joinpath("rnnsearch_calibration.json").read_text())


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
                "valid perplexity": tables.mean_spread([translation.best_perplexity(r.history) for r in same]),
                "updates": " / ".join(f"{r.final['step']:,}" for r in same),  # per seed: the gate may end a run sooner
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
                "updates": "—",
                "train minutes": "—",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def by_length(results: list[runs.TrainedRun], data: translation.Prepared, edges: list[int]) -> pd.DataFrame:
    """BLEU per source-length bucket (words, Figure 2's x-axis), one row per model and bucket, seeds pooled by mean."""
    references, lengths = list(data.text["test"].target), data.source_words("test")
    frames = []
    for r in results:
        frame = scoring.bleu_by_length(r.outputs["hypotheses"], references, lengths, edges)
        frames.append(frame.assign(model=r.spec.label, seed=r.spec.seed))
    frame = pd.concat(frames)
    return frame.groupby(["model", "bucket", "lo", "hi"], sort=False, as_index=False).agg(
        sentences=("sentences", "first"), bleu=("bleu", "mean")
    )


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


# Figure 2's claim per model: BLEU on the long test verses relative to the short ones, by source length in words.
SHORT_BELOW, LONG_FROM = 20, 30


def length_groups(data: translation.Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Test verses of fewer than SHORT_BELOW source words, and of LONG_FROM or more."""
    words = data.source_words("test")
    return words < SHORT_BELOW, words >= LONG_FROM


def relative_bleu(run: runs.TrainedRun, data: translation.Prepared) -> float:
    """BLEU on the long test verses over BLEU on the short ones (1: no loss with length)."""
    return _relative(scoring.sentence_stats(run.outputs["hypotheses"], list(data.text["test"].target)), data)


def _relative(stats_: np.ndarray, data: translation.Prepared, weights: np.ndarray | None = None) -> float:
    weights = np.ones(len(stats_)) if weights is None else weights
    short, long = length_groups(data)
    bleu = [scoring.bleu_from_stats((weights[g, None] * stats_[g]).sum(0).round()) for g in (long, short)]
    return bleu[0] / bleu[1] if bleu[1] else float("nan")


def relative_interval(
    a: list[runs.TrainedRun], b: list[runs.TrainedRun], data: translation.Prepared, samples: int = 1000
) -> intervals.Interval:
    """relative_bleu(a) − relative_bleu(b), or of a alone when b is empty: Welch's t (Student's) over seeds with
    several seeds, or with one seed each a percentile bootstrap over the test verses, the same resamples for both."""
    if len(a) > 1 or len(b) > 1:
        values = [[relative_bleu(r, data) for r in group] for group in (a, b)]
        return intervals.difference(*values) if b else intervals.mean(values[0])
    references = list(data.text["test"].target)
    rng = np.random.default_rng(a[0].spec.seed)
    n = len(references)
    counts = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(samples)]

    def resampled(run):
        stats_ = scoring.sentence_stats(run.outputs["hypotheses"], references)
        return np.array([_relative(stats_, data, w) for w in [np.ones(len(references)), *counts]])

    values = resampled(a[0]) - (resampled(b[0]) if b else 0.0)
    low, high = np.nanpercentile(values[1:], [2.5, 97.5])
    verses = f"{len(references):,} test verses"
    return intervals.Interval(
        float(values[0]), float(low), float(high), f"bootstrap over {verses}, {samples:,} resamples, 1 seed"
    )


def convergence_states(results: list[runs.TrainedRun]) -> dict[str, list[convergence.Convergence]]:
    """'RNNsearch-40' and the like → CONVERGENCE's answer for each of its runs (one per seed)."""
    return convergence.by_run(CONVERGENCE, ((r.spec.label, r.history) for r in results))


def quantities(
    results: list[runs.TrainedRun],
    data: translation.Prepared,
    short: int,
    long: int,
    taus: list[float],
    backward_jumps: list[int],
    followed: list[bool],
    diagonal_followed: list[bool],
) -> list[claims.Quantity]:
    """The claims' numbers: BLEU gaps (`bleu_gap`) of RNNsearch over RNNencdec; the relative BLEU of long to short
    test verses (`relative_interval`) of RNNsearch-`long`, of RNNencdec-`long` and their difference; and
    RNNsearch-`long`'s alignments on the reference translations: the share of reordered adjective–noun pairs its
    attention follows over the length-proportional diagonal's (Newcombe's interval), mean τ over the test verses
    (Student's t) and the median backward jump (bootstrap over the jumps)."""
    by_label: dict[str, list[runs.TrainedRun]] = {}
    for r in sorted(results, key=lambda r: r.spec.seed):
        by_label.setdefault(r.spec.label, []).append(r)
    S, L, ES, EL = f"RNNsearch-{short}", f"RNNsearch-{long}", f"RNNencdec-{short}", f"RNNencdec-{long}"
    measured = [
        claims.between(f"{a} − {b} BLEU", bleu_gap(by_label[a], by_label[b], data), "BLEU", a, b, "higher")
        for a, b in ((L, EL), (S, ES), (S, EL))
    ]
    gap = relative_interval(by_label[L], by_label[EL], data)
    measured.append(claims.between(f"relative BLEU {L} − {EL}", gap, "ratio", L, EL, "higher"))
    measured += [
        claims.of_model(
            f"relative BLEU {label}", relative_interval(by_label[label], [], data), "ratio", label, "higher"
        )
        for label in (L, EL)
    ]
    share = (
        intervals.rate_difference([np.mean(followed)], [np.mean(diagonal_followed)], len(followed))
        if followed
        else intervals.Interval(np.nan, np.nan, np.nan, "no test verse holds a reordered pair of REORDERED")
    )
    measured.append(claims.of_model("reordered pairs followed, RNNsearch − diagonal", share, "share", L, "higher"))
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
def alignments(model: nn.Module, data: translation.Prepared, target_ids: list[list[int]], index, batch_size: int = 64):
    """α (Ty, Tx) of the model on test sentences `index` while it is fed `target_ids` (its own translations, or the
    references), <eos> rows and columns included."""
    out = []
    for start in range(0, len(index), batch_size):
        chunk = list(index[start : start + batch_size])
        x = pairs.pad([data.ids["test"][0][i] + [subwords.EOS] for i in chunk], subwords.PAD)
        y = pairs.pad([[subwords.BOS] + target_ids[i] for i in chunk], subwords.PAD)
        α = model.align(x, y)[1]
        out += [
            α[row, : len(target_ids[i]) + 1, : len(data.ids["test"][0][i]) + 1].numpy() for row, i in enumerate(chunk)
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


# English adjective–noun phrases and the noun-first Spanish that the Reina-Valera writes for them: the reorderings
# the paper's Figure 3 shows for French.
REORDERED = {
    "Holy Spirit": "Espíritu Santo",
    "eternal life": "vida eterna",
    "living God": "Dios vivo",
    "unclean spirit": "espíritu inmundo",
    "evil spirit": "espíritu malo",
    "great nation": "gente grande",
    "precious stones": "piedras preciosas",
    "right hand": "mano derecha",
}


def piece_words(pieces: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each piece's word index, and the words (lower case, no punctuation): sentencepiece marks a word's first piece
    with ▁; a tokenizer without the mark gives one word per piece."""
    marked = any(piece.startswith("▁") for piece in pieces)
    index, words = [], []
    for piece in pieces:
        if not marked or piece.startswith("▁") or not words:
            words.append("")
        words[-1] += piece.replace("▁", "")
        index.append(len(words) - 1)
    return np.array(index), [w.strip(string.punctuation + "¡¿«»").lower() for w in words]


def _find(words: list[str], phrase: str) -> int | None:
    wanted = phrase.lower().split()
    return next((k for k in range(len(words) - 1) if words[k : k + 2] == wanted), None)


def reordered_pairs(data: translation.Prepared) -> list[dict]:
    """Every test verse whose source holds an English phrase of REORDERED and whose reference its Spanish: the
    verse, the phrase, and each side's piece → word indices with the phrase's first word."""
    found = []
    for i, (source, target) in enumerate(zip(data.text["test"].source, data.text["test"].target)):
        src, src_words = piece_words(data.source_tokenizer.pieces(source))
        tgt, tgt_words = piece_words(data.target_tokenizer.pieces(target))
        for english, spanish in REORDERED.items():
            k, K = _find(src_words, english), _find(tgt_words, spanish)
            if k is not None and K is not None:
                found.append({"verse": i, "phrase": english, "source": (src, k), "target": (tgt, K)})
    return found


def follows_reordering(alignment: np.ndarray, pair: dict) -> bool:
    """Whether an alignment (reference pieces × source pieces, no <eos>) crosses where the words do: the Spanish noun
    attends more to the English noun than to its adjective, and the Spanish adjective more to the adjective."""
    (src, k), (tgt, K) = pair["source"], pair["target"]

    def mass(spanish: int, english: int) -> float:
        return float(alignment[tgt == spanish][:, src == english].sum(1).mean())

    adjective, noun, noun_es, adjective_es = k, k + 1, K, K + 1
    return mass(noun_es, noun) > mass(noun_es, adjective) and mass(adjective_es, adjective) > mass(adjective_es, noun)


def diagonal(target_length: int, source_length: int) -> np.ndarray:
    """The length-proportional diagonal alignment: target piece i attends to source piece round(i·(Tx−1)/(Ty−1))."""
    alignment = np.zeros((target_length, source_length))
    peaks = np.round(np.arange(target_length) * (source_length - 1) / max(target_length - 1, 1)).astype(int)
    alignment[np.arange(target_length), peaks] = 1.0
    return alignment


def figure3_verses(data: translation.Prepared, reordered: list[dict], long_words: int = 30) -> list[tuple[int, str]]:
    """Three test verses: the shortest (of 6 words or more) of `reordered` (`reordered_pairs(data)`), whose English
    phrase of REORDERED the reference writes noun first, the first of 8–12 words, and the one whose length is nearest
    to `long_words`."""
    words = data.words("test")
    pairs = [p for p in reordered if words[p["verse"]] >= 6]
    first = min(pairs, key=lambda p: (words[p["verse"]], p["verse"]), default=None)
    chosen = [] if first is None else [(first["verse"], f'"{first["phrase"]}"')]
    short = next(i for i in range(len(words)) if 8 <= words[i] <= 12 and all(i != c for c, _ in chosen))
    chosen.append((short, f"{words[short]} words"))
    far = np.abs(words - long_words).astype(float)
    far[[c for c, _ in chosen]] = np.inf
    chosen.append((int(far.argmin()), f"{words[far.argmin()]} words"))
    return chosen
