"""The align-and-translate experiments (Bahdanau et al. 2015, Sec. 4–5) on English→Spanish verses.

The paper trains RNNencdec and RNNsearch twice: on sentence pairs of at most 30 words and
of at most 50 words (-30, -50), and tests on all test sentences. We keep that design with
cut-offs scaled to verses (`Scale.short`, `Scale.long`, counted in words on both sides).

`prepare` tokenizes the corpus once (tokenizers trained on the training split and cached
in the data folder). `run_one` trains one model from one seed, or loads it from the
trained-model cache, and translates the test set; chapters 4 and 5 call the same function
with the same scale and get the cached baselines back. The rest turns runs into the
paper's Table 1, Figure 2 and Figure 3 analogs.
"""
from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from attnmem_core import decoding, model_cache, scoring, tables
from attnmem_core.data import pairs, subwords
from attnmem_core.data.user_corpus import ParallelCorpus
from attnmem_core.models import rnnsearch
from attnmem_core.parallel import run_parallel
from attnmem_core.runtime import seed_everything
from attnmem_core.training import train

# Bahdanau et al. 2015, Table 1: WMT'14 En→Fr test BLEU, all sentences / sentences without UNK.
PAPER_TABLE1 = {
    "RNNencdec-30": (13.93, 24.19), "RNNsearch-30": (21.50, 31.44),
    "RNNencdec-50": (17.82, 26.71), "RNNsearch-50": (26.75, 34.16),
    "RNNsearch-50*": (28.45, 36.15), "Moses": (33.30, 35.63),
}
MODELS = tuple(rnnsearch.MODELS)
TOKENIZATIONS = ("bpe", "word")


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper: embeddings 620, GRUs of 1000, alignment 1000, maxout 500, 30k-word
    shortlists, batches of 80 sentences, Adadelta, gradient norm clipped at 1, beam search."""

    steps: int
    seeds: tuple[int, ...]
    workers: int
    short: int                      # the "-30" cut-off, in words
    long: int                       # the "-50" cut-off, in words
    vocabulary: int = 4000          # per language: BPE merges' vocabulary, or the word shortlist
    embedding: int = 128
    hidden: int = 256
    alignment: int = 256
    maxout: int = 128
    max_tokens: int = 2000          # padded tokens per batch
    learning_rate: float = 1e-3     # Adam: converges in the updates a laptop allows
    clip_norm: float = 1.0
    beam: int = 5
    alpha: float = 1.0              # length normalisation in the beam's final choice
    eval_every: int = 0             # 0: validation only after the last step
    limit: int | None = None        # smoke: the first pairs of each split only
    bf16: bool = False              # autocast on CUDA


PROFILES = {
    "smoke": Scale(steps=4, seeds=(0,), workers=1, short=15, long=30, vocabulary=300, embedding=16, hidden=16,
                   alignment=16, maxout=8, max_tokens=600, beam=2, limit=200),
    # calibrated on 2 cores: small batches and a high learning rate learn most in a laptop's minutes
    "cpu": Scale(steps=2000, seeds=(0,), workers=2, short=25, long=40, embedding=96, hidden=128, alignment=128,
                 maxout=96, max_tokens=800, learning_rate=3e-3, eval_every=500),
    "gpu": Scale(steps=8000, seeds=(0, 1), workers=4, short=25, long=40, vocabulary=8000, embedding=620, hidden=1000,
                 alignment=1000, maxout=500, max_tokens=2000, eval_every=1000, bf16=True),
}


# ---- data ---------------------------------------------------------------------------------

@dataclass
class Prepared:
    """The corpus as token ids (no markers), with the texts and word counts that scoring and plots need."""

    source_tokenizer: subwords.Tokenizer
    target_tokenizer: subwords.Tokenizer
    ids: dict[str, tuple[list[list[int]], list[list[int]]]]   # split -> (source ids, target ids)
    text: dict[str, pd.DataFrame]                              # split -> source, target, ref
    tokenization: str
    corpus_digest: str

    def words(self, split: str) -> np.ndarray:
        """The longer side's length in words, per pair: the paper's sentence length."""
        frame = self.text[split]
        return np.maximum(frame.source.str.split().str.len(), frame.target.str.split().str.len()).to_numpy()


def corpus_digest(corpus: ParallelCorpus) -> str:
    digest = hashlib.sha256()
    for name in ("train", "valid", "test"):
        frame = getattr(corpus, name)
        digest.update("\n".join(frame.source + "\t" + frame.target).encode())
    return digest.hexdigest()[:16]


def prepare(corpus: ParallelCorpus, scale: Scale, tokenization: str, data_dir: str | Path) -> Prepared:
    """Tokenizers trained on the training split (cached under data_dir/tokenizers), every split encoded."""
    text = {name: getattr(corpus, name).iloc[:scale.limit].reset_index(drop=True) for name in ("train", "valid", "test")}
    digest = corpus_digest(corpus)
    folder = Path(data_dir) / "tokenizers"
    suffix = "model" if tokenization == "bpe" else "json"
    tokenizers = [subwords.train_or_load(tokenization, list(text["train"][side]), scale.vocabulary,
                                         folder / f"{digest}-{scale.limit}-{tokenization}{scale.vocabulary}-{lang}.{suffix}",
                                         lang)
                  for side, lang in (("source", "en"), ("target", "es"))]
    ids = {name: ([tokenizers[0].encode(s) for s in frame.source], [tokenizers[1].encode(s) for s in frame.target])
           for name, frame in text.items()}
    return Prepared(*tokenizers, ids, text, tokenization, digest)


# ---- runs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    model: str
    cutoff: int
    seed: int
    scale: Scale

    @property
    def label(self) -> str:
        return f"{self.model}-{self.cutoff}"


def plan(scale: Scale, seeds: list[int], steps: int) -> list[RunSpec]:
    """Both models × both cut-offs × seeds; the longest-running first."""
    scale = replace(scale, steps=steps)
    return [RunSpec(m, c, s, scale) for c in (scale.long, scale.short) for m in ("RNNsearch", "RNNencdec") for s in seeds]


def build(model: str, scale: Scale, source_vocab: int, target_vocab: int) -> nn.Module:
    options = dict(embedding=scale.embedding, hidden=scale.hidden, maxout=scale.maxout)
    if model == "RNNsearch":
        options["alignment"] = scale.alignment
    return rnnsearch.MODELS[model](source_vocab, target_vocab, **options)


def config(run: RunSpec, data: Prepared, device: torch.device) -> dict:
    """Everything that decides the trained weights: the trained-model cache's key."""
    return {"model": run.model, "cutoff": run.cutoff, "seed": run.seed, "scale": asdict(run.scale),
            "tokenization": data.tokenization, "corpus": data.corpus_digest, "device": device.type}


