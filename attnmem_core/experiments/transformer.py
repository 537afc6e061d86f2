"""The Transformer experiments (Vaswani et al. 2017, Sec. 3.2.1, 3.5, 6; Tables 2 and 3) on chapter 2's verses.

Everything runs on the English→Spanish corpus, splits and BPE tokenization of the
align-and-translate chapter (`attnmem_core.translation`), so the Transformer meets the cached
RNNsearch of that chapter on equal terms. A run is one `Variant` of the model (heads, d_k,
positions, scaling, scoring, label smoothing) trained from one seed for some updates on pairs up to a length cut-off:

- the main run: the base variant on pairs of at most `translation.Scale.long` words, the
  same pairs as RNNsearch-40, evaluated every `eval_every` updates (validation perplexity
  and greedy validation BLEU), so the cost of reaching RNNsearch's quality can be read off;
- Table 3's rows on the pairs of at most `Scale.short` words, in batches of their own size, each trained until the
  convergence gate says it has converged (early stopping; the weights of its best validation perplexity are
  kept, and their greedy validation BLEU measured once) or `ablation_steps` updates have passed: the base from
  `base_seeds` seeds or more, so that a variant run from one seed is judged against the base's measured seed-to-seed
  spread (`against`); row (D) trains without label smoothing, and an "additive" row puts
  Bahdanau's additive scores into every head (Sec. 3.2.1's comparison, the essay's "faster and
  more space-efficient");
- the same base and learned-position runs then translate every test verse greedily (a beam
  would add its own length bias): trained on short pairs only, they test whether sinusoids
  extrapolate. Learned positions start at the sinusoids' norm (`SINUSOID_STD`), so that the
  comparison is not one of sizes.

Costs (Table 2's column) are counted by torch's FLOP counter on the first training batches
(`translation.training_flops`), with the attention written out so that its matrix products are seen.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from importlib import resources

import numpy as np
import pandas as pd
import torch
from scipy import stats

from attnmem_core import claims, convergence, intervals, runs, scoring, tables, translation
from attnmem_core.attention import cost, positional
from attnmem_core.experiments import rnnsearch
from attnmem_core.models.transformer import Transformer, label_smoothed_nll, lr_lambda
from attnmem_core.runtime import autocast_dtype, seed_everything
from attnmem_core.timing import by_turns
from attnmem_core.training import train

# Vaswani et al. 2017. Table 2: newstest2014 EN-DE BLEU and training FLOPs. Table 3: EN-DE dev perplexity / BLEU.
PAPER_TABLE2 = {"Transformer (base)": (27.3, 3.3e18), "ConvS2S": (25.16, 9.6e18)}
PAPER_TABLE3 = {
    "base": (4.92, 25.8),
    "h=1": (5.29, 24.9),
    "h=4": (5.00, 25.5),
    "h=16": (4.91, 25.8),
    "h=32": (5.01, 25.4),
    "d_k=16": (5.16, 25.1),
    "d_k=32": (5.01, 25.4),
    "ε_ls=0": (4.67, 25.3),
    "learned": (4.92, 25.7),
}
# "At least as good as RNNsearch" is non-inferiority: the Transformer's test BLEU may fall short by less than this.
NON_INFERIORITY_BLEU = 1.0
# A sinusoid row has norm √(d_model/2); learned rows drawn N(0, ½) per component start at that norm.
SINUSOID_STD = math.sqrt(0.5)
# Vaswani et al. 2017, Sec. 5–6: the base model and how it was trained.
ADAM = {"betas": (0.9, 0.98), "eps": 1e-9}  # the paper's optimiser (Sec. 5.3), kept at every scale
PAPER_BASE = {
    "layers (encoder + decoder)": "6 + 6",
    "d_model": 512,
    "heads": 8,
    "d_k = d_v": 64,
    "d_ff": 2048,
    "dropout": 0.1,
    "label smoothing": 0.1,
    "Adam β₁, β₂, ε": ", ".join(f"{v:g}" for v in (*ADAM["betas"], ADAM["eps"])),
    "warmup updates": 4000,
    "peak learning rate": "7.0e-04",
    "tokens per batch": "≈ 25,000 + 25,000",
    "updates": "100,000",
    "beam, length penalty": "4, 0.6",
}


@dataclass(frozen=True)
class Scale:
    """The Transformer's sizes and training. The paper's base: 6+6 layers, d_model 512, 8 heads, d_ff 2048,
    dropout 0.1, label smoothing 0.1, warmup 4000, batches of ~25k source + 25k target tokens, beam 4, α 0.6."""

    steps: int  # the main run's updates
    ablation_steps: int  # a Table 3 run's most, on the pairs of at most `short` words; it stops at the gate
    seeds: tuple[int, ...]
    workers: int
    heads_grid: tuple[int, ...]  # Table 3 (A): these head counts at d_k = d_v = d_model / h
    small_d_k: int  # Table 3 (B): d_k with d_v and h as in the base
    short: int  # Table 3 and extrapolation: train on pairs of at most this many words
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    d_ff: int = 512
    dropout: float = 0.1
    label_smoothing: float = 0.1
    warmup: int = 400
    lr_factor: float = 1.0  # × Eq. 3
    max_tokens: int = 2000  # padded tokens per batch
    eval_every: int = 300
    beam: int = 5
    alpha: float = 0.6
    bf16: bool = False  # autocast on CUDA
    base_seeds: int = 3  # Table 3's base trains from at least this many seeds: the spread variants are judged by
    ablation_max_tokens: int = 1000  # padded tokens per batch of a Table 3 run
    ablation_eval_every: int = 100  # a Table 3 run's evaluations: what the convergence gate sees


PROFILES = {
    "smoke": Scale(
        steps=6,
        ablation_steps=3,
        seeds=(0,),
        workers=1,
        heads_grid=(1, 4),
        small_d_k=2,
        short=8,
        layers=1,
        d_model=16,
        heads=2,
        d_ff=32,
        warmup=4,
        max_tokens=600,
        eval_every=3,
        beam=2,
        ablation_max_tokens=600,
        ablation_eval_every=1,
    ),
    # d_model 64 and batches of 1,000 tokens: an update costs about a sixth of d_model 128's at 2,000 (FLOPs per
    # token ÷ 2.9, tokens ÷ 2), which buys Table 3's runs 1,200 updates each, three times the warm-up. They stop at
    # the gate if they reach it; in this profile's minutes they do not (transformer_calibration.json: the verses of
    # at most 12 words reach it only by overfitting 2,463 pairs, and at 15 or 20 words 4,000 updates are not enough)
    "cpu": Scale(
        steps=3000,
        ablation_steps=1200,
        seeds=(0,),
        workers=2,
        heads_grid=(1, 4),
        small_d_k=4,
        short=20,
        d_model=64,
        d_ff=256,
        max_tokens=1000,
        eval_every=300,
    ),
    "gpu": Scale(
        steps=6000,
        ablation_steps=6000,
        seeds=(0, 1),
        workers=4,
        heads_grid=(1, 4, 16, 32),
        small_d_k=16,
        short=20,
        layers=4,
        d_model=256,
        heads=8,
        d_ff=1024,
        warmup=1000,
        max_tokens=6000,
        eval_every=500,
        bf16=True,
        ablation_max_tokens=6000,
        ablation_eval_every=250,
    ),
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
    scoring: str = "dot"  # "additive": Bahdanau's v_aᵀ tanh(W_a q + U_a k) in every head (Sec. 3.2.1)
    label_smoothing: float | None = None  # Table 3 row (D): ε_ls of this variant's training loss
    learned_std: float | None = None  # learned positions' initial std per component (None: 1/√d_model)


def table3_variants(scale: Scale) -> list[Variant]:
    """(A) heads at constant compute, (B) a smaller d_k, (D) no label smoothing, (E) learned positions (at the
    sinusoids' initial norm), no positions, no 1/√d_k at h = 1, and additive scores in every head."""
    heads = [
        Variant(f"h={h}", heads=h, d_k=scale.d_model // h, d_v=scale.d_model // h)
        for h in scale.heads_grid
        if h != scale.heads
    ]
    d_v = scale.d_model // scale.heads
    return heads + [
        Variant(f"d_k={scale.small_d_k}", d_k=scale.small_d_k, d_v=d_v),
        Variant("ε_ls=0", label_smoothing=0.0),
        Variant("learned", positional="learned", learned_std=SINUSOID_STD),
        Variant("no positions", positional="none"),
        Variant("h=1, unscaled", heads=1, d_k=scale.d_model, d_v=scale.d_model, scale=False),
        Variant("additive", scoring="additive"),
    ]


def paper_row(variant: Variant, scale: Scale) -> str | None:
    """The row of PAPER_TABLE3 that stands in the same relation to the paper's base (h = 8, d_k = 64) as `variant`
    does to ours: h = 1, h = base/2, 2·base, 4·base; d_k = base/4, base/2; no label smoothing; learned positions.
    None if no row does."""
    if variant.positional == "learned" and variant.heads is None and variant.d_k is None:
        return "learned"
    if not variant.scale or variant.positional != "sinusoidal" or variant.scoring != "dot":
        return None
    if variant.label_smoothing is not None:
        return "ε_ls=0" if variant.label_smoothing == 0 else None
    if variant.heads is not None:
        ratio = variant.heads / scale.heads
        return "h=1" if variant.heads == 1 else {0.5: "h=4", 2: "h=16", 4: "h=32"}.get(ratio)
    if variant.d_k is not None:
        return {0.25: "d_k=16", 0.5: "d_k=32"}.get(variant.d_k / (scale.d_model // scale.heads))
    return "base"


@dataclass(frozen=True)
class RunSpec:
    """One Transformer variant from one seed, trained for `steps` updates on the pairs of at most `cutoff` words:
    the main run, evaluated with validation perplexity and greedy validation BLEU; or (`to_gate`) a Table 3 run,
    on Table 3's batches, evaluated with validation perplexity alone and stopped at the convergence gate."""

    variant: Variant
    cutoff: int  # training pairs of at most this many words
    steps: int  # at most this many updates when `to_gate`
    seed: int
    scale: Scale
    test_beam: int = 0  # translate the test set after training with this beam (1: greedy); 0: not at all
    to_gate: bool = False  # early stopping; the best validation weights kept, their greedy validation BLEU measured

    @property
    def label(self) -> str:
        return f"Transformer {self.variant.name} ≤{self.cutoff} {self.steps}"

    def cache_key(self, data: translation.Prepared, device: torch.device) -> dict:
        """The scale enters without what only other runs use (their step counts, the seeds, the workers)."""
        scale = replace(self.scale, steps=0, ablation_steps=0, seeds=(), workers=0, base_seeds=0)
        return {
            "variant": asdict(self.variant),
            "cutoff": self.cutoff,
            "steps": self.steps,
            "seed": self.seed,
            "test_beam": self.test_beam,
            "to_gate": self.to_gate,
            "scale": asdict(scale),
            **data.identity(),
            "device": device.type,
        }

    def build(self, data: translation.Prepared) -> Transformer:
        return build(self.variant, self.scale, *data.vocabularies())

    @property
    def max_tokens(self) -> int:
        return self.scale.ablation_max_tokens if self.to_gate else self.scale.max_tokens

    def cost(self) -> float:
        """Roughly proportional to the run's time on a CPU, in the main run's updates: its most updates plus
        translating the test set (a beam costs more than greedy decoding); additive scores about double an update's
        time."""
        per_update = 2 if self.variant.scoring == "additive" else 1
        updates = self.steps * self.max_tokens / self.scale.max_tokens
        return per_update * updates + (200 if self.test_beam > 1 else 70 if self.test_beam else 0)

    def train(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = self.scale
        seed_everything(self.seed)
        model = self.build(data).to(device)
        # the fused kernel: one call per update instead of a loop over parameters, the same arithmetic
        optimizer = torch.optim.Adam(model.parameters(), lr=1.0, **ADAM, fused=True)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(scale.d_model, scale.warmup, scale.lr_factor))
        autocast = autocast_dtype(device, scale.bf16)
        best = translation.BestWeights(model)

        def evaluate() -> dict:
            metrics = translation.validation(model, data, device, self.cutoff, self.max_tokens, not self.to_gate)
            return best.keep(metrics) if self.to_gate else metrics

        history = train(
            model,
            translation.training_batches(data, self.cutoff, self.max_tokens, self.seed),
            steps=self.steps,
            optimizer=optimizer,
            scheduler=schedule,
            loss_fn=loss(scale, self.variant.label_smoothing),
            device=device,
            eval_every=scale.ablation_eval_every if self.to_gate else scale.eval_every,
            autocast=autocast,
            evaluate=evaluate,
            stop=(lambda rows: convergence_rule(scale).judge(rows).converged) if self.to_gate else None,
            desc=self.label,
            progress=False,
        )
        outputs = {}
        if self.to_gate:
            best.restore()
            bleu = translation.validation(model, data, device, self.cutoff, self.max_tokens)["valid_bleu"]
            outputs["kept"] = {**min(history, key=lambda row: row["valid_perplexity"]), "valid_bleu": bleu}
        start, hypotheses = time.perf_counter(), None
        if self.test_beam:
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                hypotheses = translation.translate(model, data, "test", device, beam=self.test_beam, alpha=scale.alpha)
        return runs.payload(model, history, {**outputs, "hypotheses": hypotheses}, time.perf_counter() - start)


def loss(scale: Scale, epsilon: float | None = None):
    """The training loss: cross-entropy to label-smoothed targets (Sec. 5.4), with ε_ls = `epsilon` or the scale's."""
    return functools.partial(label_smoothed_nll, epsilon=scale.label_smoothing if epsilon is None else epsilon)


def base_seeds(seeds: list[int], at_least: int) -> list[int]:
    """`seeds`, then the smallest other seeds until there are `at_least`."""
    extra = (s for s in itertools.count() if s not in seeds)
    return list(seeds) + [next(extra) for _ in range(at_least - len(seeds))]


def plan(scale: Scale, cutoff: int, seeds: list[int], steps: int) -> list[RunSpec]:
    """The main run on pairs of at most `cutoff` words (RNNsearch's) for every seed, then Table 3 on the pairs of at
    most `scale.short` words: the base from `base_seeds`, every variant from `seeds`; the base and learned positions
    also translate the test verses greedily (the extrapolation test)."""
    base = Variant("base")
    specs = [RunSpec(base, cutoff, steps, seed, scale, test_beam=scale.beam) for seed in seeds]
    short = functools.partial(RunSpec, cutoff=scale.short, steps=scale.ablation_steps, scale=scale, to_gate=True)
    for seed in base_seeds(seeds, scale.base_seeds):
        specs.append(short(base, seed=seed, test_beam=1))
    for variant in table3_variants(scale):
        beam = 1 if variant.positional == "learned" else 0
        specs += [short(variant, seed=seed, test_beam=beam) for seed in seeds]
    return specs


def baselines(rnn_scale: rnnsearch.Scale, seeds: list[int]) -> list[rnnsearch.RunSpec]:
    """Chapter 2's RNNsearch on its long cut-off, one per seed: read from the cache when chapter 2 has run."""
    return [rnnsearch.RunSpec("RNNsearch", rnn_scale.long, seed, rnn_scale) for seed in seeds]


def build(variant: Variant, scale: Scale, source_vocab: int, target_vocab: int) -> Transformer:
    return Transformer(
        source_vocab,
        target_vocab,
        layers=scale.layers,
        d_model=scale.d_model,
        d_ff=scale.d_ff,
        heads=variant.heads or scale.heads,
        d_k=variant.d_k,
        d_v=variant.d_v,
        dropout=scale.dropout,
        positional=variant.positional,
        scale=variant.scale,
        scoring=variant.scoring,
        learned_std=variant.learned_std,
    )


def find(outcomes: list[runs.TrainedRun], variant: str, cutoff: int, steps: int | None = None) -> list[runs.TrainedRun]:
    """The runs of one variant and cut-off (and step count, when given), by seed."""
    return sorted(
        (
            r
            for r in outcomes
            if r.spec.variant.name == variant and r.spec.cutoff == cutoff and steps in (None, r.spec.steps)
        ),
        key=lambda r: r.spec.seed,
    )


def sizes(scale: Scale, steps: int, profile: str) -> pd.DataFrame:
    """The paper's base model beside ours, setting by setting."""
    peak = scale.lr_factor * scale.d_model**-0.5 * scale.warmup**-0.5
    ours = {
        "layers (encoder + decoder)": f"{scale.layers} + {scale.layers}",
        "d_model": scale.d_model,
        "heads": scale.heads,
        "d_k = d_v": scale.d_model // scale.heads,
        "d_ff": scale.d_ff,
        "dropout": scale.dropout,
        "label smoothing": scale.label_smoothing,
        "Adam β₁, β₂, ε": ", ".join(f"{v:g}" for v in (*ADAM["betas"], ADAM["eps"])),
        "warmup updates": scale.warmup,
        "peak learning rate": f"{peak:.1e}",
        "tokens per batch": f"≤ {scale.max_tokens:,} padded (both sides; Table 3: {scale.ablation_max_tokens:,})",
        "updates": f"{steps:,} (Table 3: to the convergence gate, at most {scale.ablation_steps:,})",
        "beam, length penalty": f"{scale.beam}, {scale.alpha}",
    }
    return pd.DataFrame({"paper (base)": PAPER_BASE, f"ours ({profile})": ours}).astype(str)


def calibration() -> dict:
    """The runs that chose the `cpu` profile's settings, as recorded when they were made (with their commit)."""
    return json.loads(resources.files("attnmem_core.experiments").joinpath("transformer_calibration.json").read_text())


# ---- Table 2: quality and training cost against RNNsearch --------------------------------------


def flops_per_update(
    model: torch.nn.Module, data: translation.Prepared, cutoff: int, max_tokens: int, loss_fn, seed: int
) -> float:
    """FLOPs of one update of `model`, averaged over the first batches of its own training stream."""
    return translation.training_flops(model, translation.training_batches(data, cutoff, max_tokens, seed), loss_fn)


def costs(rnn: list[runs.TrainedRun], main: list[runs.TrainedRun], data: translation.Prepared, device) -> list[dict]:
    """Per seed: both models' test BLEU, the bootstrap between them, their FLOPs per update and in all, and the
    Transformer's cost to reach RNNsearch's final greedy validation BLEU."""
    references = list(data.text["test"].target)
    out = []
    for r, t in zip(rnn, main):
        seed, cutoff = t.spec.seed, r.spec.cutoff
        rnn_valid = translation.validation(r.model(data).to(device), data, device, cutoff, r.spec.scale.max_tokens)
        torch.manual_seed(seed)
        flops = {
            "RNNsearch": flops_per_update(
                r.spec.build(data), data, cutoff, r.spec.scale.max_tokens, translation.sequence_loss, seed
            )
        }
        torch.manual_seed(seed)
        flops["Transformer"] = flops_per_update(
            build(Variant("base"), t.spec.scale, *data.vocabularies()),
            data,
            cutoff,
            t.spec.scale.max_tokens,
            loss(t.spec.scale),
            seed,
        )
        out.append(
            {
                "seed": seed,
                "rnn_valid": rnn_valid,
                "flops": flops,
                "reach": translation.cost_to_reach(
                    t.history, "valid_bleu", rnn_valid["valid_bleu"], flops["Transformer"]
                ),
                "test_bleu": {
                    "RNNsearch": rnnsearch.bleu_on_test(r, data),
                    "Transformer": scoring.bleu(t.outputs["hypotheses"], references)["score"],
                },
                "bootstrap": scoring.paired_bootstrap(
                    r.outputs["hypotheses"], t.outputs["hypotheses"], references, seed=seed
                ),
                "rnn_flops": flops["RNNsearch"] * r.final["step"],  # the gate may end RNNsearch before its cap
                "rnn_seconds": r.train_seconds,
                "transformer_flops": flops["Transformer"] * t.spec.steps,
            }
        )
    return out


def _spread(values, digits=2) -> str:
    return tables.mean_spread(values, digits=digits)


def reach_text(cost: dict) -> str:
    reach = cost["reach"]
    if math.isinf(reach["step"]):
        return "not reached"
    return f"{reach['step']:,} updates, {reach['seconds'] / 60:.1f} min, {reach['flops']:.2e} FLOPs"


def table2(
    rnn: list[runs.TrainedRun], main: list[runs.TrainedRun], costs: list[dict], apertium_bleu: str
) -> pd.DataFrame:
    """Table 2's analog: quality and training cost of RNNsearch and the Transformer, and Apertium's BLEU."""
    empty = dict.fromkeys(
        [
            "parameters",
            "test BLEU",
            "valid perplexity",
            "valid BLEU (greedy)",
            "updates",
            "train minutes",
            "training FLOPs",
            "to RNNsearch's valid BLEU",
            "paper (EN-DE BLEU, FLOPs)",
        ],
        "—",
    )
    r0, t0 = rnn[0].spec, main[0].spec
    paper = PAPER_TABLE2["Transformer (base)"]
    rows = [
        {
            **empty,
            "model": f"RNNsearch-{r0.cutoff}",
            "parameters": f"{rnn[0].parameters / 1e6:.1f} M",
            "test BLEU": _spread([c["test_bleu"]["RNNsearch"] for c in costs]),
            "valid perplexity": _spread([translation.best_perplexity(r.history) for r in rnn]),
            "valid BLEU (greedy)": _spread([c["rnn_valid"]["valid_bleu"] for c in costs]),
            "updates": " / ".join(f"{r.final['step']:,}" for r in rnn) + f" × ≤ {r0.scale.max_tokens:,} tokens",
            "train minutes": _spread([c["rnn_seconds"] / 60 for c in costs], 1),
            "training FLOPs": f"{np.mean([c['rnn_flops'] for c in costs]):.2e}",
        },
        {
            **empty,
            "model": "Transformer (base)",
            "parameters": f"{main[0].parameters / 1e6:.1f} M",
            "test BLEU": _spread([c["test_bleu"]["Transformer"] for c in costs]),
            "valid perplexity": _spread([t.final["valid_perplexity"] for t in main]),
            "valid BLEU (greedy)": _spread([t.final["valid_bleu"] for t in main]),
            "updates": f"{t0.steps:,} × ≤ {t0.scale.max_tokens:,} tokens",
            "train minutes": _spread([t.train_seconds / 60 for t in main], 1),
            "training FLOPs": f"{np.mean([c['transformer_flops'] for c in costs]):.2e}",
            "to RNNsearch's valid BLEU": "; ".join(reach_text(c) for c in costs),
            "paper (EN-DE BLEU, FLOPs)": f"{paper[0]}, {paper[1]:.1e}".replace("e+", "e"),
        },
        {**empty, "model": "Apertium (rule-based)", "test BLEU": apertium_bleu},
    ]
    return pd.DataFrame(rows).set_index("model")


def bootstrap_table(costs: list[dict]) -> pd.DataFrame:
    """Per seed: the paired bootstrap of RNNsearch against the Transformer, and FLOPs per update."""
    return pd.DataFrame(
        [
            {
                "seed": c["seed"],
                "BLEU RNNsearch": c["bootstrap"]["bleu_a"],
                "BLEU Transformer": c["bootstrap"]["bleu_b"],
                "RNNsearch − Transformer": c["bootstrap"]["delta"],
                "95% interval": f"[{c['bootstrap']['ci_low']:.2f}, {c['bootstrap']['ci_high']:.2f}]",
                "p(RNNsearch > Transformer)": c["bootstrap"]["p_value"],
                "RNNsearch FLOPs / update": f"{c['flops']['RNNsearch']:.2e}",
                "Transformer FLOPs / update": f"{c['flops']['Transformer']:.2e}",
            }
            for c in costs
        ]
    ).round(3)


# ---- Table 3: variations on the base model --------------------------------------------------------


def table3_runs(outcomes: list[runs.TrainedRun], scale: Scale) -> dict[str, list[runs.TrainedRun]]:
    """Variant name → its Table 3 runs on the pairs of at most `scale.short` words (one per seed), the base first."""
    variants = [Variant("base")] + table3_variants(scale)
    return {v.name: find(outcomes, v.name, scale.short, scale.ablation_steps) for v in variants}


def table3_rows(table3_runs: dict[str, list[runs.TrainedRun]]) -> dict[str, list[dict]]:
    """Variant name → each seed's kept evaluation (its best validation perplexity, with the greedy validation BLEU of
    those weights), with the updates the run trained and its training seconds per update."""
    return {
        name: [
            {
                **r.outputs["kept"],
                "updates": r.final["step"],
                "seconds per update": r.final["train_seconds"] / r.final["step"],
            }
            for r in group
        ]
        for name, group in table3_runs.items()
    }


def perplexity_ratios(rows: dict[str, list[dict]], variant: str, over: str = "base") -> list[float]:
    """Per seed of `variant`, its validation perplexity over the geometric mean of `over`'s seeds."""
    reference = np.exp(np.mean(np.log([b["valid_perplexity"] for b in rows[over]])))
    return [a["valid_perplexity"] / reference for a in rows[variant]]


def against(values, reference, spread, log: bool = True) -> intervals.Interval:
    """`values` against `reference`: a ratio of geometric means (`log`) or a difference of means, over seeds. Welch's t
    when both have several seeds; otherwise a t interval whose seed-to-seed spread is that of `spread` (the base's
    seeds, n − 1 degrees of freedom): a variant trained from one seed is taken to scatter as the base does."""
    x, y, z = (np.log(np.asarray(v, float)) if log else np.asarray(v, float) for v in (values, reference, spread))
    if len(x) > 1 and len(y) > 1:
        return intervals.ratio(values, reference) if log else intervals.difference(values, reference)
    value, back = float(x.mean() - y.mean()), (math.exp if log else float)
    if len(z) < 2:
        return intervals.Interval(back(value), math.nan, math.nan, f"{len(x)} + {len(y)} seeds: no spread measured")
    half = stats.t.ppf(0.5 + intervals.CONFIDENCE / 2, len(z) - 1) * z.std(ddof=1) * math.sqrt(1 / len(x) + 1 / len(y))
    method = f"t{' on logs' if log else ''}, {len(x)} + {len(y)} seeds, spread of the base's {len(z)}"
    return intervals.Interval(back(value), back(value - half), back(value + half), method)


def table3(rows: dict[str, list[dict]], scale: Scale) -> pd.DataFrame:
    """Table 3's analog: each variant's validation perplexity and greedy BLEU, its ratio to the base, its training
    seconds per update, and the paper's row in the same relation to the paper's base."""
    out = []
    for v in [Variant("base")] + table3_variants(scale):
        attention = build(v, scale, 1, 1).encoder[0].self_attention
        paper = PAPER_TABLE3.get(paper_row(v, scale))
        measured = rows[v.name]
        out.append(
            {
                "variant": v.name,
                "seeds": len(measured),
                "h": attention.heads,
                "d_k": attention.d_k,
                "positions": v.positional,
                "scores": "additive" if v.scoring == "additive" else "q·k/√d_k" if v.scale else "q·k",
                "ε_ls": scale.label_smoothing if v.label_smoothing is None else v.label_smoothing,
                "valid perplexity": _spread([m["valid_perplexity"] for m in measured]),
                "÷ base": _spread(perplexity_ratios(rows, v.name), 3),
                "valid BLEU (greedy)": _spread([m["valid_bleu"] for m in measured]),
                "updates": _spread([m["updates"] for m in measured], 0),
                "s / update": _spread([m["seconds per update"] for m in measured], 3),
                "paper row": paper_row(v, scale) or "—",
                "paper PPL / BLEU": f"{paper[0]} / {paper[1]}" if paper else "—",
            }
        )
    return pd.DataFrame(out).set_index("variant")


def _dot_and_additive(data: translation.Prepared, scale: Scale, batches: int) -> tuple[dict, list]:
    """The base ("dot") and the additive Transformer, both freshly built from seed 0 in training mode, and the first
    `batches` batches of Table 3's stream: what the attention-cost comparisons measure on."""
    models = {}
    for variant in (Variant("base"), Variant("additive", scoring="additive")):
        torch.manual_seed(0)
        models[variant.scoring] = build(variant, scale, *data.vocabularies()).train()
    stream = translation.training_batches(data, scale.short, scale.ablation_max_tokens, 0)
    return models, [next(stream) for _ in range(batches)]


def attention_memory(data: translation.Prepared, scale: Scale, batches: int = 4) -> list[float]:
    """Per training batch: the bytes autograd keeps for the backward pass of a whole update of the additive
    Transformer over those of the base (`_dot_and_additive`)."""
    models, work = _dot_and_additive(data, scale, batches)
    ratios = []
    for (x, y_in), y_out in work:
        saved = {k: cost.saved_bytes(lambda m=m: loss(scale)(m(x, y_in), y_out)) for k, m in models.items()}
        ratios.append(saved["additive"] / saved["dot"])
    return ratios


def update_seconds(data: translation.Prepared, scale: Scale, batches: int = 4, repeats: int = 9) -> list[float]:
    """Per repetition: the seconds of `batches` training updates (forward, backward, Adam step) of the additive
    Transformer over those of the base, on the same batches (`_dot_and_additive`), timed by turns in this process so
    that both meet the same machine at the same time. (A training run's own seconds per update depend on what runs
    beside it: 0.115 to 0.166 s for the same model.) Nine repetitions: a round that the machine stalls gives a ratio
    far off the rest, and among five, two such rounds widened the interval past 1."""
    models, work = _dot_and_additive(data, scale, batches)
    updates = {}
    for name, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

        def update(model=model, optimizer=optimizer) -> None:
            for (x, y_in), y_out in work:
                loss(scale)(model(x, y_in), y_out).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

        updates[name] = update
    seconds = by_turns(updates, repeats)
    return [additive / dot for additive, dot in zip(seconds["additive"], seconds["dot"])]


def position_norms(learned: runs.TrainedRun, data: translation.Prepared, scale: Scale) -> pd.DataFrame:
    """Mean norm of the source side's position vectors: the sinusoids, and learned rows at initialisation and after
    training, at the positions the training pairs reached and beyond them (never updated)."""
    reached = max(len(x) for x in translation.split_pairs(data, "train", scale.short)[0]) + 1  # with <eos>
    trained = learned.model(data).position_x.embedding.weight.detach()
    torch.manual_seed(learned.spec.seed)
    initial = build(learned.spec.variant, scale, *data.vocabularies()).position_x.embedding.weight.detach()
    limit = 2 * reached
    sinusoid = positional.sinusoids(torch.arange(limit), scale.d_model).norm(dim=-1).mean().item()
    rows = {"sinusoids": {"reached in training": sinusoid, "beyond": sinusoid}}
    for name, table in (("learned, initial", initial), ("learned, trained", trained)):
        norms = table[:limit].norm(dim=-1)
        rows[name] = {"reached in training": norms[:reached].mean().item(), "beyond": norms[reached:].mean().item()}
    return pd.DataFrame(rows).T.assign(positions=f"0–{reached - 1} | {reached}–{limit - 1}")


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
        dots = (q * k).sum(-1)  # (samples, keys)
        for scaled in (True, False):
            p = torch.softmax(dots / math.sqrt(d_k) if scaled else dots, -1)
            jacobian = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
            rows.append(
                {
                    "d_k": d_k,
                    "scaled": scaled,
                    "variance of q·k": dots.var().item(),
                    "softmax entropy": -(p * p.clamp_min(1e-30).log()).sum(-1).mean().item(),
                    "Jacobian norm": torch.linalg.matrix_norm(jacobian).mean().item(),
                }
            )
    return pd.DataFrame(rows)


# ---- extrapolation: longer than anything seen in training -------------------------------------------


def extrapolation(
    sinusoidal: list[runs.TrainedRun], learned: list[runs.TrainedRun], data: translation.Prepared, scale: Scale, device
) -> dict:
    """Sinusoidal against learned positions, both trained on pairs of at most `scale.short` words: BLEU and
    perplexity by test length (mean over seeds), and per seed the paired bootstrap on the longer test verses,
    the BLEU difference on the lengths seen in training, and each kind's perplexity beyond them."""
    references, lengths = list(data.text["test"].target), data.words("test")
    edges = [1, scale.short + 1, scale.short + 11, scale.short + 21, 1000]
    longer, seen = np.flatnonzero(lengths > scale.short), np.flatnonzero(lengths <= scale.short)

    def bleu_on(r: runs.TrainedRun, index) -> float:
        return scoring.bleu([r.outputs["hypotheses"][i] for i in index], [references[i] for i in index])["score"]

    def perplexities(r: runs.TrainedRun, buckets: list[int]) -> pd.DataFrame:
        return translation.perplexity_by_length(
            r.model(data).to(device), data, "test", buckets, scale.max_tokens, device
        )

    frames = []
    for kind, group in (("sinusoidal", sinusoidal), ("learned", learned)):
        for r in group:
            bleu = scoring.bleu_by_length(r.outputs["hypotheses"], references, lengths, edges)
            frames.append(
                bleu.assign(positions=kind, seed=r.spec.seed, perplexity=perplexities(r, edges).perplexity.to_numpy())
            )
    by_length = (
        pd.concat(frames)
        .groupby(["positions", "bucket", "lo"], sort=False, as_index=False)
        .agg(sentences=("sentences", "first"), bleu=("bleu", "mean"), perplexity=("perplexity", "mean"))
    )
    return {
        "by_length": by_length,
        "longer": len(longer),
        "beyond": [
            scoring.paired_bootstrap(
                [s.outputs["hypotheses"][i] for i in longer],
                [lr.outputs["hypotheses"][i] for i in longer],
                [references[i] for i in longer],
                seed=s.spec.seed,
            )
            for s, lr in zip(sinusoidal, learned)
        ],
        "within_delta": [bleu_on(s, seen) - bleu_on(lr, seen) for s, lr in zip(sinusoidal, learned)],
        "perplexity_beyond": {
            kind: [perplexities(r, [scale.short + 1, 1000]).perplexity[0] for r in group]
            for kind, group in (("sinusoidal", sinusoidal), ("learned", learned))
        },
    }


# ---- the claims' quantities and the runs' convergence -----------------------------------------


def convergence_rule(scale: Scale) -> convergence.Rule:
    """A Transformer run has converged when its validation perplexity stopped falling over the last half of its
    updates, and only once that half lies after the warm-up: until then the learning rate is still rising, and a
    noisy early curve can pass the rule's noise clause (a run stopped there at 300 updates of a 400-update warm-up)."""
    return convergence.Rule("valid_perplexity", "min", min_steps=2 * scale.warmup)


def base_label(scale: Scale) -> str:
    """Table 3's base, as the claims name it: 'base ≤20'."""
    return f"base ≤{scale.short}"


def convergence_states(
    rnn: list[runs.TrainedRun], main: list[runs.TrainedRun], outcomes: list[runs.TrainedRun], scale: Scale
) -> dict[str, list[convergence.Convergence]]:
    """Each run the claims name → its convergence, one per seed: RNNsearch by chapter 2's rule; the main Transformer,
    Table 3's base ('base ≤20') and each variant, and the two extrapolation runs ('sinusoidal ≤20', 'learned ≤20':
    Table 3's base and learned positions) by `convergence_rule`."""
    judged = convergence.by_run(rnnsearch.CONVERGENCE, [(r.spec.label, r.history) for r in rnn])
    histories = [("Transformer", r.history) for r in main]
    for name, group in table3_runs(outcomes, scale).items():
        histories += [(base_label(scale) if name == "base" else name, r.history) for r in group]
    for kind, name in (("sinusoidal", "base"), ("learned", "learned")):
        histories += [(f"{kind} ≤{scale.short}", r.history) for r in find(outcomes, name, scale.short)]
    return {**judged, **convergence.by_run(convergence_rule(scale), histories)}


def attention_costs(update_ratios: list[float], memory_ratios: list[float], scale: Scale) -> list[claims.Quantity]:
    """The additive Transformer's seconds per training update over the base's (`update_seconds`, mean over
    repetitions), and its memory kept for the backward pass over the base's (`attention_memory`, mean over training
    batches). Training longer moves neither (an update costs the same early as late, and both are measured on fresh
    models), so neither waits for the runs to converge."""
    runs_ = {"additive": 0, base_label(scale): 0}
    return [
        claims.Quantity(
            "seconds per update additive / dot-product", intervals.mean(update_ratios, over="repetitions"), "×", runs_
        ),
        claims.Quantity(
            "memory for the backward pass additive / dot-product",
            intervals.mean(memory_ratios, over="training batches"),
            "×",
            runs_,
        ),
    ]


def quantities(
    rnn: list[runs.TrainedRun],
    main: list[runs.TrainedRun],
    data: translation.Prepared,
    scale: Scale,
    costs: list[dict],
    ablation: dict[str, list[dict]],
    extrapolation: dict,
    jacobian_ratio: float,
    update_ratios: list[float],
    memory_ratios: list[float],
) -> list[claims.Quantity]:
    """The claims' numbers, with intervals over seeds (Welch's t; Student's t for a per-seed cost ratio; `against`
    for a Table 3 variant of one seed against the base's several) or, for one seed, a paired bootstrap over the test
    verses:
    - 'Transformer − RNNsearch BLEU' on the test verses (`rnnsearch.bleu_gap`);
    - the Transformer's FLOPs and seconds to reach RNNsearch's validation BLEU over RNNsearch's training FLOPs and
      seconds (infinite when it never did);
    - Table 3's validation perplexity ratios to the base (h = 1, learned positions, no label smoothing; unscaled
      h = 1 to scaled h = 1) and the greedy validation BLEU of the base over no label smoothing;
    - the additive Transformer's training seconds per update and memory for the backward pass over the base's
      (`attention_costs`);
    - 'sinusoidal − learned BLEU beyond the cut-off' on the test verses longer than any seen in training;
    - the Jacobian ratio on random vectors, which no run can change: an illustration."""
    label, base = rnn[0].spec.label, base_label(scale)
    measured = [
        claims.between(
            "Transformer − RNNsearch BLEU", rnnsearch.bleu_gap(main, rnn, data), "BLEU", "Transformer", label, "higher"
        )
    ]
    for cost_, total in (("flops", "rnn_flops"), ("seconds", "rnn_seconds")):
        ratio = intervals.mean([c["reach"][cost_] / c[total] for c in costs])
        measured.append(
            claims.between(
                f"Transformer {cost_} to RNNsearch's valid BLEU / RNNsearch's",
                ratio,
                "×",
                "Transformer",
                label,
                "lower",
            )
        )

    def values(name: str, key: str = "valid_perplexity") -> list[float]:
        return [row[key] for row in ablation[name]]

    spread = values("base")
    for variant, over in (("h=1", "base"), ("learned", "base"), ("ε_ls=0", "base"), ("h=1, unscaled", "h=1")):
        ppl = against(values(variant), values(over), spread)
        over_label = base if over == "base" else over
        measured.append(claims.between(f"perplexity {variant} / {over}", ppl, "×", variant, over_label, "lower"))
    bleu = against(values("base", "valid_bleu"), values("ε_ls=0", "valid_bleu"), values("base", "valid_bleu"), False)
    measured.append(claims.between("valid BLEU base − ε_ls=0", bleu, "BLEU", base, "ε_ls=0", "higher"))
    measured += attention_costs(update_ratios, memory_ratios, scale)
    beyond = extrapolation["beyond"]
    gap = (
        intervals.from_bootstrap(beyond[0])
        if len(beyond) == 1
        else intervals.difference([b["bleu_a"] for b in beyond], [b["bleu_b"] for b in beyond])
    )
    measured.append(
        claims.between(
            "sinusoidal − learned BLEU beyond the cut-off",
            gap,
            "BLEU",
            f"sinusoidal ≤{scale.short}",
            f"learned ≤{scale.short}",
            "higher",
        )
    )
    measured.append(
        claims.Quantity(
            "Jacobian norm unscaled / scaled at d_k = d_model, random vectors",
            intervals.Interval(jacobian_ratio, np.nan, np.nan, "random vectors"),
            "×",
            {},
        )
    )
    return measured
