"""The Show-Attend-and-Tell experiments (Xu et al. 2015, Sec. 5) on captioned Fashion-MNIST scenes.

The paper trains soft- and hard-attention captioners on Flickr8k, Flickr30k and COCO and
scores them with BLEU-1..4 against every reference caption (Table 1); it shows, without
measuring it, that the attention falls on the object being named (Figures 2, 3, 5). Here
the images are `data.scenes` canvases of 1-4 items, whose item words come with the item's
box, so the where-it-looks claim can be measured, and a captioner without attention is
trained beside them.

`prepare` composes (or reads) the scenes and turns every reference into token ids; the
validation scenes are composed from training items with another seed, and every run records
its validation caption NLL as it trains, which `CONVERGENCE` judges.
`EncoderSpec` trains the CNN on single items (the paper's ImageNet VGG) and `annotated` runs
it once over every image: the encoder is frozen, as in the paper, so every run trains its
decoder on the same annotation grids. A `RunSpec` trains one decoder from one seed (through
`runs.run_all`, or read from the trained-model cache), captions the test scenes with beam
search and keeps the attention map of every generated word; a hard-attention run captions them three ways, reading
the expected context, the arg-max location or a sampled location at each word. The rest turns runs into the
chapter's tables: BLEU (the COCO caption evaluation's scorer, `pycocoevalcap`, as the paper used, beside nltk's
corpus BLEU), the grounded metrics, attention correctness, coverage, BLEU by the number of items; `quantities` gives
the claims their numbers with intervals over seeds.

Grounded metrics: BLEU compares words with references; the scenes know the truth. A generated caption is read back
with `scenes.parse` and checked against the scene: item precision and recall (the named classes against the scene's
items, counted with multiplicity), position-word accuracy (a lone item's region, "at the top", true of its box),
relation accuracy ("X above Y" true of some item of class X and another of class Y), and the share of captions the
grammar can read at all. Position and relation accuracy count only statements about items the scene holds (a
relation between a coat and a bag where the scene has both): naming a wrong item is a recognition error, which item
precision counts, not an error of where. A captioner without attention cannot know where items are; it is the
floor.

Attention correctness: for a generated item word (a class name) in a scene holding items
of that class, the share of the word's attention mass α_t that falls inside their boxes,
each grid cell counting with the fraction of its pixels inside a box, against the share a
uniform map would put there (the boxes' area over the canvas's). A ratio above 1 means the
model looks at the item it names more than chance; a word naming a class the scene lacks is
counted as a wrong item and has no box.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from nltk.translate.bleu_score import corpus_bleu
from pycocoevalcap.bleu.bleu import Bleu
from torch import nn

from attnmem_core import claims, convergence, decoding, intervals, runs, tables
from attnmem_core.config import check_choice
from attnmem_core.data import fashion_mnist, scenes
from attnmem_core.data.pairs import pad
from attnmem_core.models.show_attend_tell import Captioner, CaptionLoss, Encoder
from attnmem_core.runtime import seed_everything
from attnmem_core.training import random_batches, train

# Xu et al. 2015, Table 1, COCO: BLEU-1/2/3/4 (%).
PAPER_TABLE1 = {"soft": (70.7, 49.2, 34.4, 24.3), "hard": (71.8, 50.4, 35.7, 25.0)}
PAD, BOS, EOS = 0, 1, 2
WORDS = ("<pad>", "<bos>", "<eos>", *scenes.VOCABULARY)
WORD_ID = {w: i for i, w in enumerate(WORDS)}
# model name → (decoder variant, λ of the doubly stochastic regulariser, REINFORCE credit of hard attention)
MODELS = {
    "soft": ("soft", 1.0, "word"),
    "hard": ("hard", 0.0, "word"),
    "none": ("none", 0.0, "word"),
    "soft, λ = 0": ("soft", 0.0, "word"),
    "soft, λ = 0.1": ("soft", 0.1, "word"),
    "hard, caption credit": ("hard", 0.0, "caption"),
}
# how a hard-attention run reads the annotations at test time → the suffix of the name its captions go by
DECODINGS = {"argmax": "", "expected": " (expected context)", "sampled": " (sampled locations)"}
BLEU = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
GROUNDED = ("item precision", "item recall", "position accuracy", "relation accuracy", "relation chance", "parsed")


@dataclass(frozen=True)
class Scale:
    """What a profile runs. The paper: VGG's 14×14×512 annotations, RMSProp or Adam, minibatches of captions of
    one length, early stopping on validation BLEU; here a small frozen CNN, Adam and a fixed number of updates."""

    steps: int
    seeds: tuple[int, ...]
    workers: int
    train_scenes: int
    test_scenes: int
    pretrain_steps: int
    batch_size: int = 32
    learning_rate: float = 3e-3  # Adam: converges in the updates a laptop allows
    embedding: int = 64
    hidden: int = 128
    attention: int = 64
    annotation: int = 64
    widths: tuple[int, ...] = (16, 32, 64)  # three poolings: a 64-pixel canvas becomes an 8×8 grid
    canvas: int = 64
    beam: int = 5
    clip_norm: float = 5.0
    valid_scenes: int = 200  # composed from training items with another seed: convergence only
    eval_every: int = 100


PROFILES = {
    "smoke": Scale(
        steps=3,
        seeds=(0,),
        workers=1,
        train_scenes=64,
        test_scenes=40,
        pretrain_steps=2,
        batch_size=8,
        embedding=8,
        hidden=8,
        attention=8,
        annotation=8,
        widths=(4, 4, 4),
        beam=2,
        valid_scenes=16,
        eval_every=1,
    ),
    "cpu": Scale(steps=800, seeds=(0, 1, 2), workers=2, train_scenes=3000, test_scenes=500, pretrain_steps=1000),
    "gpu": Scale(
        steps=10000,
        seeds=(0, 1, 2),
        workers=1,
        train_scenes=20000,
        test_scenes=2000,
        pretrain_steps=3000,
        batch_size=64,
        learning_rate=1e-3,
        embedding=256,
        hidden=512,
        attention=256,
        annotation=128,
        widths=(32, 64, 128),
        valid_scenes=1000,
        eval_every=500,
    ),
}


def settings(scale: Scale) -> scenes.SceneSettings:
    return scenes.SceneSettings(canvas=scale.canvas)


# ---- data ---------------------------------------------------------------------------------


def encode(words: list[str]) -> list[int]:
    return [WORD_ID[w] for w in words]


def words_of(ids: list[int]) -> list[str]:
    return [WORDS[i] for i in ids]


@dataclass
class Prepared:
    """Train and test scenes, and every training reference as ids: captions (P, T+2) = <bos> words <eos> <pad>…,
    scene_of (P,) the scene each reference describes; the validation scenes and their references likewise; once
    `annotated`, the frozen encoder's annotation grids of every scene (split → (N, L, D)) and its weights."""

    train: scenes.Scenes
    test: scenes.Scenes
    captions: torch.Tensor
    scene_of: torch.Tensor
    max_words: int
    valid: scenes.Scenes
    valid_captions: torch.Tensor
    valid_scene_of: torch.Tensor
    features: dict[str, torch.Tensor] | None = None
    encoder_state: dict | None = None


