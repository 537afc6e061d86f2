"""The ConvS2S experiments (Gehring et al. 2017, Tables 4 and 5) and the essay's position claim, on chapter 2's verses.

Everything runs on the English→Spanish corpus, splits and subword vocabulary of the
align-and-translate chapter (`attnmem_core.translation`). Two kinds of run:

- the *position study*: small models on the pairs of at most `Scale.cutoff` words, each
  trained until the convergence gate says it has converged (early stopping; the weights of
  its best validation perplexity are kept) or `Scale.steps` updates have passed. Its arms:
  ConvS2S with and without source and target positions (Table 4), with attention in only the
  first or only the last decoder layer (Table 5), and chapter 4's Transformer with and without
  positions at the same data, seeds and budget. They translate the test pairs within the
  cut-off greedily, the same decoding for every arm;
- the *main run*: a larger ConvS2S on the same pairs as RNNsearch-`long` (chapter 2) for a
  fixed number of updates, evaluated like chapter 4's Transformer (validation perplexity and
  greedy validation BLEU), translating every test verse by beam search, so that the three
  architectures meet on one table. The RNNsearch and Transformer runs are chapter 2's and
  chapter 4's own specs, read from the trained-model cache.

The probe asks what an encoder knows about where a token is: a linear classifier from a
token's encoder state to its index in the verse, trained on training verses and scored on
test verses, beside the same probe on the token's word embedding alone (what the token's
identity says about its position).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

from attnmem_core import claims, convergence, intervals, runs, scoring, tables, translation
from attnmem_core.data import pairs, subwords
from attnmem_core.experiments import rnnsearch
from attnmem_core.experiments import transformer as trx
from attnmem_core.models.convs2s import ConvS2S
from attnmem_core.models.transformer import Transformer, label_smoothed_nll, lr_lambda
from attnmem_core.runtime import autocast_dtype, seed_everything
from attnmem_core.training import train

# Gehring et al. 2017, Table 4: WMT'14 En-De, validation perplexity / test BLEU, mean of 3 runs.
PAPER_TABLE4 = {
    "ConvS2S": (6.64, 21.7),
    "− source position": (6.69, 21.3),
    "− target position": (6.63, 21.5),
    "− source & target position": (6.68, 21.2),
}
# Table 5: attention in these decoder layers of a 5-layer decoder, perplexity / BLEU.
PAPER_TABLE5 = {
    "1,2,3,4,5": (6.65, 21.63),
    "1,2,3,4": (6.70, 21.54),
    "1,2,3": (6.95, 21.36),
    "1": (7.15, 21.26),
    "5": (7.66, 20.24),
}
# Sec. 4.2 and 5.1: the WMT'14 En-De model and how it was trained (dropout is applied to the embeddings, the inputs
# of the convolutional blocks and the decoder output, at a rate the paper does not state).
PAPER_MODEL = {
    "layers (encoder + decoder)": "15 + 15",
    "channels": "512 (layers 1–10), 768 (11–13), 2048 (14–15)",
    "kernel width": "3; 1 in layers 14–15",
    "embedding": "512",
    "optimizer": "Nesterov momentum 0.99, lr 0.25, gradient norm ≤ 0.1",
    "dropout": "not stated",
    "beam": "5",
    "training pairs": "4.5 M sentences",
    "updates": "18.5 days on one GPU, batches of 48 sentences",
}
# Sec. 5.4: the smaller models behind Tables 4 and 5, trained as above with a 160k-word target vocabulary.
PAPER_STUDY_MODEL = {
    "layers (encoder + decoder)": "13 + 5",
    "channels": "512",
    "kernel width": "3 (encoder), 5 (decoder)",
    "embedding": "512",
    "optimizer": PAPER_MODEL["optimizer"],
    "training pairs": PAPER_MODEL["training pairs"],
}
MAX_LEN = 256  # learned positions: more than any verse of the data has subwords (at most 113)
# A run has converged when its validation perplexity stopped falling over the last half of its updates.
CONVERGENCE = convergence.Rule("valid_perplexity", "min")


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper's WMT'14 En-De model (`PAPER_MODEL`): 15 + 15 layers of 512–2048 channels,
    embeddings 512, Nesterov's accelerated gradient, beam 5; its Table 4 and 5 models (`PAPER_STUDY_MODEL`) have 13
    encoder and 5 decoder layers."""

    seeds: tuple[int, ...]
    table5_seeds: int  # Table 5's arms train from the first this many seeds
    workers: int
    cutoff: int  # the position study: pairs of at most this many words
    steps: int  # the position study: at most this many updates, fewer when a run converges first
    main_steps: int  # the main ConvS2S on RNNsearch's long pairs
    embedding: int = 64  # the position study's ConvS2S: embedding, channels, blocks per stack
    channels: int = 64
    layers: int = 3
    d_model: int = 64  # the position study's Transformer (chapter 4's model and training, smaller)
    transformer_layers: int = 2
    heads: int = 4
    d_ff: int = 256
    warmup: int = 300
    main_embedding: int = 128  # the main ConvS2S: 4 encoder and 3 decoder blocks, the authors' small-data model
    main_channels: int = 128
    main_layers: tuple[int, int] = (4, 3)
    kernel: int = 3
    dropout: float = 0.1
    label_smoothing: float = 0.1
    learning_rate: float = 2e-3  # ConvS2S: Adam
    clip_norm: float = 1.0  # ConvS2S: gradient norm (the paper: 0.1, with Nesterov's method)
    max_tokens: int = 1000  # padded tokens per batch, the position study
    main_max_tokens: int = 2000
    eval_every: int = 50
    main_eval_every: int = 300
    beam: int = 5
    alpha: float = 0.6
    bf16: bool = False  # autocast on CUDA


