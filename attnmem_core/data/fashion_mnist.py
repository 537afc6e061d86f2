"""`fashion_mnist`: the 70,000 Fashion-MNIST images (Xiao, Rasul & Vollgraf 2017), read from Debian.

Zalando's 28×28 greyscale product photos in 10 classes, 60,000 train and 10,000 test, the
items of the Show-Attend-and-Tell scenes (`attnmem_core.data.scenes`). They come from the
Debian package `dataset-fashion-mnist` (pinned with sha256 in data/sources.json), fetched
and unpacked without root by `attnmem_core.data.debian`; it installs the four IDX files of
the upstream repository, gzipped, under usr/share/datasets/fashion-mnist/.

IDX (LeCun's MNIST format) is read here by `read_idx`, a small reader, rather than by
torchvision: `torchvision.datasets.mnist.read_image_file` takes only an uncompressed file,
and a damaged one surfaces as an AssertionError, KeyError or reshape error that does not
name the file. The format, all integers big-endian:

    bytes 0-1   0x00 0x00
    byte  2     the element type: 0x08 = unsigned byte (the only one Fashion-MNIST uses)
    byte  3     the number of dimensions d (3 for images, 1 for labels)
    4 bytes × d the size of each dimension (count, rows, columns for images)
    the rest    the elements, row-major: exactly the product of the sizes, one byte each

A file starting with gzip's magic (1f 8b) is decompressed first. Anything else is an
`IdxFormatError` that names the file: a wrong magic number, a wrong count or item shape, a
truncated file (fewer bytes than its header announces, or a cut gzip stream), trailing
bytes, a label outside 0-9. Nothing is written: the only thing in the cache is the unpacked
package, which `debian.fetch` puts there by one rename.

The class names are single lowercase words, so that captions can use them as tokens:
CLASSES[k] for label k (upstream: TITLES[k]).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attnmem_core.data import debian

SOURCES = Path(__file__).resolve().parents[2] / "data" / "sources.json"
NAME = "fashion_mnist"
CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
TITLES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SIDE = 28  # pixels per image side
SIZES = {"train": 60_000, "test": 10_000}
UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """An IDX file is not the one expected (magic number, sizes, length, values); the message names the file."""


def read_idx(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """The unsigned-byte IDX array in `path` (plain or gzipped), checked to have exactly `shape`.

    A missing file raises FileNotFoundError (which names it); a malformed one IdxFormatError.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise IdxFormatError(
                f"{path} is a damaged or truncated gzip file ({type(error).__name__}: {error})"
            ) from error
    dims = len(shape)
    magic = bytes([0, 0, UNSIGNED_BYTE, dims])
    if len(raw) < 4 + 4 * dims:
        raise IdxFormatError(
            f"{path} is truncated: {len(raw)} bytes, too short for an IDX header of {dims} dimension(s)"
        )
    if raw[:4] != magic:
        raise IdxFormatError(
            f"{path} has magic number 0x{raw[:4].hex()}, expected 0x{magic.hex()} "
            f"(unsigned bytes, {dims} dimension(s)): not the expected IDX file"
        )
    found = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims))
    if found != tuple(shape):
        what = "count" if found[0] != shape[0] else "item shape"
        raise IdxFormatError(f"{path} has a wrong {what}: its header says {found}, expected {tuple(shape)}")
    body = memoryview(raw)[4 + 4 * dims :]
    expected = int(np.prod(shape))
    if len(body) < expected:
        raise IdxFormatError(f"{path} is truncated: {len(body)} bytes of data, its header announces {expected}")
    if len(body) > expected:
        raise IdxFormatError(f"{path} has {len(body) - expected} bytes after the {expected} its header announces")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def read_images(path: str | Path, count: int) -> torch.Tensor:
    """(count, 28, 28) uint8 images from an IDX file."""
    return torch.from_numpy(read_idx(path, (count, SIDE, SIDE)))


def read_labels(path: str | Path, count: int) -> torch.Tensor:
    """(count,) int64 labels, each an index into CLASSES, from an IDX file."""
    labels = read_idx(path, (count,))
    if labels.size and labels.max() >= len(CLASSES):
        bad = int(np.flatnonzero(labels >= len(CLASSES))[0])
        raise IdxFormatError(
            f"{path} has label {labels[bad]} at index {bad}; Fashion-MNIST's labels are 0-{len(CLASSES) - 1}"
        )
    return torch.from_numpy(labels.astype(np.int64))


@dataclass(frozen=True)
class FashionMNIST:
    """Both splits: images (N, 28, 28) uint8, labels (N,) int64 indexing CLASSES; the sha256 of the files read."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    sha256: dict[str, str]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of 'train' or 'test'."""
        if name not in SIZES:
            raise ValueError(f"unknown split {name!r}; Fashion-MNIST has {', '.join(SIZES)}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def source(name: str = NAME) -> dict:
    return json.loads(SOURCES.read_text())[name]


def load(data_dir: str | Path) -> FashionMNIST:
    """Fashion-MNIST's train (60,000) and test (10,000) splits, fetching the Debian package into data_dir if needed."""
    spec = source()
    package = spec["debian"]
    root = debian.fetch(package["package"], package["version"], data_dir, package["deb_sha256"])
    arrays = {}
    for split, files in spec["splits"].items():
        count = files["count"]
        images = debian.verified(root / files["images"], spec["files"][files["images"]], root)
        labels = debian.verified(root / files["labels"], spec["files"][files["labels"]], root)
        arrays[f"{split}_images"] = read_images(images, count)
        arrays[f"{split}_labels"] = read_labels(labels, count)
    return FashionMNIST(**arrays, sha256=dict(spec["files"]))
