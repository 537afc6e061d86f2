"""Trained models kept on disk, so that a chapter reuses what another chapter trained.

The translation chapters share baselines: chapter 4 compares the Transformer with the
RNNsearch that chapter 2 trained, on the same data and tokenization. A trained model is
stored as

    <directory>/<name>-<key>.pt    key = sha256(configuration, source)[:16]

where the configuration holds everything that decides the trained weights (data,
tokenizer, sizes, steps, seed, device kind), and the source is that of the module that
trains the model and of every core-library module it imports, directly or not (the whole
core library when no module is named). An edit to a model, to the training loop or to
anything else the training can reach never reuses stale weights; an edit to another
chapter's experiment does not retrain this one's models.
The file appears by one rename of a finished temporary file; then its sha256 is written
beside it, in `sha256sum` format, as <name>-<key>.pt.sha256, and checked on every load, so
a damaged file (one flipped bit in a weight loads fine as an `inf`) is an error naming the
file to delete, never a model silently reused. A model file without its digest was never
finished: it is trained again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import torch

from attnmem_core.atomic import atomic_write

CORE = Path(__file__).resolve().parent


def core_digest(core: Path = CORE, module: str | None = None) -> str:
    """sha256 over the .py files of the core library, names included: all of them, or `module` (a dotted name, e.g.
    "attnmem_core.experiments.rnnsearch") and those it imports, directly or not."""
    digest = hashlib.sha256()
    for source in sorted(core.rglob("*.py") if module is None else imported_files(module, core)):
        digest.update(str(source.relative_to(core)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def imported_files(module: str, core: Path = CORE) -> set[Path]:
    """The source files of `module`, of the packages above it, and of every core-library module they import."""
    files, todo = set(), [module]
    while todo:
        for file in _files_of(todo.pop(), core):
            if file not in files:
                files.add(file)
                todo += _imports(file, core)
    return files


def _files_of(module: str, core: Path) -> list[Path]:
    """The file of a core module or package, and the __init__.py of each package on the way to it."""
    parts = module.split(".")
    if parts[0] != core.name:
        return []
    found = [core.joinpath(*parts[1:i], "__init__.py") for i in range(1, len(parts) + 1)]
    found.append(core.joinpath(*parts[1:]).with_suffix(".py") if len(parts) > 1 else core / "__init__.py")
    return [file for file in found if file.is_file()]


def _imports(file: Path, core: Path) -> tuple[str, ...]:
    """The modules a source file imports; for `from package import name`, both the package and package.name (a
    name that is not a module simply has no file)."""
    package = ".".join((core.name, *file.relative_to(core).parent.parts))
    return _imports_of_source(file.read_text(), str(file), package, core.name)


@functools.lru_cache(maxsize=1024)
def _imports_of_source(source: str, filename: str, package: str, core_name: str) -> tuple[str, ...]:
    """`_imports` of a file's text, parsed once per text: a chapter's run keys ask for it several times per run."""
    names = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return tuple(name for name in names if name.split(".")[0] == core_name)


def path_for(directory: str | Path, name: str, config: dict, module: str | None = None) -> Path:
    """Where the model of this configuration, trained by `module`'s code (None: any core module), is kept."""
    text = json.dumps(config, sort_keys=True, default=str) + core_digest(module=module)
    return Path(directory) / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"


def is_stored(directory: str | Path, name: str, config: dict, module: str | None = None) -> bool:
    """Whether a finished model is stored for this configuration (a model file without its digest is not)."""
    path = path_for(directory, name, config, module)
    return path.exists() and _digest_path(path).exists()


def load(directory: str | Path, name: str, config: dict, module: str | None = None) -> dict | None:
    """The stored payload for this configuration (tensors on the CPU), or None when there is none."""
    if not is_stored(directory, name, config, module):
        return None
    path = path_for(directory, name, config, module)
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


def store(directory: str | Path, name: str, config: dict, payload: dict, module: str | None = None) -> None:
    """Keep `payload` (a dict of tensors and plain values) under this configuration; the configuration joins it."""
    path = path_for(directory, name, config, module)
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