PROFILES = {
    "smoke": Scale(
        seeds=(0, 1),
        table5_seeds=1,
        workers=1,
        cutoff=15,
        steps=6,
        main_steps=4,
        embedding=16,
        channels=16,
        layers=2,
        d_model=16,
        transformer_layers=1,
        heads=2,
        d_ff=32,
        warmup=4,
        main_embedding=16,
        main_channels=16,
        main_layers=(2, 2),
        max_tokens=600,
        main_max_tokens=600,
        eval_every=2,
        main_eval_every=2,
        beam=2,
    ),
    # cutoff and batch chosen on validation (convs2s_calibration.json): at most 12 words, batches of 500 tokens, runs
    # reach the gate within ~1,000 updates; the main ConvS2S passed RNNsearch's validation BLEU at 600 of 1,200
    # updates in an earlier run: 900 keep a margin
    "cpu": Scale(
        seeds=(0, 1, 2),
        table5_seeds=3,  # with one seed the verdict flipped between builds: a bootstrap over verses misses seed spread
        workers=2,
        cutoff=12,
        steps=2000,
        main_steps=600,  # it passed RNNsearch's validation BLEU at 450 in the last run, still far from converged
        max_tokens=500,
        main_eval_every=150,
        learning_rate=3e-3,
    ),
    "gpu": Scale(
        seeds=(0, 1, 2),
        table5_seeds=3,
        workers=4,
        cutoff=25,
        steps=8000,
        main_steps=6000,
        embedding=256,
        channels=256,
        layers=4,
        d_model=256,
        transformer_layers=3,
        heads=8,
        d_ff=1024,
        warmup=1000,
        main_embedding=256,
        main_channels=256,
        max_tokens=4000,
        main_max_tokens=6000,
        eval_every=250,
        main_eval_every=500,
        bf16=True,
    ),
}


# What decides a trained model of each kind (the rest of a Scale only says how many runs and where).
SHARED_FIELDS = ("kernel", "dropout", "label_smoothing", "learning_rate", "clip_norm", "beam", "alpha", "bf16")
STUDY_FIELDS = SHARED_FIELDS + (
    "cutoff",
    "steps",
    "embedding",
    "channels",
    "layers",
    "d_model",
    "transformer_layers",
    "heads",
    "d_ff",
    "warmup",
    "max_tokens",
    "eval_every",
)


@dataclass(frozen=True)
class Arm:
    """One model of the position study: an architecture, its position embeddings, and (ConvS2S) which decoder
    layers attend (None: every one, the paper's model)."""

    name: str
    model: str = "ConvS2S"  # or "Transformer"
    source_positions: bool = True
    target_positions: bool = True
    attention_layers: tuple[int, ...] | None = None


TABLE4 = (
    Arm("ConvS2S"),
    Arm("− source position", source_positions=False),
    Arm("− target position", target_positions=False),
    Arm("− source & target position", source_positions=False, target_positions=False),
)
TRANSFORMER = (Arm("Transformer", "Transformer"), Arm("Transformer − positions", "Transformer", False, False))
PROBED = (TABLE4[0], TABLE4[3], *TRANSFORMER)  # with and without positions, both architectures