def sequence_loss(logits: torch.Tensor, target_out: torch.Tensor) -> torch.Tensor:
    """Mean −log p over the real target tokens (padding excluded)."""
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), target_out.flatten(), ignore_index=subwords.PAD)


@torch.no_grad()
def perplexity(model: nn.Module, source, target, device, max_tokens: int) -> float:
    model.eval()
    total, count = 0.0, 0
    x_all, y_all = pairs.with_markers(source, target, bos_id=subwords.BOS, eos_id=subwords.EOS)
    for index in pairs.length_batches(x_all, y_all, max_tokens=max_tokens, rng=np.random.default_rng(0)):
        x = pairs.pad([x_all[i] for i in index], subwords.PAD).to(device)
        y = pairs.pad([y_all[i] for i in index], subwords.PAD).to(device)
        logits = model(x, y[:, :-1]).float()
        total += nn.functional.cross_entropy(logits.flatten(0, 1), y[:, 1:].flatten(), ignore_index=subwords.PAD,
                                             reduction="sum").item()
        count += int((y[:, 1:] != subwords.PAD).sum())
    return float(np.exp(total / count))


def within(data: Prepared, split: str, cutoff: int) -> np.ndarray:
    return np.flatnonzero(data.words(split) <= cutoff)


def _train(run: RunSpec, data: Prepared, device: torch.device) -> dict:
    scale = run.scale
    seed_everything(run.seed)
    model = build(run.model, scale, len(data.source_tokenizer), len(data.target_tokenizer)).to(device)
    keep = within(data, "train", run.cutoff)
    source, target = pairs.with_markers([data.ids["train"][0][i] for i in keep], [data.ids["train"][1][i] for i in keep],
                                        bos_id=subwords.BOS, eos_id=subwords.EOS)
    valid = within(data, "valid", run.cutoff)
    valid_source = [data.ids["valid"][0][i] for i in valid]
    valid_target = [data.ids["valid"][1][i] for i in valid]
    history = train(model, pairs.training_batches(source, target, max_tokens=scale.max_tokens, pad_id=subwords.PAD,
                                                  seed=run.seed),
                    steps=scale.steps, optimizer=torch.optim.Adam(model.parameters(), lr=scale.learning_rate),
                    loss_fn=sequence_loss, device=device, clip_norm=scale.clip_norm, eval_every=scale.eval_every,
                    evaluate=lambda: {"valid_perplexity": perplexity(model, valid_source, valid_target, device,
                                                                     scale.max_tokens)},
                    autocast=torch.bfloat16 if scale.bf16 and device.type == "cuda" else None,
                    desc=run.label, progress=False)
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=scale.bf16 and device.type == "cuda"):
        hypotheses = decoding.translate(model, [x + [subwords.EOS] for x in data.ids["test"][0]],
                                        batch_size=64, device=device, beam=scale.beam, alpha=scale.alpha,
                                        bos_id=subwords.BOS, eos_id=subwords.EOS, pad_id=subwords.PAD)
    return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "history": history,
            "train_seconds": history[-1]["seconds"], "decode_seconds": time.perf_counter() - start,
            "train_pairs": len(keep), "parameters": sum(p.numel() for p in model.parameters()),
            "hypothesis_ids": hypotheses, "hypotheses": [data.target_tokenizer.decode(h) for h in hypotheses]}


