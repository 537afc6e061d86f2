"""The Transformer experiments (Vaswani et al. 2017, Sec. 3.2.1, 3.5, 6; Tables 2 and 3) on chapter 2's verses.

Everything runs on the English→Spanish corpus, splits and BPE tokenization of the
align-and-translate chapter (`translation.prepare`), so the Transformer meets the cached
RNNsearch of that chapter on equal terms. A run is one `Variant` of the model (heads, d_k,
positions, scaling) trained from one seed for some updates on pairs up to a length cut-off:

- the main run: the base variant on pairs of at most `translation.Scale.long` words, the
  same pairs as RNNsearch-40, evaluated every `eval_every` updates (validation perplexity
  and greedy validation BLEU), so the cost of reaching RNNsearch's quality can be read off;
- Table 3 rows at `ablation_steps` updates, compared with the main run at the same update
  (the schedule of Eq. 3 does not depend on the total number of updates, so the main run's
  state at that update is exactly a base run stopped there);
- the extrapolation runs: sinusoidal and learned positions trained on short pairs only, then
  translating every test verse greedily (a beam would add its own length bias).

Costs (Table 2's column) are counted by torch's FLOP counter on the first training batches
(`training_flops`), with the attention written out so that its matrix products are seen.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from attnmem_core import decoding, model_cache, scoring
from attnmem_core.data import pairs, subwords
from attnmem_core.experiments import translation as tx
from attnmem_core.models.transformer import Transformer, label_smoothed_nll, lr_lambda
from attnmem_core.parallel import run_parallel
from attnmem_core.runtime import seed_everything
from attnmem_core.training import train

# Vaswani et al. 2017. Table 2: newstest2014 EN-DE BLEU and training FLOPs. Table 3: EN-DE dev perplexity / BLEU.
PAPER_TABLE2 = {"Transformer (base)": (27.3, 3.3e18), "ConvS2S": (25.16, 9.6e18)}
PAPER_TABLE3 = {"base": (4.92, 25.8), "h=1": (5.29, 24.9), "h=4": (5.00, 25.5), "h=16": (4.91, 25.8),
                "h=32": (5.01, 25.4), "d_k=16": (5.16, 25.1), "d_k=32": (5.01, 25.4), "learned": (4.92, 25.7)}


@dataclass(frozen=True)
class Scale:
    """The Transformer's sizes and training. The paper's base: 6+6 layers, d_model 512, 8 heads, d_ff 2048,
    dropout 0.1, label smoothing 0.1, warmup 4000, batches of ~25k source + 25k target tokens, beam 4, α 0.6."""

    steps: int                       # the main run's updates
    ablation_steps: int              # a Table 3 variant's
    extrapolation_steps: int         # a run on short pairs only
    seeds: tuple[int, ...]
    workers: int
    heads_grid: tuple[int, ...]      # Table 3 (A): these head counts at d_k = d_v = d_model / h
    small_d_k: int                   # Table 3 (B): d_k with d_v and h as in the base
    short: int                       # extrapolation: train on pairs of at most this many words
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    label_smoothing: float = 0.1
    warmup: int = 400
    lr_factor: float = 1.0           # × Eq. 3
    max_tokens: int = 2000           # padded tokens per batch
    eval_every: int = 300
    beam: int = 5
    alpha: float = 0.6
    bf16: bool = False               # autocast on CUDA


PROFILES = {
    "smoke": Scale(steps=6, ablation_steps=3, extrapolation_steps=3, seeds=(0,), workers=1, heads_grid=(1, 4),
                   small_d_k=2, short=8, layers=1, d_model=16, heads=2, d_ff=32, warmup=4, max_tokens=600, eval_every=3,
                   beam=2),
    "cpu": Scale(steps=1350, ablation_steps=225, extrapolation_steps=400, seeds=(0,), workers=2, heads_grid=(1, 4),
                 small_d_k=8, short=20, eval_every=225),
    "gpu": Scale(steps=6000, ablation_steps=2000, extrapolation_steps=3000, seeds=(0, 1), workers=4,
                 heads_grid=(1, 4, 16, 32), small_d_k=16, short=20, layers=4, d_model=256, heads=8, d_ff=1024,
                 warmup=1000, max_tokens=6000, eval_every=500, bf16=True),
}


@dataclass(frozen=True)
class Variant:
    """A model of Table 3: None keeps the base's value."""

    name: str
    heads: int | None = None
    d_k: int | None = None
    d_v: int | None = None
    positional: str = "sinusoidal"
    scale: bool = True


