"""The translation task that chapters 2, 4 and 5 share: one tokenized corpus, one loss, one way to measure.

`prepare` tokenizes a parallel corpus once (tokenizers trained on the training split, cached
in the data folder). Every translator of the book (RNNsearch, RNNencdec, the Transformer)
then trains on `training_batches`, is scored by `sequence_loss` and `perplexity` on the
validation pairs, decodes through `attnmem_core.decoding` (`translate`), and is costed by
`training_flops` and `cost_to_reach` — so the chapters compare models on equal terms.
A pair's length is counted in words on its longer side, the paper's sentence length, and
length cut-offs (`within`) select the pairs a model trains on.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from attnmem_core import decoding, scoring
from attnmem_core.data import pairs, subwords
from attnmem_core.data.user_corpus import ParallelCorpus

TOKENIZATIONS = ("bpe", "word")
SPLITS = ("train", "valid", "test")


@dataclass
class Prepared:
    """The corpus as token ids (no markers), with the texts and word counts that scoring and plots need."""

    source_tokenizer: subwords.Tokenizer
    target_tokenizer: subwords.Tokenizer
    ids: dict[str, tuple[list[list[int]], list[list[int]]]]  # split -> (source ids, target ids)
    text: dict[str, pd.DataFrame]  # split -> source, target, ref
    tokenization: str
    vocabulary: int
    limit: int | None
    corpus_digest: str

    def identity(self) -> dict:
        """What decides the token ids: part of every trained model's cache key."""
        return {
            "tokenization": self.tokenization,
            "vocabulary": self.vocabulary,
            "limit": self.limit,
            "corpus": self.corpus_digest,
        }

    def vocabularies(self) -> tuple[int, int]:
        return len(self.source_tokenizer), len(self.target_tokenizer)

    def words(self, split: str) -> np.ndarray:
        """The longer side's length in words, per pair: the paper's sentence length."""
        frame = self.text[split]
        return np.maximum(frame.source.str.split().str.len(), frame.target.str.split().str.len()).to_numpy()

    def source_words(self, split: str) -> np.ndarray:
        """The source sentence's length in words, per pair: the x-axis of Bahdanau et al.'s Figure 2."""
        return self.text[split].source.str.split().str.len().to_numpy()


def corpus_digest(corpus: ParallelCorpus) -> str:
    digest = hashlib.sha256()
    for name in SPLITS:
        frame = getattr(corpus, name)
        digest.update("\n".join(frame.source + "\t" + frame.target).encode())
    return digest.hexdigest()[:16]


def prepare(
    corpus: ParallelCorpus, *, tokenization: str, vocabulary: int, data_dir: str | Path, limit: int | None = None
) -> Prepared:
    """Tokenizers of `vocabulary` units per language trained on the training split (cached under
    data_dir/tokenizers), every split encoded; `limit` keeps only the first pairs of each split."""
    text = {name: getattr(corpus, name).iloc[:limit].reset_index(drop=True) for name in SPLITS}
    digest = corpus_digest(corpus)
    folder = Path(data_dir) / "tokenizers"
    suffix = "model" if tokenization == "bpe" else "json"
    tokenizers = [
        subwords.train_or_load(
            tokenization,
            list(text["train"][side]),
            vocabulary,
            folder / f"{digest}-{limit}-{tokenization}{vocabulary}-{lang}.{suffix}",
            lang,
        )
        for side, lang in (("source", "en"), ("target", "es"))
    ]
    ids = {
        name: ([tokenizers[0].encode(s) for s in frame.source], [tokenizers[1].encode(s) for s in frame.target])
        for name, frame in text.items()
    }
    return Prepared(*tokenizers, ids, text, tokenization, vocabulary, limit, digest)


def within(data: Prepared, split: str, cutoff: int) -> np.ndarray:
    """Indices of the pairs of `split` of at most `cutoff` words."""
    return np.flatnonzero(data.words(split) <= cutoff)


def split_pairs(data: Prepared, split: str, cutoff: int | None = None) -> tuple[list[list[int]], list[list[int]]]:
    """(source ids, target ids) of a split, only pairs of at most `cutoff` words when it is given."""
    keep = range(len(data.ids[split][0])) if cutoff is None else within(data, split, cutoff)
    return [data.ids[split][0][i] for i in keep], [data.ids[split][1][i] for i in keep]


def training_batches(data: Prepared, cutoff: int, max_tokens: int, seed: int):
    """The training stream: length-sorted batches of pairs of at most `cutoff` words, with <bos>/<eos>."""
    source, target = pairs.with_markers(*split_pairs(data, "train", cutoff), bos_id=subwords.BOS, eos_id=subwords.EOS)
    return pairs.training_batches(source, target, max_tokens=max_tokens, pad_id=subwords.PAD, seed=seed)


def sequence_loss(logits: torch.Tensor, target_out: torch.Tensor) -> torch.Tensor:
    """Mean −log p over the real target tokens (padding excluded)."""
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), target_out.flatten(), ignore_index=subwords.PAD)


