"""One run machinery for every chapter: a run spec, trained once or read from the trained-model cache.

Each chapter trains many small models (variants × seeds). It describes one training run by a
*spec*, a frozen dataclass that satisfies `Spec`:

    spec.label                     a name for progress, tables and the cache file
    spec.cache_key(data, device)   everything that decides the trained weights and the outputs
    spec.build(data)               the untrained model
    spec.train(data, device)       train, evaluate, return a `payload`
    spec.cost()                    rough relative time: the dearest runs start first

`data` is whatever the chapter's runs share (a tokenized corpus, annotation grids), sent to
each worker once. `run_all` looks every spec up in the cache, trains the missing ones side by
side through the parallel executor, stores them, and returns one `TrainedRun` per spec in the
specs' order. A run trained now is read back from the cache like any other, so a chapter sees
the same record whether it trained the model or found it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from attnmem_core import model_cache
from attnmem_core.parallel import run_parallel


@runtime_checkable
class Spec(Protocol):
    @property
    def label(self) -> str: ...

    def cache_key(self, data: Any, device: torch.device) -> dict: ...

    def build(self, data: Any) -> nn.Module: ...

    def train(self, data: Any, device: torch.device) -> dict: ...

    def cost(self) -> float: ...


def payload(model: nn.Module, history: list[dict], outputs: dict | None = None, decode_seconds: float = 0.0) -> dict:
    """What `Spec.train` returns: the weights on the CPU, the evaluation history of `training.train`, the
    outputs the chapter measures from (tensors, lists and plain values, e.g. test translations), and the
    seconds spent producing them."""
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history,
        "outputs": outputs or {},
        "decode_seconds": decode_seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


@dataclass
class TrainedRun:
    """A trained run: its spec, its evaluation history, its outputs, its weights and what it cost."""

    spec: Any
    history: list[dict]
    outputs: dict
    state_dict: dict
    parameters: int
    train_seconds: float  # wall time of the updates, evaluations left out
    decode_seconds: float
    cached: bool  # read from the cache rather than trained by this call

    @property
    def final(self) -> dict:
        """The last evaluation's row."""
        return self.history[-1]

    def at_step(self, step: int) -> dict:
        """The evaluation row at update `step`."""
        row = next((r for r in self.history if r["step"] == step), None)
        if row is None:
            raise ValueError(
                f"{self.spec.label} was not evaluated at update {step}; "
                f"evaluated at {[r['step'] for r in self.history]}"
            )
        return row

    def model(self, data: Any) -> nn.Module:
        """The trained model, on the CPU, in eval mode."""
        model = self.spec.build(data)
        model.load_state_dict(self.state_dict)
        return model.eval()


def file_name(label: str) -> str:
    """The cache file's prefix for a label: letters, digits, '.', '=' and '-' only."""
    return re.sub(r"[^\w.=-]+", "-", label, flags=re.ASCII).strip("-")


def _train(spec: Spec, data: Any, device: str) -> bytes:
    """The payload as torch.save writes it: one buffer crosses from a worker, however many tensors it holds (a
    process pool would otherwise share each tensor through a file descriptor of its own, and run out)."""
    buffer = io.BytesIO()
    torch.save(spec.train(data, torch.device(device)), buffer)
    return buffer.getvalue()


def run_all(
    specs: Sequence[Spec],
    data: Any,
    *,
    device: str | torch.device,
    workers: int,
    models_dir: str | Path,
    scheduler: str | None = None,
    desc: str = "runs",
) -> list[TrainedRun]:
    """Every spec trained (`workers` at a time, the dearest first) or read from the cache under `models_dir`.

    `scheduler`: a Dask scheduler's address for the trainings (None: $ATTNMEM_SCHEDULER, else a local cluster);
    on CUDA each training takes one of its workers' GPUs.
    """
    device = torch.device(device)
    # the key holds the spec's configuration and the source its module reaches: another chapter's edit keeps it
    keys = [(file_name(spec.label), spec.cache_key(data, device), type(spec).__module__) for spec in specs]
    missing = [i for i, key in enumerate(keys) if not model_cache.is_stored(models_dir, *key)]
    trained = run_parallel(
        _train,
        [specs[i] for i in missing],
        workers=workers,
        context={"data": data, "device": str(device)},
        cost=lambda spec: spec.cost(),
        desc=desc,
        scheduler=scheduler,
        gpu=device.type == "cuda",
    )
    for i, stored in zip(missing, trained):
        name, config, module = keys[i]
        model_cache.store(models_dir, name, config, torch.load(io.BytesIO(stored), weights_only=True), module)
    return [
        _record(spec, model_cache.load(models_dir, *key), cached=i not in missing)
        for i, (spec, key) in enumerate(zip(specs, keys))
    ]


def _record(spec: Spec, stored: dict, cached: bool) -> TrainedRun:
    return TrainedRun(
        spec=spec,
        history=stored["history"],
        outputs=stored["outputs"],
        state_dict=stored["state_dict"],
        parameters=stored["parameters"],
        train_seconds=stored["history"][-1]["train_seconds"],
        decode_seconds=stored["decode_seconds"],
        cached=cached,
    )
