"""Trained models kept on disk, so that a chapter reuses what another chapter trained.

The translation chapters share baselines: chapter 4 compares the Transformer with the
RNNsearch that chapter 2 trained, on the same data and tokenization. A trained model is
stored as

    <directory>/<name>-<key>.pt    key = sha256(configuration, core-library source)[:16]

where the configuration holds everything that decides the trained weights (data,
tokenizer, sizes, steps, seed, device kind). Any change to the core library's source
changes the key: an edit to a model or to the training loop never reuses stale weights.
The file appears by one rename of a finished temporary file; then its sha256 is written
beside it, in `sha256sum` format, as <name>-<key>.pt.sha256, and checked on every load, so
a damaged file (one flipped bit in a weight loads fine as an `inf`) is an error naming the
file to delete, never a model silently reused. A model file without its digest was never
finished: it is trained again.
"""

from __future__ import annotations

import hashlib
import io
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


def is_stored(directory: str | Path, name: str, config: dict) -> bool:
    """Whether a finished model is stored for this configuration (a model file without its digest is not)."""
    path = path_for(directory, name, config)
    return path.exists() and _digest_path(path).exists()


def load(directory: str | Path, name: str, config: dict) -> dict | None:
    """The stored payload for this configuration (tensors on the CPU), or None when there is none."""
    if not is_stored(directory, name, config):
        return None
    path = path_for(directory, name, config)
    digest_path = _digest_path(path)
    data = path.read_bytes()
    expected, found = digest_path.read_text().split(" ")[0], hashlib.sha256(data).hexdigest()
    if found != expected:
        raise RuntimeError(
            f"{path} has sha256 {found}, but {digest_path.name} beside it says {expected}: "
            f"the file is damaged; delete {path} to train again"
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several kinds on a foreign file
        raise RuntimeError(f"{path} is not a readable model file ({error}); delete it to train again") from error


def store(directory: str | Path, name: str, config: dict, payload: dict) -> None:
    """Keep `payload` (a dict of tensors and plain values) under this configuration; the configuration joins it."""
    path = path_for(directory, name, config)
    buffer = io.BytesIO()
    torch.save({**payload, "config": config}, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    with atomic_write(_digest_path(path), "w") as f:  # last: a model file without it is unfinished
        f.write(f"{hashlib.sha256(buffer.getvalue()).hexdigest()}  {path.name}\n")


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def load_or_train(directory: str | Path, name: str, config: dict, train: Callable[[], dict]) -> tuple[dict, bool]:
    """(payload, was_cached): the stored payload for this configuration, or `train()`'s, stored first."""
    payload = load(directory, name, config)
    if payload is not None:
        return payload, True
    store(directory, name, config, train())
    return load(directory, name, config), False