def table5_arms(scale: Scale) -> tuple[Arm, ...]:
    """Attention in the first decoder layer only and in the last only (the full model, every layer, is Table 4's)."""
    return (
        Arm("attention in layer 1", attention_layers=(0,)),
        Arm(f"attention in layer {scale.layers}", attention_layers=(scale.layers - 1,)),
    )


def build_convs2s(
    arm: Arm, vocabularies: tuple[int, int], embedding: int, channels: int, layers: tuple[int, int], scale: Scale
) -> ConvS2S:
    return ConvS2S(
        *vocabularies,
        embedding=embedding,
        encoder_layers=((channels, scale.kernel),) * layers[0],
        decoder_layers=((channels, scale.kernel),) * layers[1],
        out_embedding=embedding,
        attention_layers=arm.attention_layers,
        source_positions=arm.source_positions,
        target_positions=arm.target_positions,
        dropout=scale.dropout,
        max_len=MAX_LEN,
    )


def _optimizer(arm: Arm, model: torch.nn.Module, scale: Scale):
    """ConvS2S: Adam at a constant rate, gradient norm clipped; the Transformer: chapter 4's Adam and Eq. 3."""
    if arm.model == "Transformer":
        optimizer = torch.optim.Adam(model.parameters(), lr=1.0, **trx.ADAM, fused=True)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(scale.d_model, scale.warmup)), None
    return torch.optim.Adam(model.parameters(), lr=scale.learning_rate, fused=True), None, scale.clip_norm


def _loss(scale: Scale):
    return lambda logits, target: label_smoothed_nll(logits, target, scale.label_smoothing)