def run_one(run: RunSpec, data: Prepared, device: str, models_dir: str | Path) -> dict:
    """Train (or load from the trained-model cache) one model and translate the test set."""
    device = torch.device(device)
    payload, cached = model_cache.load_or_train(models_dir, run.label, config(run, data, device),
                                                lambda: _train(run, data, device))
    return {**payload, "spec": run, "cached": cached}


def run_all(runs: list[RunSpec], data: Prepared, device: str, workers: int, models_dir: str | Path) -> list[dict]:
    return run_parallel(functools.partial(run_one, device=device, models_dir=str(models_dir)), runs, workers=workers,
                        context={"data": data}, cost=lambda r: r.cutoff * (3 if r.model == "RNNsearch" else 1))


def load_model(result: dict, data: Prepared) -> nn.Module:
    model = build(result["spec"].model, result["spec"].scale, len(data.source_tokenizer), len(data.target_tokenizer))
    model.load_state_dict(result["state_dict"])
    return model.eval()


# ---- Table 1 and Figure 2: BLEU, overall and by sentence length -------------------------------

def table1(results: list[dict], data: Prepared, peers: dict[str, dict]) -> pd.DataFrame:
    """Test BLEU per model (mean ± spread over seeds) beside the paper's, then peer systems' rows."""
    references = list(data.text["test"].target)
    rows = []
    for label in dict.fromkeys(r["spec"].label for r in results):
        runs = [r for r in results if r["spec"].label == label]
        paper = PAPER_TABLE1[label.replace(f"-{runs[0]['spec'].scale.short}", "-30")
                             .replace(f"-{runs[0]['spec'].scale.long}", "-50")]
        scores = [scoring.bleu(r["hypotheses"], references)["score"] for r in runs]
        rows.append({"model": label, "trained on": f"≤ {runs[0]['spec'].cutoff} words ({runs[0]['train_pairs']:,} pairs)",
                     "parameters": f"{runs[0]['parameters'] / 1e6:.1f} M",
                     "BLEU (ours)": tables.mean_spread(scores), "BLEU (paper, all / no UNK)": f"{paper[0]} / {paper[1]}",
                     "valid perplexity": tables.mean_spread([r["history"][-1]["valid_perplexity"] for r in runs]),
                     "train minutes": tables.mean_spread([r["train_seconds"] / 60 for r in runs], digits=1)})
    for name, peer in peers.items():
        rows.append({"model": name, "trained on": peer.get("trained on", "—"), "parameters": "—",
                     "BLEU (ours)": peer["bleu"], "BLEU (paper, all / no UNK)": peer.get("paper", "—"),
                     "valid perplexity": "—", "train minutes": "—"})
    return pd.DataFrame(rows).set_index("model")