def prepare(data_dir: str | Path, scale: Scale, seed: int = 0) -> Prepared:
    train_scenes = scenes.load_scenes(data_dir, "train", scale.train_scenes, settings(scale), seed)
    test_scenes = scenes.load_scenes(data_dir, "test", scale.test_scenes, settings(scale), seed)
    valid_scenes = scenes.load_scenes(data_dir, "train", scale.valid_scenes, settings(scale), seed + 1)
    max_words = max(len(r) for refs in (*train_scenes.references, *test_scenes.references) for r in refs)
    return Prepared(
        train_scenes, test_scenes, *_references(train_scenes), max_words, valid_scenes, *_references(valid_scenes)
    )


def _references(split: scenes.Scenes) -> tuple[torch.Tensor, torch.Tensor]:
    """Every reference of every scene as ids (padded), and the scene each one describes."""
    references = [(i, [BOS, *encode(r), EOS]) for i, refs in enumerate(split.references) for r in refs]
    return pad([ids for _, ids in references], PAD), torch.tensor([i for i, _ in references])


def caption_batches(features: torch.Tensor, data: Prepared, batch_size: int, seed: int):
    """Endless ((annotations, captions in), captions out): a seeded shuffle of every (scene, reference) pair per
    epoch, each batch cut to its longest caption."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(data.captions), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            captions = data.captions[index]
            captions = captions[:, : int((captions != PAD).sum(1).max())]
            yield (features[data.scene_of[index]], captions[:, :-1]), captions[:, 1:]


# ---- the encoder: pre-trained on single items, then frozen ----------------------------------


ENCODER_TEST_ITEMS = 2_000  # the encoder's accuracy is measured on the first this many Fashion-MNIST test items


@dataclass(frozen=True)
class EncoderSpec:
    """The encoder, trained from `seed` to classify single Fashion-MNIST training items (its `data` is
    `fashion_mnist.load`'s); its output is the accuracy on the first ENCODER_TEST_ITEMS test items."""

    annotation: int
    widths: tuple[int, ...]
    steps: int
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 2e-3

    @property
    def label(self) -> str:
        return "sat-encoder"

    def cache_key(self, items: fashion_mnist.FashionMNIST, device: torch.device) -> dict:
        return {**asdict(self), "data": fashion_mnist.source()["files"]}

    def build(self, items: fashion_mnist.FashionMNIST) -> Encoder:
        return Encoder(self.annotation, self.widths)

    def cost(self) -> float:
        return 1.0

    def train(self, items: fashion_mnist.FashionMNIST, device: torch.device) -> dict:
        seed_everything(self.seed)
        encoder = self.build(items).to(device)
        history = train(
            ItemClassifier(encoder),
            random_batches(items.train_images, items.train_labels, self.batch_size, self.seed),
            steps=self.steps,
            optimizer=torch.optim.Adam(encoder.parameters(), lr=self.learning_rate),
            loss_fn=nn.functional.cross_entropy,
            device=device,
            evaluate=lambda: {},
            desc=self.label,
            progress=False,
        )
        encoder.eval()
        with torch.no_grad():
            test = encoder.classify(items.test_images[:ENCODER_TEST_ITEMS].to(device)).argmax(-1).cpu()
        accuracy = (test == items.test_labels[:ENCODER_TEST_ITEMS]).float().mean()
        return runs.payload(encoder, history, {"accuracy": float(accuracy)})


def encoder_spec(scale: Scale) -> EncoderSpec:
    return EncoderSpec(scale.annotation, scale.widths, scale.pretrain_steps)


class ItemClassifier(nn.Module):
    """The encoder seen by the training loop during pre-training: items (B, 28, 28) → class logits."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.encoder.classify(items)


@torch.no_grad()
def annotate(encoder: Encoder, images: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """The frozen encoder's annotation grids (N, L, D) for images (N, 1, S, S)."""
    encoder.to(device).eval()
    return torch.cat([encoder(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def annotated(data: Prepared, encoder: runs.TrainedRun, device: torch.device) -> Prepared:
    """`data` with the trained encoder's weights and its annotation grids of every train, validation and test scene."""
    model = encoder.model(None)
    return replace(
        data,
        features={split: annotate(model, getattr(data, split).images, device) for split in ("train", "valid", "test")},
        encoder_state=encoder.state_dict,
    )


# ---- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One captioner of MODELS from one seed: its decoder trained on the frozen encoder's annotations."""

    model: str  # a key of MODELS
    seed: int
    scale: Scale

    @property
    def label(self) -> str:
        return f"sat {self.model} seed {self.seed}"

    def cache_key(self, data: Prepared, device: torch.device) -> dict:
        """Everything that decides the trained weights and the captions."""
        return {
            "model": self.model,
            "seed": self.seed,
            "scale": asdict(self.scale),
            "device": device.type,
            "encoder": asdict(encoder_spec(self.scale)),
            "scenes": settings(self.scale).as_dict(),
            "train_scenes": len(data.train),
            "test_scenes": len(data.test),
            "scene_seed": data.train.seed,
            "valid_scene_seed": data.valid.seed,
        }

    def build(self, data: Prepared) -> Captioner:
        return build(self.model, self.scale)

    def cost(self) -> float:
        return {"none": 1, "hard": 2}.get(MODELS[self.model][0], 3)

    @property
    def decodings(self) -> dict[str, str]:
        """Test-time location reading → the name its captions go by: three for "hard", arg-max locations for the
        hard ablation, the expected context (the only one) for soft and none."""
        if self.model == "hard":
            return {locations: self.model + suffix for locations, suffix in DECODINGS.items()}
        return {"argmax" if MODELS[self.model][0] == "hard" else "expected": self.model}

    def train(self, data: Prepared, device: torch.device) -> dict:
        scale = self.scale
        seed_everything(self.seed)
        model = self.build(data).to(device)
        model.encoder.load_state_dict(data.encoder_state)
        model.encoder.requires_grad_(False)  # frozen, as the paper froze VGG
        variant, regularizer, credit = MODELS[self.model]
        history = train(
            model.decoder,
            caption_batches(data.features["train"], data, scale.batch_size, self.seed),
            steps=scale.steps,
            optimizer=torch.optim.Adam(model.decoder.parameters(), lr=scale.learning_rate),
            loss_fn=CaptionLoss(variant, pad_id=PAD, regularizer=regularizer, credit=credit),
            device=device,
            clip_norm=scale.clip_norm,
            desc=self.label,
            progress=False,
            eval_every=scale.eval_every,
            evaluate=lambda: {"valid_nll": caption_nll(model.decoder, data, device)},
        )
        start, outputs = time.perf_counter(), {}
        for locations, name in self.decodings.items():
            model.decoder.test_locations = locations
            torch.manual_seed(self.seed)  # sampled locations: the same captions on every rerun
            hypotheses = caption(model, data.test.images, beam=scale.beam, max_words=data.max_words, device=device)
            torch.manual_seed(self.seed)
            maps = attention_maps(model, data.features["test"], hypotheses, device)
            outputs[name] = {"hypotheses": hypotheses, "maps": [torch.from_numpy(m).half() for m in maps]}
        model.decoder.test_locations = "expected"
        return runs.payload(model, history, {"decodings": outputs}, time.perf_counter() - start)


@torch.no_grad()
def caption_nll(decoder: nn.Module, data: Prepared, device: torch.device, batch_size: int = 256) -> float:
    """The validation references' negative log-likelihood per word, teacher-forced (hard attention takes its
    expected context outside training)."""
    decoder.eval()
    total, words = 0.0, 0
    for start in range(0, len(data.valid_captions), batch_size):
        captions = data.valid_captions[start : start + batch_size].to(device)
        features = data.features["valid"][data.valid_scene_of[start : start + batch_size]].to(device)
        logits = decoder(features, captions[:, :-1]).logits
        total += nn.functional.cross_entropy(
            logits.transpose(1, 2).float(), captions[:, 1:], ignore_index=PAD, reduction="sum"
        ).item()
        words += int((captions[:, 1:] != PAD).sum())
    return total / words


def plan(scale: Scale, seeds: list[int], steps: int) -> list[RunSpec]:
    """Every model of MODELS from every seed."""
    return [RunSpec(m, s, replace(scale, steps=steps)) for s in seeds for m in MODELS]


def build(model: str, scale: Scale) -> Captioner:
    variant, _, _ = MODELS[check_choice("model", model, tuple(MODELS))]
    return Captioner(
        len(WORDS),
        variant=variant,
        annotation_size=scale.annotation,
        widths=scale.widths,
        embedding=scale.embedding,
        hidden=scale.hidden,
        attention=scale.attention,
        pad_id=PAD,
    )


@torch.no_grad()
def caption(
    model: Captioner, images: torch.Tensor, *, beam: int, max_words: int, device: torch.device, batch_size: int = 100
) -> list[list[int]]:
    """Beam-search captions (word ids, no markers) for images (N, 1, S, S), each of at most max_words words."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        out += decoding.beam_search(
            model,
            images[start : start + batch_size].to(device),
            beam=beam,
            bos_id=BOS,
            eos_id=EOS,
            max_length=max_words + 1,
        )
    return out


@torch.no_grad()
def attention_maps(
    model: Captioner, features: torch.Tensor, captions: list[list[int]], device: torch.device, batch_size: int = 100
) -> list[np.ndarray]:
    """α (words, L) for each caption: row t is the map the decoder used to say word t (teacher forcing on the
    caption itself, which step-by-step decoding reproduces exactly; with sampled hard locations, the maps along
    one fresh draw of locations)."""
    model.eval()
    maps = []
    for start in range(0, len(captions), batch_size):
        chunk = captions[start : start + batch_size]
        captions_in = pad([[BOS, *c] for c in chunk], PAD).to(device)
        α = model.decoder(features[start : start + len(chunk)].to(device), captions_in).α.cpu()
        maps += [α[row, : len(c)].numpy() for row, c in enumerate(chunk)]
    return maps


# ---- Table 1: BLEU against every reference ----------------------------------------------------


def bleu(hypotheses: list[list[str]], references: list[list[list[str]]]) -> dict[str, float]:
    """nltk's corpus BLEU-1..4 (%), each hypothesis against all its references, no smoothing.

    nltk counts a hypothesis shorter than n words as one missed n-gram (it divides by max(1, count)), so a right
    two-word caption ("a coat") still lowers BLEU-3 and BLEU-4.
    """
    weights = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]
    with warnings.catch_warnings():  # nltk warns when an order has no match at all; the score is then 0, as shown
        warnings.simplefilter("ignore", UserWarning)
        return {name: 100 * corpus_bleu(references, hypotheses, weights=w) for name, w in zip(BLEU, weights)}


def coco_bleu(hypotheses: list[list[str]], references: list[list[list[str]]]) -> dict[str, float]:
    """BLEU-1..4 (%) by the COCO caption evaluation's scorer (`pycocoevalcap`, the paper's): corpus BLEU with the
    closest reference length for the brevity penalty and a tiny floor under empty n-gram counts, so a right
    two-word caption costs BLEU-3 and BLEU-4 far less than under nltk."""
    references_by_id = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
    hypotheses_by_id = {i: [" ".join(h)] for i, h in enumerate(hypotheses)}
    scores, _ = Bleu(4).compute_score(references_by_id, hypotheses_by_id, verbose=0)
    return {name: 100 * float(score) for name, score in zip(BLEU, scores)}


@dataclass(frozen=True)
class Decoded:
    """One run's test captions under one reading of the annotations: the name they go by (a model of MODELS, or a
    hard model with its DECODINGS suffix), the run's seed, the captions (word ids) and their maps as stored."""

    name: str
    seed: int
    hypotheses: list[list[int]]
    stored_maps: list[torch.Tensor]

    def words(self) -> list[list[str]]:
        return [words_of(h) for h in self.hypotheses]

    def maps(self) -> list[np.ndarray]:
        """The attention map α (words, L) of every test caption, as stored (half precision) in full precision."""
        return [m.float().numpy() for m in self.stored_maps]


def decoded(results: list[runs.TrainedRun]) -> list[Decoded]:
    """Every run's captions, one Decoded per run and reading (three for a hard-attention run)."""
    return [
        Decoded(name, r.spec.seed, d["hypotheses"], d["maps"])
        for r in results
        for name, d in r.outputs["decodings"].items()
    ]


def table1(captions: list[Decoded], data: Prepared) -> pd.DataFrame:
    """BLEU-1..4 per model by the COCO scorer and BLEU-4 by nltk's (mean ± spread over seeds), the paper's COCO
    numbers beside."""
    rows = []
    for name in dict.fromkeys(c.name for c in captions):
        ours = [c for c in captions if c.name == name]
        scores = [coco_bleu(c.words(), data.test.references) for c in ours]
        nltk_bleu4 = [bleu(c.words(), data.test.references)["BLEU-4"] for c in ours]
        paper = PAPER_TABLE1.get(name)
        rows.append(
            {
                "model": name,
                **{f"{b} (ours)": tables.mean_spread([s[b] for s in scores], digits=1) for b in BLEU},
                "BLEU-4, nltk (ours)": tables.mean_spread(nltk_bleu4, digits=1),
                "paper COCO BLEU-1/2/3/4": " / ".join(map(str, paper)) if paper else "—",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def bleu_by_items(captions: list[Decoded], data: Prepared) -> pd.DataFrame:
    """BLEU-4 (COCO scorer) per model, seed and number of items in the test scene."""
    counts = np.array([len(items) for items in data.test.items])
    rows = []
    for c in captions:
        words = c.words()
        for n in sorted(set(counts)):
            index = np.flatnonzero(counts == n)
            score = coco_bleu([words[i] for i in index], [data.test.references[i] for i in index])["BLEU-4"]
            rows.append({"model": c.name, "seed": c.seed, "items": int(n), "scenes": len(index), "BLEU-4": score})
    return pd.DataFrame(rows)


# ---- what the scenes know: grounded metrics ----------------------------------------------------


def grounded_counts(words: list[str], items: list[scenes.Item], canvas: int) -> dict[str, int]:
    """What one generated caption gets right about its scene, as counts (`grounded` turns them into rates); regions
    and relations count only where the scene holds the items they name."""
    named = [w for w in words if w in fashion_mnist.CLASSES]
    present = [item.noun for item in items]
    right = sum(min(named.count(c), present.count(c)) for c in set(named))
    counts = {"named": len(named), "present": len(present), "right items": right}
    counts.update({"parsed": 0, "regions": 0, "right regions": 0, "relations": 0, "right relations": 0})
    counts["chance relations"] = 0.0  # what a relation drawn at random from the four would get right
    try:
        structure = scenes.parse(words)
    except ValueError:
        return counts
    counts["parsed"] = 1
    for noun, region in structure["regions"]:
        boxes = [item.box for item in items if item.noun == words[noun]]
        if boxes:  # a region of an item the scene lacks is a recognition error, not one of place
            counts["regions"] += 1
            counts["right regions"] += any(region in scenes.regions(box, canvas) for box in boxes)
    for subject, relation, obj in structure["relations"]:
        pairs = [
            (a.box, b.box)
            for a in items
            for b in items
            if a is not b and a.noun == words[subject] and b.noun == words[obj]
        ]
        if pairs:  # likewise a relation with an item the scene lacks
            counts["relations"] += 1
            counts["right relations"] += any(scenes.holds(relation, a, b) for a, b in pairs)
            counts["chance relations"] += np.mean(
                [any(scenes.holds(r, a, b) for a, b in pairs) for r in scenes.RELATIONS]
            )
    return counts


def grounded(words: list[list[str]], data: Prepared) -> dict[str, float]:
    """Over the test captions: item precision and recall, position-word and relation accuracy, the relation accuracy
    of a relation drawn at random from the four for the same items (two items always stand in one or two of them),
    the share parsed (rates pooled over all captions; NaN where a caption set states no region or relation)."""
    total = pd.DataFrame(
        [grounded_counts(w, items, data.test.settings.canvas) for w, items in zip(words, data.test.items)]
    ).sum()

    def rate(a, b):
        return float(total[a] / total[b]) if total[b] else float("nan")

    return {
        "item precision": rate("right items", "named"),
        "item recall": rate("right items", "present"),
        "position accuracy": rate("right regions", "regions"),
        "relation accuracy": rate("right relations", "relations"),
        "relation chance": rate("chance relations", "relations"),
        "parsed": float(total["parsed"] / len(words)),
    }


# ---- where the model looks --------------------------------------------------------------------


def cell_shares(boxes: list[scenes.Box], canvas: int, grid: int) -> np.ndarray:
    """For each of the grid² cells (row-major, as the annotations), the fraction of its pixels inside any box."""
    inside = np.zeros((canvas, canvas))
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = 1.0
    cell = canvas // grid
    return inside.reshape(grid, cell, grid, cell).mean((1, 3)).ravel()


def box_mass(α: np.ndarray, boxes: list[scenes.Box], canvas: int) -> float:
    """The attention mass of one map α (L,) inside the boxes, each cell weighted by the share of it they cover."""
    return float(α @ cell_shares(boxes, canvas, int(round(np.sqrt(len(α))))))


def uniform_share(boxes: list[scenes.Box], canvas: int) -> float:
    """What a uniform map puts inside the boxes: their area over the canvas's."""
    return float(cell_shares(boxes, canvas, 1)[0])


def item_words(words: list[str], maps: np.ndarray, items: list[scenes.Item], canvas: int) -> list[dict]:
    """One row per item word of a generated caption: its attention mass on the scene's items of that class, the
    uniform share, or `wrong item` when the scene holds none of that class."""
    rows = []
    for t, word in enumerate(words):
        if word not in fashion_mnist.CLASSES:
            continue
        boxes = [item.box for item in items if item.noun == word]
        rows.append(
            {
                "word": word,
                "position": t,
                "wrong item": not boxes,
                "mass": box_mass(maps[t], boxes, canvas) if boxes else np.nan,
                "uniform": uniform_share(boxes, canvas) if boxes else np.nan,
            }
        )
    return rows


def correctness_frame(captions: Decoded, data: Prepared) -> pd.DataFrame:
    """item_words over every test scene of one run's captions."""
    rows = []
    for i, (words, α) in enumerate(zip(captions.words(), captions.maps())):
        rows += [{"scene": i, **row} for row in item_words(words, α, data.test.items[i], data.test.settings.canvas)]
    return pd.DataFrame(rows, columns=["scene", "word", "position", "wrong item", "mass", "uniform"])


def correctness(captions: Decoded, data: Prepared) -> dict[str, float]:
    """Mean attention mass on the named item, the uniform share, their ratio, and the share of wrong item words."""
    frame = correctness_frame(captions, data)
    wrong = frame["wrong item"].astype(bool)
    mass, uniform = frame["mass"][~wrong].mean(), frame["uniform"][~wrong].mean()  # NaN when no item was named
    return {
        "mass": float(mass),
        "uniform": float(uniform),
        "ratio": float(mass / uniform),
        "wrong items": float(wrong.mean()),
    }


def coverage(maps: list[np.ndarray]) -> dict[str, float]:
    """Over a caption, Σ_t α_ti per location: its mean penalty Σ_i (1 − Σ_t α_ti)² and its mean peak max_i Σ_t α_ti."""
    totals = [m.sum(0) for m in maps if len(m)]
    if not totals:  # every caption empty (an untrained model)
        return {"penalty": float("nan"), "peak": float("nan")}
    return {
        "penalty": float(np.mean([((1 - c) ** 2).sum() for c in totals])),
        "peak": float(np.mean([c.max() for c in totals])),
    }


def upsample(α: np.ndarray, canvas: int) -> np.ndarray:
    """An attention map (L,) as a (canvas, canvas) image, bilinearly interpolated over the grid (the paper
    upsampled by 16 with a Gaussian filter)."""
    grid = int(round(np.sqrt(len(α))))
    image = torch.nn.functional.interpolate(
        torch.as_tensor(α, dtype=torch.float32).view(1, 1, grid, grid),
        size=(canvas, canvas),
        mode="bilinear",
        align_corners=False,
    )
    return image[0, 0].numpy()


def summary(results: list[runs.TrainedRun], data: Prepared) -> pd.DataFrame:
    """One row per run and reading: BLEU-1..4 (COCO scorer), nltk's BLEU-4, the grounded metrics, attention
    correctness and coverage, the run's training and decoding seconds."""
    seconds = {r.spec.seed: {} for r in results}
    for r in results:
        for name in r.spec.decodings.values():
            seconds[r.spec.seed][name] = (r.train_seconds, r.decode_seconds)
    rows = []
    for c in decoded(results):
        words = c.words()
        rows.append(
            {
                "model": c.name,
                "seed": c.seed,
                **coco_bleu(words, data.test.references),
                "BLEU-4, nltk": bleu(words, data.test.references)["BLEU-4"],
                **grounded(words, data),
                **{f"correctness {k}": v for k, v in correctness(c, data).items()},
                **{f"coverage {k}": v for k, v in coverage(c.maps()).items()},
                "train seconds": seconds[c.seed][c.name][0],
                "decode seconds": seconds[c.seed][c.name][1],
            }
        )
    return pd.DataFrame(rows)


def per_seed(frame: pd.DataFrame, model: str, metric: str) -> list[float]:
    return list(frame[frame.model == model].sort_values("seed")[metric])


def pick_scenes(captions: Decoded, data: Prepared) -> tuple[int | None, int | None]:
    """Figure 2's scenes: the first test scene of 2-3 items whose caption names each of its items' classes and no
    other (else scene 0), and the first whose caption names an item the scene lacks (else None)."""
    shown = failure = None
    for i, words in enumerate(captions.words()):
        named = {w for w in words if w in fashion_mnist.CLASSES}
        present = {item.noun for item in data.test.items[i]}
        if shown is None and 2 <= len(data.test.items[i]) <= 3 and named == present:
            shown = i
        if failure is None and named - present:
            failure = i
    return shown or 0, failure


# ---- the claims' quantities and the runs' convergence -----------------------------------------

# A run has converged when its validation caption NLL stopped falling over the last half of its updates.
CONVERGENCE = convergence.Rule("valid_nll", "min")


def convergence_states(results: list[runs.TrainedRun]) -> dict[str, list[convergence.Convergence]]:
    """Model → CONVERGENCE's answer for each of its runs (one per seed); every reading of a run shares its run's."""
    return convergence.by_run(CONVERGENCE, ((name, r.history) for r in results for name in r.spec.decodings.values()))


def quantities(frame: pd.DataFrame, by_items: pd.DataFrame) -> list[claims.Quantity]:
    """The claims' numbers, each a difference between two models' seeds (Welch's t; seed i of one model is no pair
    for seed i of another), more training taken to move each model's metric its better way:
    - 'X − Y BLEU-4', 'X − Y coverage penalty' over the test scenes;
    - 'X − none, 4 items' (BLEU-4 on 4-item scenes) and 'X − none, 4 items against 1': X's BLEU-4 gain from
      1-item to 4-item scenes minus the gain of the captioner without attention;
    - 'X correctness', each model's attention correctness ratio (× chance), t over seeds;
    - 'X − none relation accuracy', '… position accuracy', '… item recall' (points), the grounded metrics;
    - 'hard − hard, caption credit BLEU-4' and '… relation accuracy': the authors' REINFORCE against ours first;
    - 'soft, λ = 0.1 − soft, λ = 0 BLEU-4': the regulariser at a tenth of the weight."""

    def at(model, n):
        rows = by_items[(by_items.model == model) & (by_items["items"] == n)].sort_values("seed")
        return np.asarray(rows["BLEU-4"])

    measured = []
    for a, b in (("hard", "soft"), ("soft", "soft, λ = 0")):
        measured.append(
            claims.between(
                f"{a} − {b} BLEU-4",
                intervals.difference(per_seed(frame, a, "BLEU-4"), per_seed(frame, b, "BLEU-4")),
                "BLEU",
                a,
                b,
                "higher",
            )
        )
    penalty = intervals.difference(
        per_seed(frame, "soft", "coverage penalty"), per_seed(frame, "soft, λ = 0", "coverage penalty")
    )
    measured.append(
        claims.between("soft − soft, λ = 0 coverage penalty", penalty, "penalty", "soft", "soft, λ = 0", "lower")
    )
    for model in ("soft", "hard"):
        measured.append(
            claims.between(
                f"{model} − none, 4 items",
                intervals.difference(at(model, 4), at("none", 4)),
                "BLEU",
                model,
                "none",
                "higher",
            )
        )
        growth = intervals.difference(at(model, 4) - at(model, 1), at("none", 4) - at("none", 1))
        measured.append(claims.between(f"{model} − none, 4 items against 1", growth, "BLEU", model, "none", "higher"))
        correct = intervals.mean(per_seed(frame, model, "correctness ratio"))
        measured.append(claims.of_model(f"{model} correctness", correct, "×", model, "higher"))
        for metric in ("relation accuracy", "position accuracy", "item recall"):
            measured.append(_points(frame, model, "none", metric))
    measured += [_points(frame, "hard", "hard, caption credit", "relation accuracy")]
    for a, b in (("hard", "hard, caption credit"), ("soft, λ = 0.1", "soft, λ = 0")):
        difference = intervals.difference(per_seed(frame, a, "BLEU-4"), per_seed(frame, b, "BLEU-4"))
        measured.append(claims.between(f"{a} − {b} BLEU-4", difference, "BLEU", a, b, "higher"))
    return measured


def _points(frame: pd.DataFrame, a: str, b: str, metric: str) -> claims.Quantity:
    """'a − b metric' of a grounded rate, in percentage points, Welch's t over seeds."""
    difference = intervals.difference(per_seed(frame, a, metric), per_seed(frame, b, metric)).scaled(100)
    return claims.between(f"{a} − {b} {metric}", difference, "pp", a, b, "higher")
