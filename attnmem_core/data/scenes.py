"""Captioned scenes of real Fashion-MNIST items, with a ground-truth box for every item word.

The stand-in for MS COCO in the Show-Attend-and-Tell replication (Xu et al. 2015): a black
canvas holds 1-4 Fashion-MNIST items at random places, and each scene has several reference
captions (COCO has five) that name every item and say where the items lie relative to each
other. Because each item word is tied to the box of the item it names, the replication can
check where the model attends when it says that word.

API
---
    settings = SceneSettings(canvas=64, min_items=1, max_items=4, scale_choices=(1,), references=5, gap=2)
    scenes = load_scenes(data_dir, "train", 5_000, settings, seed=0)   # built once, then read from the cache
    scenes = compose(images, labels, count, settings, seed)            # the same, from any (N, 28, 28) uint8 set

`Scenes` holds, for scene i:

    images[i]            (1, H, W) uint8 tensor, H = W = settings.canvas
    items[i]             list of Item(label, box, source, scale): label indexes fashion_mnist.CLASSES, source is
                         the item's index in the split it was drawn from, box = (x0, y0, x1, y1) in pixels
                         (x the column, y the row, x1 and y1 exclusive)
    references[i][r]     the words of reference caption r (settings.references of them, all different)
    word_items[i][r][t]  the index into items[i] of the item that word t names, or -1 for a function word
    word_boxes[i][r][t]  that item's box, or None

`SceneSettings.from_dict` (and `load_scenes`, given a dict) refuses unknown keys.

Composition (seeded: scene i depends only on (seed, i) and the source set, so a set of n
scenes is the first n scenes of any larger one with the same settings)
-----------
- the number of items is uniform in [min_items, max_items]; the items are drawn without
  replacement within a scene, uniformly from the source set: `load_scenes` passes the
  train split for train scenes and the test split for test scenes, and nothing else; two
  items of one class may share a scene;
- each item is its image cropped to the tight box of its non-zero pixels, then enlarged by
  an integer scale drawn from scale_choices (nearest neighbour), so its box holds exactly
  its pixels and the canvas is zero outside the boxes;
- places are drawn uniformly, one item at a time, so that every two boxes are at least
  `gap` pixels apart along x or along y (they never overlap); after 50 failed draws for an
  item the scene is started over, and after 20 such restarts the items go into random cells
  of a grid of (28 * max scale + gap)-pixel cells, which always has room;
- settings are checked before anything is drawn: 1 <= min_items <= max_items <= 4, and
  max_items items of the largest possible size (28 * max scale pixels square) must fit in
  that grid, i.e. ((canvas + gap) // (28 * max(scale_choices) + gap))**2 >= max_items:
  canvas 64 holds 4 items at scale 1, canvas 114 holds 4 at scale 2.

Captions (a small grammar; every word is a token)
--------
    caption  := NP REGION?                                   (one item)
              | NP REL GROUP ( "which" "is" REL GROUP )*      (two or more)
    GROUP    := NP ( "and" NP )*
    NP       := DET NOUN     DET = "a", or for one item also "one" | "a single" | "just a" | "only one"
    NOUN     := tshirt | trouser | pullover | dress | coat | sandal | shirt | sneaker | bag | boot
    REL      := left of | to the left of | on the left of | right of | to the right of | on the right of
              | above | over | below | under | beneath
    REGION   := on the left | on the right | at the top | at the bottom | in the middle | in the centre

"A REL B and C" says A stands in REL to B and to C; "which is REL ..." continues from the
last noun before it: "a dress above a coat and a shirt which is left of a bag" says the
dress is above the coat and the shirt, and the shirt is left of the bag. Every item is
named exactly once in every reference. A relation is used only where the boxes are
separated along its axis (A left of B: A's x1 <= B's x0; A above B: A's y1 <= B's y0), so it
is also true of the boxes' centres; since boxes never overlap, every two items have at least
one relation. A region is used for a lone item whose box centre lies in the outer third of
the canvas on that side (left, right, top, bottom), or in the middle third along both axes
(middle, centre). A reference is drawn by: a random order of the items; the first is the
subject; repeatedly, a relation the subject has with some unnamed item, a random non-empty
subset of those items as the group (in random order), a random wording of the relation;
the group's last noun becomes the next subject. References are redrawn until they differ.
`parse(words)` reads a caption back into its nouns, relations and regions (the tests check
every reference with it against the boxes).

The cache: `load_scenes` writes <data_dir>/scenes/<split>-<count>-seed<seed>-c<canvas>-<digest>.npz
(compressed numpy arrays and a JSON header; no pickle), the digest covering the settings,
the code's CACHE_VERSION and the sha256 of the Fashion-MNIST files. It is written to a
temporary name and renamed, so a failure leaves no file; a file whose header does not match,
or whose arrays do not match the sha256 stored with them (an image edited and the file saved
again), is refused with a message naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from attnmem_core.atomic import atomic_write
from attnmem_core.data import debian, fashion_mnist
from attnmem_core.data.fashion_mnist import CLASSES, SIDE

CACHE_VERSION = 2  # raise when composing or the file's format changes: the cache file's name depends on it
DATASET = "fashion_mnist_scenes"
SPLITS = ("train", "test")
MAX_ITEMS = 4
MAX_REFERENCES = 5
PLACE_TRIES, SCENE_TRIES, CAPTION_TRIES = 50, 20, 200

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1 and y1 exclusive

RELATIONS = {  # relation → its wordings
    "left": (("left", "of"), ("to", "the", "left", "of"), ("on", "the", "left", "of")),
    "right": (("right", "of"), ("to", "the", "right", "of"), ("on", "the", "right", "of")),
    "above": (("above",), ("over",)),
    "below": (("below",), ("under",), ("beneath",)),
}
REGIONS = {
    "left": (("on", "the", "left"),),
    "right": (("on", "the", "right"),),
    "top": (("at", "the", "top"),),
    "bottom": (("at", "the", "bottom"),),
    "middle": (("in", "the", "middle"), ("in", "the", "centre")),
}
DETERMINERS = (("a",), ("one",), ("a", "single"), ("just", "a"), ("only", "one"))  # all for one item; "a" else
CONNECTIVES = ("and", "which", "is")
VOCABULARY = tuple(
    sorted(
        set(CLASSES)
        | set(CONNECTIVES)
        | {w for group in (RELATIONS, REGIONS) for wordings in group.values() for phrase in wordings for w in phrase}
        | {w for d in DETERMINERS for w in d}
    )
)


# ---- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneSettings:
    """How scenes are composed; checked on construction (see the module docstring)."""

    canvas: int = 64
    min_items: int = 1
    max_items: int = MAX_ITEMS
    scale_choices: tuple[int, ...] = (1,)
    references: int = MAX_REFERENCES
    gap: int = 2

    def __post_init__(self):
        object.__setattr__(self, "scale_choices", tuple(self.scale_choices))
        for name in ("canvas", "min_items", "max_items", "references", "gap"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"scene setting {name} must be an integer, not {value!r}")
        if not self.scale_choices or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in self.scale_choices
        ):
            raise ValueError(
                f"scene setting scale_choices must be a non-empty tuple of integers >= 1, not {self.scale_choices!r}"
            )
        object.__setattr__(self, "scale_choices", tuple(int(s) for s in self.scale_choices))
        if not 1 <= self.min_items <= self.max_items <= MAX_ITEMS:
            raise ValueError(
                f"item counts out of range: need 1 <= min_items <= max_items <= {MAX_ITEMS}, "
                f"got min_items={self.min_items}, max_items={self.max_items}"
            )
        if not 1 <= self.references <= MAX_REFERENCES:
            raise ValueError(
                f"references must be 1-{MAX_REFERENCES} (the grammar guarantees {MAX_REFERENCES} "
                f"different captions for every scene), got {self.references}"
            )
        if self.gap < 1:
            raise ValueError(f"gap must be at least 1 pixel (boxes must not touch), got {self.gap}")
        if self.capacity() < self.max_items:
            size = SIDE * max(self.scale_choices)
            per_side = math.isqrt(self.max_items - 1) + 1  # grid cells per side for max_items
            need = per_side * (size + self.gap) - self.gap
            raise ValueError(
                f"canvas {self.canvas} is too small: it holds {self.capacity()} item(s) of up to "
                f"{size}x{size} pixels (28 x scale {max(self.scale_choices)}) {self.gap} pixels apart, "
                f"max_items={self.max_items} needs a canvas of at least {need}"
            )

    def capacity(self) -> int:
        """How many items of the largest possible size always fit (the grid of the module docstring)."""
        per_side = (self.canvas + self.gap) // (SIDE * max(self.scale_choices) + self.gap)
        return per_side * per_side

    @classmethod
    def from_dict(cls, values: dict) -> "SceneSettings":
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown scene setting(s) {unknown}; the settings are {', '.join(known)}")
        return cls(**values)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "scale_choices": list(self.scale_choices)}


def as_settings(settings: SceneSettings | dict | None) -> SceneSettings:
    if settings is None:
        return SceneSettings()
    if isinstance(settings, SceneSettings):
        return settings
    if isinstance(settings, dict):
        return SceneSettings.from_dict(settings)
    raise TypeError(f"settings must be a SceneSettings or a dict, not {type(settings).__name__}")


# ---- scenes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    label: int  # index into fashion_mnist.CLASSES
    box: Box  # (x0, y0, x1, y1), x1 and y1 exclusive
    source: int  # index of the image in the split it was drawn from
    scale: int

    @property
    def noun(self) -> str:
        return CLASSES[self.label]


@dataclass(frozen=True)
class Scenes:
    images: torch.Tensor  # (N, 1, H, W) uint8
    items: list[list[Item]]
    references: list[list[list[str]]]  # scene → reference → words
    word_items: list[list[list[int]]]  # scene → reference → item index per word, -1 for function words
    settings: SceneSettings
    seed: object
    split: str | None = None
    word_boxes: list[list[list[Box | None]]] = field(init=False, repr=False)

    def __post_init__(self):
        boxes = [
            [[scene[k].box if k >= 0 else None for k in ref] for ref in refs]
            for scene, refs in zip(self.items, self.word_items)
        ]
        object.__setattr__(self, "word_boxes", boxes)

    def __len__(self) -> int:
        return len(self.items)


def holds(relation: str, a: Box, b: Box) -> bool:
    """Whether box a stands in `relation` (left, right, above, below) to box b: separated along that axis."""
    if relation == "left":
        return a[2] <= b[0]
    if relation == "right":
        return a[0] >= b[2]
    if relation == "above":
        return a[3] <= b[1]
    if relation == "below":
        return a[1] >= b[3]
    raise ValueError(f"unknown relation {relation!r}; known: {', '.join(RELATIONS)}")


def regions(box: Box, canvas: int) -> list[str]:
    """The canvas regions (REGIONS) the centre of `box` lies in."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    found = []
    if cx < canvas / 3:
        found.append("left")
    if cx > 2 * canvas / 3:
        found.append("right")
    if cy < canvas / 3:
        found.append("top")
    if cy > 2 * canvas / 3:
        found.append("bottom")
    if not found:
        found.append("middle")
    return found