def table3_variants(scale: Scale) -> list[Variant]:
    """(A) heads at constant compute, (B) a smaller d_k, (E) learned positions, no positions, and no 1/√d_k at h = 1."""
    heads = [Variant(f"h={h}", heads=h, d_k=scale.d_model // h, d_v=scale.d_model // h)
             for h in scale.heads_grid if h != scale.heads]
    d_v = scale.d_model // scale.heads
    return heads + [Variant(f"d_k={scale.small_d_k}", d_k=scale.small_d_k, d_v=d_v),
                    Variant("learned", positional="learned"), Variant("no positions", positional="none"),
                    Variant("h=1, unscaled", heads=1, d_k=scale.d_model, d_v=scale.d_model, scale=False)]


def paper_row(variant: Variant, scale: Scale) -> str | None:
    """The row of PAPER_TABLE3 that stands in the same relation to the paper's base (h = 8, d_k = 64) as `variant`
    does to ours: h = 1, h = base/2, 2·base, 4·base; d_k = base/4, base/2; learned positions. None if no row does."""
    if variant.positional == "learned" and variant.heads is None and variant.d_k is None:
        return "learned"
    if not variant.scale or variant.positional != "sinusoidal":
        return None
    if variant.heads is not None:
        ratio = variant.heads / scale.heads
        return "h=1" if variant.heads == 1 else {0.5: "h=4", 2: "h=16", 4: "h=32"}.get(ratio)
    if variant.d_k is not None:
        return {0.25: "d_k=16", 0.5: "d_k=32"}.get(variant.d_k / (scale.d_model // scale.heads))
    return "base"


@dataclass(frozen=True)
class RunSpec:
    variant: Variant
    cutoff: int            # training pairs of at most this many words
    steps: int
    seed: int
    scale: Scale
    translation: tx.Scale  # the data's scale (vocabulary, corpus limit) and the RNNsearch it meets
    test_beam: int = 0     # translate the test set after training with this beam (1: greedy); 0: not at all
    valid_bleu: bool = True  # evaluate greedy validation BLEU besides perplexity

    @property
    def label(self) -> str:
        return f"Transformer {self.variant.name} ≤{self.cutoff} {self.steps}"


def plan(scale: Scale, translation: tx.Scale, seeds: list[int], steps: int) -> list[RunSpec]:
    """The main run, Table 3's variants, and sinusoidal vs learned on short pairs, for every seed."""
    base = Variant("base")
    long, runs = translation.long, []
    for seed in seeds:
        runs.append(RunSpec(base, long, steps, seed, scale, translation, test_beam=scale.beam))
        runs += [RunSpec(v, long, scale.ablation_steps, seed, scale, translation) for v in table3_variants(scale)]
        runs += [RunSpec(v, scale.short, scale.extrapolation_steps, seed, scale, translation, test_beam=1,
                         valid_bleu=False)
                 for v in (base, Variant("learned", positional="learned"))]
    return runs


def build(variant: Variant, scale: Scale, source_vocab: int, target_vocab: int) -> Transformer:
    return Transformer(source_vocab, target_vocab, layers=scale.layers, d_model=scale.d_model, d_ff=scale.d_ff,
                       heads=variant.heads or scale.heads, d_k=variant.d_k, d_v=variant.d_v, dropout=scale.dropout,
                       positional=variant.positional, scale=variant.scale)


def config(run: RunSpec, data: tx.Prepared, device: torch.device) -> dict:
    """Everything that decides the trained weights and the stored outputs: the trained-model cache's key. The scale
    enters without what only other runs use (their step counts, the seeds, the workers)."""
    return {"variant": asdict(run.variant), "cutoff": run.cutoff, "steps": run.steps, "seed": run.seed,
            "test_beam": run.test_beam, "valid_bleu": run.valid_bleu,
            "scale": asdict(replace(run.scale, steps=0, ablation_steps=0, extrapolation_steps=0, seeds=(), workers=0)),
            "vocabulary": run.translation.vocabulary, "limit": run.translation.limit,
            "tokenization": data.tokenization, "corpus": data.corpus_digest, "device": device.type}


# ---- training and evaluation -----------------------------------------------------------------

def _pairs(data: tx.Prepared, split: str, cutoff: int | None = None):
    keep = range(len(data.ids[split][0])) if cutoff is None else tx.within(data, split, cutoff)
    return [data.ids[split][0][i] for i in keep], [data.ids[split][1][i] for i in keep]


def batches(data: tx.Prepared, cutoff: int, max_tokens: int, seed: int):
    """The training stream: length-sorted batches of pairs of at most `cutoff` words, with <bos>/<eos>."""
    source, target = pairs.with_markers(*_pairs(data, "train", cutoff), bos_id=subwords.BOS, eos_id=subwords.EOS)
    return pairs.training_batches(source, target, max_tokens=max_tokens, pad_id=subwords.PAD, seed=seed)


def translate(model, data: tx.Prepared, split: str, device, beam: int, alpha: float = 0.6) -> list[str]:
    """Detokenized translations of a split's sources."""
    sources = [x + [subwords.EOS] for x in data.ids[split][0]]
    ids = decoding.translate(model, sources, batch_size=64, device=device, beam=beam, alpha=alpha, bos_id=subwords.BOS,
                             eos_id=subwords.EOS, pad_id=subwords.PAD)
    return [data.target_tokenizer.decode(h) for h in ids]


def validation(model, data: tx.Prepared, device, cutoff: int, max_tokens: int, bleu: bool = True) -> dict:
    """Perplexity on the validation pairs within the cut-off (plain NLL, no smoothing; RNNsearch's measure too)
    and, if asked, greedy BLEU on every validation pair."""
    metrics = {"valid_perplexity": tx.perplexity(model, *_pairs(data, "valid", cutoff), device, max_tokens)}
    if bleu:
        hypotheses = translate(model, data, "valid", device, beam=1)
        metrics["valid_bleu"] = scoring.bleu(hypotheses, list(data.text["valid"].target))["score"]
    return metrics


def _train(run: RunSpec, data: tx.Prepared, device: torch.device) -> dict:
    scale = run.scale
    seed_everything(run.seed)
    model = build(run.variant, scale, len(data.source_tokenizer), len(data.target_tokenizer)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(scale.d_model, scale.warmup, scale.lr_factor))
    autocast = scale.bf16 and device.type == "cuda"
    history = train(model, batches(data, run.cutoff, scale.max_tokens, run.seed), steps=run.steps, optimizer=optimizer,
                    scheduler=schedule, loss_fn=functools.partial(label_smoothed_nll, epsilon=scale.label_smoothing),
                    device=device, eval_every=scale.eval_every, autocast=torch.bfloat16 if autocast else None,
                    evaluate=lambda: validation(model, data, device, run.cutoff, scale.max_tokens, run.valid_bleu),
                    desc=run.label, progress=False)
    start, hypotheses = time.perf_counter(), None
    if run.test_beam:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            hypotheses = translate(model, data, "test", device, beam=run.test_beam, alpha=scale.alpha)
    return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "history": history,
            "train_seconds": history[-1]["train_seconds"], "decode_seconds": time.perf_counter() - start,
            "parameters": sum(p.numel() for p in model.parameters()), "hypotheses": hypotheses}


def run_one(run: RunSpec | tx.RunSpec, data: tx.Prepared, device: str, models_dir: str | Path) -> dict:
    """Train (or load from the trained-model cache) one Transformer, or one of chapter 2's translators."""
    if isinstance(run, tx.RunSpec):
        return tx.run_one(run, data, device, models_dir)
    device = torch.device(device)
    payload, cached = model_cache.load_or_train(models_dir, run.label, config(run, data, device),
                                                lambda: _train(run, data, device))
    return {**payload, "spec": run, "cached": cached}


def _cost(run: RunSpec | tx.RunSpec) -> float:
    """Roughly proportional to a run's time on a CPU, in Transformer updates: its updates, plus translating the test
    set (a beam costs more than greedy decoding); an RNNsearch update (of fewer tokens) takes half a Transformer's."""
    if isinstance(run, tx.RunSpec):
        return run.scale.steps / 2
    return run.steps + (200 if run.test_beam > 1 else 70 if run.test_beam else 0)


def run_all(runs: list, data: tx.Prepared, device: str, workers: int, models_dir: str | Path) -> list[dict]:
    """`run_one` for every run, in `workers` processes, the dearest first: Transformers and the RNNsearch baselines
    together, so that a baseline missing from the cache trains beside them."""
    return run_parallel(functools.partial(run_one, device=device, models_dir=str(models_dir)), runs, workers=workers,
                        context={"data": data}, cost=_cost)


def load_model(result: dict, data: tx.Prepared) -> Transformer:
    spec = result["spec"]
    model = build(spec.variant, spec.scale, len(data.source_tokenizer), len(data.target_tokenizer))
    model.load_state_dict(result["state_dict"])
    return model.eval()


def at_step(result: dict, step: int) -> dict:
    """The history row of evaluation at `step`."""
    row = next((r for r in result["history"] if r["step"] == step), None)
    if row is None:
        raise ValueError(f"{result['spec'].label} was not evaluated at update {step}; "
                         f"evaluated at {[r['step'] for r in result['history']]}")
    return row


# ---- cost: FLOPs and wall-clock (Table 2) --------------------------------------------------------

def training_flops(model: torch.nn.Module, stream, loss_fn, updates: int = 4) -> float:
    """Mean FLOPs of one update (forward and backward; the optimizer's elementwise work is not counted) over
    the next `updates` batches of `stream`. Fused attention kernels have no FLOP formula on the CPU, so the
    count runs with attention written out as matrix products (same arithmetic)."""
    total = 0
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


# ---- the 1/√d_k argument (Sec. 3.2.1) -------------------------------------------------------------

def scaling_statistics(d_ks, keys: int = 32, samples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """For q, k with independent N(0, 1) components: the variance of q·k, and for a query over `keys` keys the
    softmax's entropy (nats) and the norm of its Jacobian ∂softmax/∂scores, with scores q·k/√d_k and q·k.

    The Jacobian diag(p) − ppᵀ is what every gradient through the softmax is multiplied by: when the softmax
    saturates on one key it vanishes, which is the paper's argument for the scaling.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for d_k in d_ks:
        q = torch.randn(samples, 1, d_k, generator=generator)
        k = torch.randn(samples, keys, d_k, generator=generator)
        dots = (q * k).sum(-1)                                                   # (samples, keys)
        for scaled in (True, False):
            p = torch.softmax(dots / math.sqrt(d_k) if scaled else dots, -1)
            jacobian = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
            rows.append({"d_k": d_k, "scaled": scaled, "variance of q·k": dots.var().item(),
                         "softmax entropy": -(p * p.clamp_min(1e-30).log()).sum(-1).mean().item(),
                         "Jacobian norm": torch.linalg.matrix_norm(jacobian).mean().item()})
    return pd.DataFrame(rows)


# ---- extrapolation: BLEU and perplexity by length ------------------------------------------------

@torch.no_grad()
def perplexity_by_length(model, data: tx.Prepared, split: str, edges: list[int], max_tokens: int,
                         device="cpu") -> pd.DataFrame:
    """Perplexity per length bucket [edges[i], edges[i+1]) of the longer side in words."""
    words = data.words(split)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        index = np.flatnonzero((words >= lo) & (words < hi))
        source, target = data.ids[split]
        ppl = tx.perplexity(model, [source[i] for i in index], [target[i] for i in index], device, max_tokens) \
            if len(index) else float("nan")
        rows.append({"lo": lo, "hi": hi, "bucket": f"{lo}–{hi - 1}", "sentences": len(index), "perplexity": ppl})
    return pd.DataFrame(rows)