def by_length(results: list[dict], data: Prepared, edges: list[int]) -> pd.DataFrame:
    """BLEU per source-length bucket (words), one row per model and bucket, seeds pooled by mean."""
    references, lengths = list(data.text["test"].target), data.words("test")
    frames = []
    for r in results:
        frame = scoring.bleu_by_length(r["hypotheses"], references, lengths, edges)
        frames.append(frame.assign(model=r["spec"].label, seed=r["spec"].seed))
    frame = pd.concat(frames)
    return frame.groupby(["model", "bucket", "lo", "hi"], sort=False, as_index=False).agg(
        sentences=("sentences", "first"), bleu=("bleu", "mean"))


def slope(frame: pd.DataFrame, model: str) -> float:
    """BLEU change per 10 more words: least squares over the buckets' midpoints, weighted by their sentences."""
    rows = frame[(frame.model == model) & (frame.sentences > 0)]
    midpoints = (rows.lo + rows.hi - 1) / 2
    return float(np.polyfit(midpoints, rows.bleu, 1, w=np.sqrt(rows.sentences))[0] * 10)


# ---- Figure 3: alignments ---------------------------------------------------------------------

@torch.no_grad()
def alignments(model: nn.Module, data: Prepared, hypothesis_ids: list[list[int]], index, batch_size: int = 64):
    """α (Ty, Tx) of the model on its own translations of test sentences `index`, <eos> rows and columns included."""
    out = []
    for start in range(0, len(index), batch_size):
        chunk = list(index[start:start + batch_size])
        x = pairs.pad([data.ids["test"][0][i] + [subwords.EOS] for i in chunk], subwords.PAD)
        y = pairs.pad([[subwords.BOS] + hypothesis_ids[i] for i in chunk], subwords.PAD)
        α = model.align(x, y)[1]
        out += [α[row, :len(hypothesis_ids[i]) + 1, :len(data.ids["test"][0][i]) + 1].numpy()
                for row, i in enumerate(chunk)]
    return out


def monotonicity(alignment: np.ndarray) -> dict:
    """How monotonic one alignment is, over the real tokens (no <eos>): Kendall's τ between each target
    position and the source position it attends to most, and the backward jumps of that position."""
    peaks = alignment[:-1, :-1].argmax(-1) if alignment.shape[0] > 2 else np.array([])
    jumps = np.diff(peaks)
    tau = stats.kendalltau(np.arange(len(peaks)), peaks).statistic if len(set(peaks)) > 1 else float("nan")
    return {"tau": tau, "steps": len(jumps), "backward": int((jumps < 0).sum()),
            "backward_sizes": (-jumps[jumps < 0]).tolist()}


# English adjective–noun phrases that Spanish writes noun first ("vida eterna", "Espíritu Santo", ...):
# the reorderings the paper's Figure 3 shows for French.
REORDERED = ("Holy Spirit", "eternal life", "living God", "unclean spirit", "evil spirit", "great nation",
             "precious stones")


def figure3_verses(data: Prepared, long_words: int = 30) -> list[tuple[int, str]]:
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
