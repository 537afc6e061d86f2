"""Trained models kept on disk, so that a chapter reuses what another chapter trained.

The translation chapters share baselines: chapter 4 compares the Transformer with the
RNNsearch that chapter 2 trained, on the same data and tokenization. A trained model is
stored as

    <directory>/<name>-<key>.pt    key = sha256(configuration, core-library source)[:16]

where the configuration holds everything that decides the trained weights (data,
tokenizer, sizes, steps, seed, device kind). Any change to the core library's source
changes the key: an edit to a model or to the training loop never reuses stale weights.
The file appears by one rename of a finished temporary file.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from attnmem_core.atomic import atomic_write

CORE = Path(__file__).resolve().parent


def core_digest(core: Path = CORE) -> str:
    """sha256 over every .py file of the core library, names included."""
    digest = hashlib.sha256()
    for source in sorted(core.rglob("*.py")):
        digest.update(str(source.relative_to(core)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def path_for(directory: str | Path, name: str, config: dict) -> Path:
    text = json.dumps(config, sort_keys=True, default=str) + core_digest()
    return Path(directory) / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"


def load(directory: str | Path, name: str, config: dict) -> dict | None:
    """The stored payload for this configuration (tensors on the CPU), or None when there is none."""
    path = path_for(directory, name, config)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several kinds on a truncated or foreign file
        raise RuntimeError(f"{path} is not a readable model file ({error}); delete it to train again") from error


def store(directory: str | Path, name: str, config: dict, payload: dict) -> None:
    """Keep `payload` (a dict of tensors and plain values) under this configuration; the configuration joins it."""
    with atomic_write(path_for(directory, name, config)) as f:
        torch.save({**payload, "config": config}, f)


def load_or_train(directory: str | Path, name: str, config: dict, train: Callable[[], dict]) -> tuple[dict, bool]:
    """(payload, was_cached): the stored payload for this configuration, or `train()`'s, stored first."""
    payload = load(directory, name, config)
    if payload is not None:
        return payload, True
    store(directory, name, config, train())
    return load(directory, name, config), False