def tight_crop(image: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The image cut to the box of its non-zero pixels, and that box's top row and left column."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if not rows.size:
        raise ValueError("a blank image has no item to place")
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], int(rows[0]), int(cols[0])


def _apart(a: Box, b: Box, gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def _place(rng: np.random.Generator, sizes: list[tuple[int, int]], settings: SceneSettings) -> list[Box]:
    """Boxes for items of sizes (h, w), pairwise `gap` apart, inside the canvas."""
    canvas, gap = settings.canvas, settings.gap
    for _ in range(SCENE_TRIES):
        boxes: list[Box] = []
        for h, w in sizes:
            for _ in range(PLACE_TRIES):
                x, y = int(rng.integers(0, canvas - w + 1)), int(rng.integers(0, canvas - h + 1))
                box = (x, y, x + w, y + h)
                if all(_apart(box, other, gap) for other in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == len(sizes):
            return boxes
    cell = SIDE * max(settings.scale_choices) + gap  # the grid of the capacity check always has room
    per_side = (canvas + gap) // cell
    boxes = []
    for (h, w), c in zip(sizes, rng.permutation(per_side * per_side)[: len(sizes)]):
        x = int(c % per_side) * cell + int(rng.integers(0, cell - gap - w + 1))
        y = int(c // per_side) * cell + int(rng.integers(0, cell - gap - h + 1))
        boxes.append((x, y, x + w, y + h))
    return boxes


def _words(det: tuple[str, ...], item: int, labels: list[int]) -> tuple[list[str], list[int]]:
    return [*det, CLASSES[labels[item]]], [-1] * len(det) + [item]


def _reference(rng: np.random.Generator, boxes: list[Box], labels: list[int], canvas: int):
    """One caption drawn as the module docstring says: (words, item index per word)."""
    n = len(boxes)
    if n == 1:
        words, items = _words(DETERMINERS[rng.integers(len(DETERMINERS))], 0, labels)
        wordings = [None] + [w for region in regions(boxes[0], canvas) for w in REGIONS[region]]
        phrase = wordings[rng.integers(len(wordings))]
        if phrase:
            words, items = words + list(phrase), items + [-1] * len(phrase)
        return words, items
    order = [int(k) for k in rng.permutation(n)]
    subject, unnamed = order[0], order[1:]
    words, items = _words(("a",), subject, labels)
    while unnamed:
        options = [(rel, [j for j in unnamed if holds(rel, boxes[subject], boxes[j])]) for rel in RELATIONS]
        options = [(rel, objects) for rel, objects in options if objects]
        relation, objects = options[rng.integers(len(options))]
        group = [objects[int(k)] for k in rng.permutation(len(objects))[: rng.integers(1, len(objects) + 1)]]
        phrase = list(RELATIONS[relation][rng.integers(len(RELATIONS[relation]))])
        if subject != order[0]:
            phrase = ["which", "is", *phrase]
        words, items = words + phrase, items + [-1] * len(phrase)
        for k, j in enumerate(group):
            np_words, np_items = _words(("a",), j, labels)
            if k:
                np_words, np_items = ["and", *np_words], [-1, *np_items]
            words, items = words + np_words, items + np_items
        unnamed = [j for j in unnamed if j not in group]
        subject = group[-1]
    return words, items


def _references(rng, boxes, labels, settings):
    found: dict[tuple[str, ...], list[int]] = {}
    for _ in range(CAPTION_TRIES):
        words, items = _reference(rng, boxes, labels, settings.canvas)
        found.setdefault(tuple(words), items)
        if len(found) == settings.references:
            return [list(w) for w in found], list(found.values())
    raise RuntimeError(
        f"only {len(found)} different captions in {CAPTION_TRIES} draws for a scene of "
        f"{len(boxes)} item(s); the grammar should give {settings.references}"
    )


def compose(
    images,
    labels,
    count: int,
    settings: SceneSettings | dict | None = None,
    seed: int | Sequence[int] = 0,
    split: str | None = None,
) -> Scenes:
    """`count` scenes of items drawn from `images` (M, 28, 28) uint8 with `labels` (M,).

    Scene i is drawn by numpy.random.default_rng([*seed, i]) (seed an int or a sequence of ints).
    """
    settings = as_settings(settings)
    images = torch.as_tensor(images).numpy() if not isinstance(images, np.ndarray) else images
    labels = np.asarray(torch.as_tensor(labels)).astype(np.int64)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"images must be (M, {SIDE}, {SIDE}) uint8, got {tuple(images.shape)} {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be ({len(images)},), got {labels.shape}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if len(images) < settings.max_items:
        raise ValueError(f"{len(images)} source images cannot fill a scene of {settings.max_items} items")
    entropy = [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if any(s < 0 for s in entropy):
        raise ValueError(f"seed must be non-negative, got {seed!r}")
    canvas = np.zeros((count, 1, settings.canvas, settings.canvas), dtype=np.uint8)
    all_items, all_references, all_word_items = [], [], []
    for i in range(count):
        rng = np.random.default_rng([*entropy, i])
        n = int(rng.integers(settings.min_items, settings.max_items + 1))
        sources = [int(k) for k in rng.choice(len(images), n, replace=False)]
        scales = [int(s) for s in rng.choice(settings.scale_choices, n)]
        crops = [np.kron(tight_crop(images[k])[0], np.ones((s, s), dtype=np.uint8)) for k, s in zip(sources, scales)]
        boxes = _place(rng, [c.shape for c in crops], settings)
        for crop, (x0, y0, x1, y1) in zip(crops, boxes):
            canvas[i, 0, y0:y1, x0:x1] = crop
        scene_labels = [int(labels[k]) for k in sources]
        all_items.append([Item(lab, box, k, s) for lab, box, k, s in zip(scene_labels, boxes, sources, scales)])
        references, word_items = _references(rng, boxes, scene_labels, settings)
        all_references.append(references)
        all_word_items.append(word_items)
    return Scenes(
        torch.from_numpy(canvas),
        all_items,
        all_references,
        all_word_items,
        settings,
        seed if isinstance(seed, (int, np.integer)) else tuple(entropy),
        split,
    )


# ---- reading captions back ----------------------------------------------------------------------


def _match(words: list[str], at: int, phrases) -> tuple[str, ...] | None:
    for phrase in sorted(phrases, key=len, reverse=True):  # longest first: "on the left of" before "on the left"
        if tuple(words[at : at + len(phrase)]) == phrase:
            return phrase
    return None


def parse(words: Sequence[str]) -> dict:
    """A caption's structure: {'nouns': positions, 'relations': [(subject, relation, object)], 'regions':
    [(noun, region)]}, positions being word indices; a ValueError if the words are not of the grammar."""
    words = list(words)
    nouns, relations, found_regions = [], [], []
    rel_phrases = {p: r for r, ps in RELATIONS.items() for p in ps}
    region_phrases = {p: r for r, ps in REGIONS.items() for p in ps}

    def noun_phrase(at: int, determiners) -> int:
        det = _match(words, at, determiners)
        if det is None or at + len(det) >= len(words) or words[at + len(det)] not in CLASSES:
            raise ValueError(f"expected a determiner and a noun at word {at} of {' '.join(words)!r}")
        nouns.append(at + len(det))
        return at + len(det) + 1

    at = noun_phrase(0, DETERMINERS)
    single = words[: nouns[0]] != ["a"]
    subject = nouns[0]
    region = _match(words, at, region_phrases) if _match(words, at, rel_phrases) is None else None
    if region is not None:
        found_regions.append((subject, region_phrases[region]))
        at += len(region)
    while at < len(words) and region is None:
        if single:
            raise ValueError(f"a caption that opens with {' '.join(words[: nouns[0]])!r} names one item only")
        if len(nouns) > 1:
            if words[at : at + 2] != ["which", "is"]:
                raise ValueError(f"expected 'which is' at word {at} of {' '.join(words)!r}")
            at += 2
        phrase = _match(words, at, rel_phrases)
        if phrase is None:
            raise ValueError(f"expected a relation at word {at} of {' '.join(words)!r}")
        at += len(phrase)
        while True:
            at = noun_phrase(at, [("a",)])
            relations.append((subject, rel_phrases[phrase], nouns[-1]))
            if at < len(words) and words[at] == "and":
                at += 1
                continue
            break
        subject = nouns[-1]
    if at != len(words):
        raise ValueError(f"unexpected words after word {at} of {' '.join(words)!r}")
    return {"nouns": nouns, "relations": relations, "regions": found_regions}


# ---- the cache ----------------------------------------------------------------------------------


def _header(split: str, count: int, settings: SceneSettings, seed: int) -> dict:
    spec = fashion_mnist.source()
    return {
        "dataset": DATASET,
        "cache_version": CACHE_VERSION,
        "split": split,
        "count": count,
        "seed": seed,
        "settings": settings.as_dict(),
        "source": {**spec["debian"], "files": spec["files"]},
    }


def cache_path(data_dir: str | Path, split: str, count: int, settings: SceneSettings, seed: int) -> Path:
    header = _header(split, count, settings, seed)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()[:12]
    return Path(data_dir) / "scenes" / f"{split}-{count}-seed{seed}-c{settings.canvas}-{digest}.npz"


def _json_bytes(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value, separators=(",", ":")).encode(), dtype=np.uint8)


def _content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(f"{name}:{arrays[name].dtype.str}:{arrays[name].shape}:".encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def write_scenes(scenes: Scenes, header: dict, path: Path) -> None:
    """The scenes as one compressed .npz, written to a temporary name in the same folder, then renamed."""
    n, k = len(scenes), MAX_ITEMS
    item_label = np.full((n, k), -1, dtype=np.int16)
    item_box = np.full((n, k, 4), -1, dtype=np.int32)
    item_source = np.full((n, k), -1, dtype=np.int64)
    item_scale = np.zeros((n, k), dtype=np.int16)
    for i, items in enumerate(scenes.items):
        for j, item in enumerate(items):
            item_label[i, j], item_box[i, j], item_source[i, j], item_scale[i, j] = (
                item.label,
                item.box,
                item.source,
                item.scale,
            )
    arrays = dict(
        images=scenes.images.numpy(),
        item_label=item_label,
        item_box=item_box,
        item_source=item_source,
        item_scale=item_scale,
        header=_json_bytes(header),
        captions=_json_bytes({"references": scenes.references, "word_items": scenes.word_items}),
    )
    with atomic_write(path) as out:
        np.savez_compressed(out, **arrays, content_sha256=_json_bytes(_content_sha256(arrays)))


def read_scenes(path: Path, header: dict) -> Scenes:
    """The scenes cached in `path`, refused with a message naming it if damaged or built otherwise than `header`."""
    fix = f"delete {path} and load again: it is rebuilt from Fashion-MNIST"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        stored = json.loads(arrays.pop("content_sha256").tobytes())
        if (content := _content_sha256(arrays)) != stored:
            raise ValueError(f"its arrays have sha256 {content}, the file says {stored}")
        found = json.loads(arrays["header"].tobytes())
        captions = json.loads(arrays["captions"].tobytes())
        references, word_items = captions["references"], captions["word_items"]
        images, labels, boxes = arrays["images"], arrays["item_label"], arrays["item_box"]
        sources, scales = arrays["item_source"], arrays["item_scale"]
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error) as error:
        reason = " ".join(str(error).split())
        raise debian.DataSourceError(f"{path} is damaged ({type(error).__name__}: {reason}); {fix}") from error
    if found != header:
        raise debian.DataSourceError(f"{path} was built with other settings, data or code than asked for; {fix}")
    n, side = header["count"], header["settings"]["canvas"]
    if (
        images.shape != (n, 1, side, side)
        or images.dtype != np.uint8
        or len(references) != n
        or len(word_items) != n
        or labels.shape != (n, MAX_ITEMS)
        or boxes.shape != (n, MAX_ITEMS, 4)
    ):
        raise debian.DataSourceError(f"{path} is damaged (its arrays do not hold {n} scenes of {side}x{side}); {fix}")
    items = [
        [
            Item(int(labels[i, j]), tuple(int(v) for v in boxes[i, j]), int(sources[i, j]), int(scales[i, j]))
            for j in range(MAX_ITEMS)
            if labels[i, j] >= 0
        ]
        for i in range(n)
    ]
    return Scenes(
        torch.from_numpy(images),
        items,
        references,
        word_items,
        SceneSettings.from_dict(header["settings"]),
        header["seed"],
        header["split"],
    )


def load_scenes(
    data_dir: str | Path, split: str, count: int, settings: SceneSettings | dict | None = None, seed: int = 0
) -> Scenes:
    """`count` scenes of Fashion-MNIST's `split` items, composed once, then read from the cache.

    Train scenes draw only train items, test scenes only test items; scene i is seeded by (seed, split index, i).
    """
    settings = as_settings(settings)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; scenes come in {', '.join(SPLITS)}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    count, seed = int(count), int(seed)
    header = _header(split, count, settings, seed)
    path = cache_path(data_dir, split, count, settings, seed)
    if not path.is_file():
        images, labels = fashion_mnist.load(data_dir).split(split)
        scenes = compose(images, labels, count, settings, seed=(seed, SPLITS.index(split)), split=split)
        write_scenes(scenes, header, path)
    return read_scenes(path, header)