@dataclass(frozen=True)
class RunSpec:
    """One arm of the position study from one seed: trained to the convergence gate (or `scale.steps`), the best
    validation weights kept, then translating the test pairs within the cut-off greedily."""

    arm: Arm
    seed: int
    scale: Scale

    @property
    def label(self) -> str:
        return f"{self.arm.name} ≤{self.scale.cutoff} seed {self.seed}"

    def cache_key(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = {k: v for k, v in asdict(self.scale).items() if k in STUDY_FIELDS}
        return {"arm": asdict(self.arm), "seed": self.seed, "scale": scale, **data.identity(), "device": device.type}

    def build(self, data: translation.Prepared) -> torch.nn.Module:
        s, arm = self.scale, self.arm
        if arm.model == "Transformer":
            return Transformer(
                *data.vocabularies(),
                layers=s.transformer_layers,
                d_model=s.d_model,
                d_ff=s.d_ff,
                heads=s.heads,
                dropout=s.dropout,
                positional="sinusoidal" if arm.source_positions else "none",
            )
        return build_convs2s(arm, data.vocabularies(), s.embedding, s.channels, (s.layers, s.layers), s)

    def cost(self) -> float:
        # the updates a run is expected to take: the cpu study's ConvS2S runs reached the gate at 650–900 of their
        # 2,000, the Transformers, slowed by their warm-up, at 900–1,200 (so they start first and no long one ends
        # the study alone)
        return self.scale.steps * (0.5 if self.arm.model == "Transformer" else 0.4)

    def train(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = self.scale
        seed_everything(self.seed)
        model = self.build(data).to(device)
        optimizer, schedule, clip = _optimizer(self.arm, model, scale)
        valid = translation.split_pairs(data, "valid", scale.cutoff)
        best = translation.BestWeights(model)

        autocast = autocast_dtype(device, scale.bf16)
        history = train(
            model,
            translation.training_batches(data, scale.cutoff, scale.max_tokens, self.seed),
            steps=scale.steps,
            optimizer=optimizer,
            scheduler=schedule,
            clip_norm=clip,
            loss_fn=_loss(scale),
            device=device,
            eval_every=scale.eval_every,
            autocast=autocast,
            evaluate=lambda: best.keep(
                {"valid_perplexity": translation.perplexity(model, *valid, device, scale.max_tokens)}
            ),
            stop=lambda rows: CONVERGENCE.judge(rows).converged,
            desc=self.label,
            progress=False,
        )
        best.restore()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            hypotheses = translation.translate(model, data, "test", device, beam=1, index=test_index(data, scale))
        decode_seconds = time.perf_counter() - start
        outputs = {"hypotheses": hypotheses}
        if self.arm in PROBED:  # on the worker, beside the other trainings, rather than after them all
            outputs["probe"] = probe(model.cpu(), data, scale.cutoff)
        return runs.payload(model, history, outputs, decode_seconds)


def test_index(data: translation.Prepared, scale: Scale) -> np.ndarray:
    """The test pairs the position study translates and scores: those within its cut-off."""
    return translation.within(data, "test", scale.cutoff)


@dataclass(frozen=True)
class MainSpec:
    """The main ConvS2S: on the pairs of at most `cutoff` words (RNNsearch's) for `scale.main_steps` updates,
    evaluated with greedy validation BLEU, then translating every test verse by beam search."""

    cutoff: int
    seed: int
    scale: Scale

    @property
    def label(self) -> str:
        return f"ConvS2S-{self.cutoff} seed {self.seed}"

    def cache_key(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = {k: v for k, v in asdict(self.scale).items() if k.startswith("main_") or k in SHARED_FIELDS}
        return {"cutoff": self.cutoff, "seed": self.seed, "scale": scale, **data.identity(), "device": device.type}

    def build(self, data: translation.Prepared) -> ConvS2S:
        s = self.scale
        return build_convs2s(Arm("ConvS2S"), data.vocabularies(), s.main_embedding, s.main_channels, s.main_layers, s)

    def cost(self) -> float:
        # in the study's units: an update of 4 times the tokens, of longer verses, at twice the width costs about 8
        # of the study's (455 against 55 ms, cpu); its validation BLEU and the beam over every test verse add more
        return self.scale.main_steps * 8 + 300

    def train(self, data: translation.Prepared, device: torch.device) -> dict:
        scale = self.scale
        seed_everything(self.seed)
        model = self.build(data).to(device)
        autocast = autocast_dtype(device, scale.bf16)
        history = train(
            model,
            translation.training_batches(data, self.cutoff, scale.main_max_tokens, self.seed),
            steps=scale.main_steps,
            optimizer=torch.optim.Adam(model.parameters(), lr=scale.learning_rate, fused=True),  # one kernel per update
            clip_norm=scale.clip_norm,
            loss_fn=_loss(scale),
            device=device,
            eval_every=scale.main_eval_every,
            autocast=autocast,
            evaluate=lambda: translation.validation(model, data, device, self.cutoff, scale.main_max_tokens),
            desc=self.label,
            progress=False,
        )
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            hypotheses = translation.translate(model, data, "test", device, beam=scale.beam, alpha=scale.alpha)
        return runs.payload(model, history, {"hypotheses": hypotheses}, time.perf_counter() - start)


def plan(scale: Scale, seeds: list[int], cutoff: int) -> list:
    """The main ConvS2S (first seed), Table 4's and the Transformer's arms for every seed, Table 5's for the first
    `scale.table5_seeds`."""
    specs = [MainSpec(cutoff, seeds[0], scale)]
    for i, seed in enumerate(seeds):
        arms = (*TABLE4, *TRANSFORMER, *(table5_arms(scale) if i < scale.table5_seeds else ()))
        specs += [RunSpec(arm, seed, scale) for arm in arms]
    return specs


def sizes(scale: Scale, data: translation.Prepared) -> pd.DataFrame:
    """The paper's model beside this profile's three: the position study's ConvS2S and Transformer, the main
    ConvS2S."""
    vocab = data.vocabularies()

    def count(model: torch.nn.Module) -> str:
        return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M"

    study = RunSpec(TABLE4[0], 0, scale).build(data)
    transformer = RunSpec(TRANSFORMER[0], 0, scale).build(data)
    main = build_convs2s(TABLE4[0], vocab, scale.main_embedding, scale.main_channels, scale.main_layers, scale)
    conv_training = f"Adam {scale.learning_rate:g}, gradient norm ≤ {scale.clip_norm:g}"
    rows = {
        "paper (WMT'14 En-De)": {**PAPER_MODEL, "parameters": "—"},
        "paper (Tables 4 and 5)": {**PAPER_STUDY_MODEL, "parameters": "—"},
        "position study: ConvS2S": {
            "layers (encoder + decoder)": f"{scale.layers} + {scale.layers}",
            "channels": scale.channels,
            "kernel width": scale.kernel,
            "embedding": scale.embedding,
            "optimizer": conv_training,
            "parameters": count(study),
        },
        "position study: Transformer": {
            "layers (encoder + decoder)": f"{scale.transformer_layers} + {scale.transformer_layers}",
            "channels": f"d_model {scale.d_model}, d_ff {scale.d_ff}, {scale.heads} heads",
            "embedding": scale.d_model,
            "optimizer": f"Adam, Eq. 3 of Vaswani et al. with {scale.warmup} warm-up updates",
            "parameters": count(transformer),
        },
        "main ConvS2S": {
            "layers (encoder + decoder)": " + ".join(map(str, scale.main_layers)),
            "channels": scale.main_channels,
            "kernel width": scale.kernel,
            "embedding": scale.main_embedding,
            "optimizer": conv_training,
            "parameters": count(main),
        },
    }
    for name in ("position study: ConvS2S", "position study: Transformer"):
        rows[name].update(
            {
                "dropout": scale.dropout,
                "training pairs": f"≤ {scale.cutoff} words",
                "updates": f"≤ {scale.steps:,} × ≤ {scale.max_tokens:,} tokens, to the convergence gate",
            }
        )
    rows["main ConvS2S"].update(
        {
            "dropout": scale.dropout,
            "training pairs": "RNNsearch's",
            "updates": f"{scale.main_steps:,} × ≤ {scale.main_max_tokens:,} tokens",
            "beam": scale.beam,
        }
    )
    return pd.DataFrame(rows).fillna("").astype(str)


def calibration() -> dict:
    """How the cpu profile's position-study scale was chosen: validation runs, recorded as data."""
    return json.loads(resources.files("attnmem_core.experiments").joinpath("convs2s_calibration.json").read_text())


def study_arms(scale: Scale) -> tuple[Arm, ...]:
    return (*TABLE4, *TRANSFORMER, *table5_arms(scale))


def plain(run: runs.TrainedRun, data: translation.Prepared) -> dict:
    """A position-study run for the results JSON."""
    return {
        "arm": asdict(run.spec.arm),
        "seed": run.spec.seed,
        "parameters": run.parameters,
        "train_seconds": run.train_seconds,
        "decode_seconds": run.decode_seconds,
        "cached": run.cached,
        "history": run.history,
        "test_bleu": study_bleu(run, data),
    }


def find(outcomes: list[runs.TrainedRun], arm: str) -> list[runs.TrainedRun]:
    """The position study's runs of one arm, by seed."""
    return sorted(
        (r for r in outcomes if isinstance(r.spec, RunSpec) and r.spec.arm.name == arm), key=lambda r: r.spec.seed
    )


# ---- what the runs measured -------------------------------------------------------------------


def test_references(data: translation.Prepared, scale: Scale) -> list[str]:
    return [data.text["test"].target[i] for i in test_index(data, scale)]


def study_bleu(run: runs.TrainedRun, data: translation.Prepared) -> float:
    """sacreBLEU of a position-study run's greedy translations of the test verses within the cut-off."""
    return scoring.bleu(run.outputs["hypotheses"], test_references(data, run.spec.scale))["score"]


def _row(group: list[runs.TrainedRun], data: translation.Prepared, states: list[convergence.Convergence]) -> dict:
    spread = tables.mean_spread
    return {
        "parameters": f"{group[0].parameters / 1e6:.2f} M",
        "valid perplexity": spread([translation.best_perplexity(r.history) for r in group]),
        "test BLEU (greedy)": spread([study_bleu(r, data) for r in group]),
        "updates": spread([r.history[-1]["step"] for r in group], digits=0),
        "converged": f"{sum(c.converged for c in states)} of {len(states)}",
        "seeds": len(group),
    }


def table4(outcomes: list[runs.TrainedRun], data: translation.Prepared, states: dict) -> pd.DataFrame:
    """Table 4's analog: ConvS2S with and without position embeddings, mean ± spread over seeds, the paper beside."""
    rows = []
    for arm in TABLE4:
        paper = PAPER_TABLE4[arm.name]
        rows.append(
            {
                "model": arm.name,
                **_row(find(outcomes, arm.name), data, states[arm.name]),
                "paper (PPL, BLEU)": f"{paper[0]}, {paper[1]}",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def positions_table(outcomes: list[runs.TrainedRun], data: translation.Prepared, states: dict) -> pd.DataFrame:
    """Both architectures with and without positions, and the BLEU each loses without them (per seed, paired)."""
    rows = []
    for full, none in ((TABLE4[0], TABLE4[3]), TRANSFORMER):
        for arm in (full, none):
            rows.append({"model": arm.name, **_row(find(outcomes, arm.name), data, states[arm.name])})
        rows[-1]["BLEU lost without positions"] = tables.mean_spread(
            position_cost(outcomes, data, full.name, none.name)
        )
    return pd.DataFrame(rows).set_index("model").fillna("")


def table5(outcomes: list[runs.TrainedRun], data: translation.Prepared, states: dict, scale: Scale) -> pd.DataFrame:
    """Table 5's analog: attention in every decoder layer, the first only, the last only; the paper's 5-layer rows."""
    paper = {"ConvS2S": "1,2,3,4,5", "attention in layer 1": "1", f"attention in layer {scale.layers}": "5"}
    rows = []
    for arm in (TABLE4[0], *table5_arms(scale)):
        group = find(outcomes, arm.name)[: scale.table5_seeds]
        ppl, bleu = PAPER_TABLE5[paper[arm.name]]
        name = "attention in every layer" if arm.name == "ConvS2S" else arm.name
        rows.append(
            {
                "model": name,
                **_row(group, data, states[arm.name][: len(group)]),
                "paper": f"layers {paper[arm.name]}: {ppl}, {bleu}",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def position_cost(outcomes: list[runs.TrainedRun], data: translation.Prepared, full: str, none: str) -> list[float]:
    """Per seed: test BLEU with positions minus without."""
    return [study_bleu(a, data) - study_bleu(b, data) for a, b in zip(find(outcomes, full), find(outcomes, none))]


# ---- the probe: what an encoder knows about where a token is ------------------------------------

PROBE_VERSES = 1000  # training verses whose encoder states train each probe


@torch.no_grad()
def _features(model: torch.nn.Module, sources: list[list[int]]) -> dict[str, np.ndarray]:
    """For every real token of `sources`: its encoder state, its word embedding alone, and its index in the verse."""
    model.eval()
    rows = {"encoder state": [], "word embedding": [], "index": []}
    for start in range(0, len(sources), 128):
        batch = [x + [subwords.EOS] for x in sources[start : start + 128]]
        x = pairs.pad(batch, subwords.PAD)
        for name, h in (("encoder state", model.encode(x)["h"]), ("word embedding", model.E_x(x))):
            rows[name] += [h[i, : len(b)].float().numpy() for i, b in enumerate(batch)]
        rows["index"] += [np.arange(len(b)) for b in batch]
    return {name: np.concatenate(parts) for name, parts in rows.items()}


def probe(model: torch.nn.Module, data: translation.Prepared, cutoff: int) -> dict[str, float]:
    """Accuracy of a linear probe (multinomial logistic regression) that reads a token's index in its verse from
    its encoder state, trained on training verses within the cut-off, scored on the test verses within it; and of
    the same probe on the token's word embedding alone (what its identity says about where it is)."""
    train = _features(model, translation.split_pairs(data, "train", cutoff)[0][:PROBE_VERSES])
    test = _features(model, translation.split_pairs(data, "test", cutoff)[0])
    accuracy = {}
    for name in ("encoder state", "word embedding"):
        mean, std = train[name].mean(0), train[name].std(0) + 1e-6
        classifier = LogisticRegression(max_iter=300).fit((train[name] - mean) / std, train["index"])
        accuracy[name] = float((classifier.predict((test[name] - mean) / std) == test["index"]).mean())
    return accuracy


def chance(data: translation.Prepared, scale: Scale) -> float:
    """The probe's floor: always the most frequent index of the training tokens, scored on the test tokens."""
    lengths = [len(x) + 1 for x in translation.split_pairs(data, "train", scale.cutoff)[0][:PROBE_VERSES]]
    majority = np.bincount(np.concatenate([np.arange(n) for n in lengths])).argmax()
    test = [len(x) + 1 for x in translation.split_pairs(data, "test", scale.cutoff)[0]]
    return float(np.mean(np.concatenate([np.arange(n) for n in test]) == majority))


def probes(outcomes: list[runs.TrainedRun]) -> pd.DataFrame:
    """The probe on the encoder states and on the word embeddings alone, per arm and seed, for the models with and
    without positions of both architectures (each run probed its own model after training)."""
    probed = [r for arm in PROBED for r in find(outcomes, arm.name)]
    return pd.DataFrame([{"model": r.spec.arm.name, "seed": r.spec.seed, **r.outputs["probe"]} for r in probed])


# ---- three architectures on one table ------------------------------------------------------------


def baselines(rnn_scale: rnnsearch.Scale, trx_scale: trx.Scale, seed: int) -> list:
    """Chapter 2's RNNsearch and chapter 4's main Transformer on the long pairs, one seed: read from the cache when
    those chapters have run with the same core library."""
    return [
        rnnsearch.RunSpec("RNNsearch", rnn_scale.long, seed, rnn_scale),
        trx.RunSpec(trx.Variant("base"), rnn_scale.long, trx_scale.steps, seed, trx_scale, test_beam=trx_scale.beam),
    ]


def comparison(rnn: runs.TrainedRun, transformer: runs.TrainedRun, main: runs.TrainedRun, data, device) -> dict:
    """Test BLEU, the paired bootstrap against RNNsearch, training time and FLOPs, and the cost of reaching
    RNNsearch's final greedy validation BLEU, for the three architectures of the book on the same pairs."""
    references, cutoff, seed = list(data.text["test"].target), rnn.spec.cutoff, rnn.spec.seed
    rnn_valid = rnn.final.get("valid_bleu")
    if rnn_valid is None:
        rnn_valid = translation.validation(rnn.model(data).to(device), data, device, cutoff, rnn.spec.scale.max_tokens)[
            "valid_bleu"
        ]
    losses = {
        "RNNsearch": translation.sequence_loss,
        "Transformer": trx.loss(transformer.spec.scale),
        "ConvS2S": _loss(main.spec.scale),
    }
    tokens = {
        "RNNsearch": rnn.spec.scale.max_tokens,
        "Transformer": transformer.spec.scale.max_tokens,
        "ConvS2S": main.spec.scale.main_max_tokens,
    }
    out = {"rnn_valid_bleu": rnn_valid, "models": {}}
    shown = {"RNNsearch": "RNNsearch (chapter 2)", "Transformer": "Transformer (chapter 4)", "ConvS2S": "ConvS2S"}
    for name, run in (("RNNsearch", rnn), ("Transformer", transformer), ("ConvS2S", main)):
        torch.manual_seed(seed)
        flops = trx.flops_per_update(run.spec.build(data), data, cutoff, tokens[name], losses[name], seed)
        out["models"][name] = {
            "label": run.spec.label,
            "shown": shown[name],
            "parameters": run.parameters,
            "test_bleu": scoring.bleu(run.outputs["hypotheses"], references)["score"],
            "bootstrap": None
            if run is rnn
            else scoring.paired_bootstrap(run.outputs["hypotheses"], rnn.outputs["hypotheses"], references, seed=seed),
            "train_seconds": run.train_seconds,
            "steps": run.final["step"],  # the updates it trained: the convergence gate may have ended it early
            "max_tokens": tokens[name],
            "flops_per_update": flops,
            "reach": None if run is rnn else translation.cost_to_reach(run.history, "valid_bleu", rnn_valid, flops),
        }
    return out


def comparison_table(measured: dict) -> pd.DataFrame:
    rows = []
    for name, m in measured["models"].items():
        boot, reach = m["bootstrap"], m["reach"]
        rows.append(
            {
                "model": m["shown"],
                "parameters": f"{m['parameters'] / 1e6:.1f} M",
                "test BLEU (beam)": f"{m['test_bleu']:.2f}",
                "− RNNsearch (95% interval)": "—"
                if boot is None
                else f"{boot['delta']:+.2f} [{boot['ci_low']:+.2f}, {boot['ci_high']:+.2f}]",
                "updates": f"{m['steps']:,} × ≤ {m['max_tokens']:,} tokens",
                "train minutes": f"{m['train_seconds'] / 60:.1f}",
                "training FLOPs": f"{m['flops_per_update'] * m['steps']:.2e}",
                "to RNNsearch's valid BLEU": "—" if reach is None else trx.reach_text({"reach": reach}),
            }
        )
    return pd.DataFrame(rows).set_index("model")


# ---- the claims' quantities and the runs' convergence ---------------------------------------------


def convergence_states(outcomes: list[runs.TrainedRun], rnn: runs.TrainedRun, transformer: runs.TrainedRun) -> dict:
    """Each run the claims name → CONVERGENCE's answer, one per seed: every arm of the position study, the main
    ConvS2S, and the RNNsearch and Transformer it meets (chapter 2's and 4's rule is the same)."""
    histories = [(r.spec.arm.name, r.history) for r in outcomes if isinstance(r.spec, RunSpec)]
    histories += [(r.spec.label, r.history) for r in outcomes if isinstance(r.spec, MainSpec)]
    histories += [(rnn.spec.label, rnn.history), (transformer.spec.label, transformer.history)]
    return convergence.by_run(CONVERGENCE, histories)


def _per_seed(outcomes, data, arm: str) -> dict[int, float]:
    return {r.spec.seed: study_bleu(r, data) for r in find(outcomes, arm)}


def quantities(
    outcomes: list[runs.TrainedRun], data: translation.Prepared, probed: pd.DataFrame, measured: dict, scale: Scale
) -> list[claims.Quantity]:
    """The claims' numbers, with intervals over seeds (Student's t over per-seed paired differences; Welch's t
    between arms; a t interval on the logs for ratios) or, with one seed, a paired bootstrap over the test verses:
    - 'Transformer − ConvS2S BLEU lost without positions': per seed, (Transformer − Transformer without positions)
      − (ConvS2S − ConvS2S without source & target positions), the essay's difference of differences;
    - 'BLEU lost without source & target position' (and each alone): ConvS2S − the arm, per seed;
    - 'ConvS2S − Transformer probe accuracy without positions', in percentage points;
    - Table 5: 'BLEU every layer − last layer only' and '− first layer only', per seed;
    - 'ConvS2S − RNNsearch BLEU' of the main run on every test verse."""
    bleu = {arm.name: _per_seed(outcomes, data, arm.name) for arm in study_arms(scale)}
    seeds = sorted(set(bleu["ConvS2S"]) & set(bleu["Transformer"]))
    conv, none = TABLE4[0].name, TABLE4[3].name
    cost = [
        (bleu["Transformer"][s] - bleu["Transformer − positions"][s]) - (bleu[conv][s] - bleu[none][s]) for s in seeds
    ]
    signs = {"Transformer": +1, "Transformer − positions": -1, conv: -1, none: +1}
    measured_ = [
        claims.Quantity("Transformer − ConvS2S BLEU lost without positions", intervals.mean(cost), "BLEU", signs)
    ]
    for arm in TABLE4[1:]:
        lost = [bleu[conv][s] - bleu[arm.name][s] for s in sorted(bleu[arm.name])]
        measured_.append(
            claims.between(
                f"BLEU lost {arm.name.replace('−', 'without')}", intervals.mean(lost), "BLEU", conv, arm.name, "higher"
            )
        )
    accuracy = probed.pivot(index="seed", columns="model", values="encoder state") * 100
    measured_.append(
        claims.between(
            "ConvS2S − Transformer probe accuracy without positions",
            intervals.difference(list(accuracy[none]), list(accuracy["Transformer − positions"])),
            "pp",
            none,
            "Transformer − positions",
            "higher",
        )
    )
    for arm in table5_arms(scale):
        measured_.append(
            claims.between(
                f"BLEU every layer − {arm.name}",
                _gap(outcomes, data, conv, arm.name, scale),
                "BLEU",
                conv,
                arm.name,
                "higher",
            )
        )
    boot = measured["models"]["ConvS2S"]["bootstrap"]
    main_label, rnn_label = measured["models"]["ConvS2S"]["label"], measured["models"]["RNNsearch"]["label"]
    measured_.append(
        claims.between(
            "ConvS2S − RNNsearch BLEU", intervals.from_bootstrap(boot), "BLEU", main_label, rnn_label, "higher"
        )
    )
    return measured_


def _gap(outcomes, data, a: str, b: str, scale: Scale) -> intervals.Interval:
    """Test BLEU of arm a − arm b over Table 5's seeds: Student's t over the per-seed differences, or with one seed
    a paired bootstrap over the test verses."""
    runs_a, runs_b = find(outcomes, a)[: scale.table5_seeds], find(outcomes, b)[: scale.table5_seeds]
    if len(runs_b) == 1:
        references = test_references(data, scale)
        return intervals.from_bootstrap(
            scoring.paired_bootstrap(
                runs_a[0].outputs["hypotheses"], runs_b[0].outputs["hypotheses"], references, seed=runs_a[0].spec.seed
            )
        )
    bleu_a = {r.spec.seed: study_bleu(r, data) for r in runs_a}
    return intervals.mean([bleu_a[r.spec.seed] - study_bleu(r, data) for r in runs_b])
