"""The associative-retrieval task of Ba et al. 2016 (Sec. 4.1).

A sequence holds K = 4 key–value pairs — keys are letters drawn without replacement from
a–z, values are digits — then the separator "??" and a query key, one of the K keys.
The target is the query's value:

    c9k8j3f1??c  →  9

The paper uses 100,000 training, 10,000 validation and 20,000 test sequences. Ours are
drawn from one fixed seed, so every run, on every machine, sees the same sequences.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import torch

KEYS = "abcdefghijklmnopqrstuvwxyz"
VALUES = "0123456789"
VOCAB = KEYS + VALUES + "?"
PAIRS = 4
SEQUENCE_LENGTH = 2 * PAIRS + 3
SPLIT_SIZES = {"train": 100_000, "valid": 10_000, "test": 20_000}
DATA_SEED = 2016

_SEPARATOR = VOCAB.index("?")


@dataclass(frozen=True)
class RetrievalSplit:
    """Token ids (n, 11) into VOCAB and targets (n,) in 0..9, the query key's digit."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def text(self, i: int) -> str:
        return decode(self.x[i])

    def sha256(self) -> str:
        """Hash of the split as text, one `sequence<TAB>answer` line each."""
        chars = np.frombuffer(VOCAB.encode(), dtype=np.uint8)[self.x.numpy()]
        n = len(self)
        lines = np.concatenate(
            [
                chars,
                np.full((n, 1), ord("\t"), np.uint8),
                (ord("0") + self.y.numpy()).astype(np.uint8)[:, None],
                np.full((n, 1), ord("\n"), np.uint8),
            ],
            axis=1,
        )
        return hashlib.sha256(lines.tobytes()).hexdigest()


def make_split(n: int, rng: np.random.Generator) -> RetrievalSplit:
    keys = np.argsort(rng.random((n, len(KEYS))), axis=1)[:, :PAIRS]  # K distinct letters per row
    values = rng.integers(0, len(VALUES), size=(n, PAIRS))
    which = rng.integers(0, PAIRS, size=n)
    x = np.empty((n, SEQUENCE_LENGTH), dtype=np.int64)
    x[:, 0 : 2 * PAIRS : 2] = keys
    x[:, 1 : 2 * PAIRS : 2] = len(KEYS) + values
    x[:, 2 * PAIRS : 2 * PAIRS + 2] = _SEPARATOR
    x[:, -1] = keys[np.arange(n), which]
    y = values[np.arange(n), which]
    return RetrievalSplit(torch.from_numpy(x), torch.from_numpy(y))


def make_splits(seed: int = DATA_SEED, sizes: dict[str, int] = SPLIT_SIZES) -> dict[str, RetrievalSplit]:
    """The train/valid/test splits, drawn in that order from one generator (made once per process)."""
    return _make_splits(seed, tuple(sizes.items()))


@functools.lru_cache(maxsize=2)
def _make_splits(seed: int, sizes: tuple[tuple[str, int], ...]) -> dict[str, RetrievalSplit]:
    rng = np.random.default_rng(seed)
    return {name: make_split(n, rng) for name, n in sizes}


def decode(ids) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def encode(text: str) -> torch.Tensor:
    unknown = set(text) - set(VOCAB)
    if unknown:
        raise ValueError(f"{text!r} has characters outside the task's vocabulary: {''.join(sorted(unknown))}")
    return torch.tensor([VOCAB.index(c) for c in text])


def answer(text: str) -> int:
    """The task's definition, read off the text: the digit stored under the query key."""
    keys, values, query = text[0 : 2 * PAIRS : 2], text[1 : 2 * PAIRS : 2], text[-1]
    if query not in keys:
        raise ValueError(f"{text!r}: the query key {query!r} is not among the stored keys {keys!r}")
    return int(values[keys.index(query)])