class BestWeights:
    """A copy of a model's weights at its lowest validation perplexity so far, for early stopping: `keep` each
    evaluation's metrics as they pass to `training.train`, `restore` once training has ended."""

    def __init__(self, model: nn.Module):
        self.model, self.perplexity, self.state = model, math.inf, None

    def keep(self, metrics: dict) -> dict:
        if metrics["valid_perplexity"] < self.perplexity:
            self.perplexity, self.state = metrics["valid_perplexity"], copy.deepcopy(self.model.state_dict())
        return metrics

    def restore(self) -> None:
        if self.state is None:
            raise RuntimeError(
                "no evaluation had a finite validation perplexity, so there are no weights to keep; "
                "the run diverged (lower the learning rate)"
            )
        self.model.load_state_dict(self.state)


def best_perplexity(history: list[dict]) -> float:
    """The validation perplexity of the weights a run kept when it keeps its best: the lowest in its history."""
    return min(row["valid_perplexity"] for row in history)


@torch.no_grad()
def perplexity(model: nn.Module, source, target, device, max_tokens: int) -> float:
    """exp of the mean −log p of the target tokens (and <eos>) under teacher forcing."""
    model.eval()
    total, count = 0.0, 0
    x_all, y_all = pairs.with_markers(source, target, bos_id=subwords.BOS, eos_id=subwords.EOS)
    for index in pairs.length_batches(x_all, y_all, max_tokens=max_tokens, rng=np.random.default_rng(0)):
        x = pairs.pad([x_all[i] for i in index], subwords.PAD).to(device)
        y = pairs.pad([y_all[i] for i in index], subwords.PAD).to(device)
        logits = model(x, y[:, :-1]).float()
        total += nn.functional.cross_entropy(
            logits.flatten(0, 1), y[:, 1:].flatten(), ignore_index=subwords.PAD, reduction="sum"
        ).item()
        count += int((y[:, 1:] != subwords.PAD).sum())
    return float(np.exp(total / count))


def translate_ids(
    model: decoding.Translator,
    data: Prepared,
    split: str,
    device,
    beam: int,
    alpha: float = 0.6,
    index: Sequence[int] | None = None,
) -> list[list[int]]:
    """Target token ids (no markers) for every source of a split (or those at `index`), by beam search (beam 1:
    greedy)."""
    chosen = range(len(data.ids[split][0])) if index is None else index
    sources = [data.ids[split][0][i] + [subwords.EOS] for i in chosen]
    return decoding.translate(
        model,
        sources,
        batch_size=64,
        device=device,
        beam=beam,
        alpha=alpha,
        bos_id=subwords.BOS,
        eos_id=subwords.EOS,
        pad_id=subwords.PAD,
    )


def translate(
    model: decoding.Translator,
    data: Prepared,
    split: str,
    device,
    beam: int,
    alpha: float = 0.6,
    index: Sequence[int] | None = None,
) -> list[str]:
    """Detokenized translations of a split's sources (or of those at `index`)."""
    return [data.target_tokenizer.decode(h) for h in translate_ids(model, data, split, device, beam, alpha, index)]


def validation(model, data: Prepared, device, cutoff: int, max_tokens: int, bleu: bool = True) -> dict:
    """Perplexity on the validation pairs within the cut-off (plain NLL, no smoothing) and, if asked, greedy
    BLEU on every validation pair."""
    metrics = {"valid_perplexity": perplexity(model, *split_pairs(data, "valid", cutoff), device, max_tokens)}
    if bleu:
        hypotheses = translate(model, data, "valid", device, beam=1)
        metrics["valid_bleu"] = scoring.bleu(hypotheses, list(data.text["valid"].target))["score"]
    return metrics


@torch.no_grad()
def perplexity_by_length(
    model, data: Prepared, split: str, edges: list[int], max_tokens: int, device="cpu"
) -> pd.DataFrame:
    """Perplexity per length bucket [edges[i], edges[i+1]) of the longer side in words."""
    words = data.words(split)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        index = np.flatnonzero((words >= lo) & (words < hi))
        source, target = data.ids[split]
        ppl = (
            perplexity(model, [source[i] for i in index], [target[i] for i in index], device, max_tokens)
            if len(index)
            else float("nan")
        )
        rows.append({"lo": lo, "hi": hi, "bucket": f"{lo}–{hi - 1}", "sentences": len(index), "perplexity": ppl})
    return pd.DataFrame(rows)


# ---- cost: FLOPs and wall-clock ------------------------------------------------------------------


FLOPS_UPDATES = 4  # training_flops' default: batches differ in length, so one batch is no measure


def training_flops(model: torch.nn.Module, stream, loss_fn, updates: int = FLOPS_UPDATES) -> float:
    """Mean FLOPs of one update (forward and backward; the optimizer's elementwise work is not counted) over
    the next `updates` batches of `stream`. Fused attention kernels have no FLOP formula on the CPU, so the
    count runs with attention written out as matrix products (same arithmetic)."""
    model.train()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        for _ in range(updates):
            (x, y_in), y_out = next(stream)
            loss_fn(model(x, y_in), y_out).backward()
            model.zero_grad(set_to_none=True)
        total = counter.get_total_flops()
    return total / updates


def cost_to_reach(history: list[dict], key: str, target: float, flops_per_update: float, higher: bool = True) -> dict:
    """The first evaluation at which history[key] reaches `target` (≥ if higher, else ≤): its update, training
    seconds and FLOPs; inf when it never does."""
    for row in history:
        if (row[key] >= target) if higher else (row[key] <= target):
            return {"step": row["step"], "seconds": row["train_seconds"], "flops": row["step"] * flops_per_update}
    return {"step": math.inf, "seconds": math.inf, "flops": math.inf}
