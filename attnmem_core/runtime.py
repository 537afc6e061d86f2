"""Seeding and device selection: the two things every run does first."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; make CPU kernels deterministic.

    On CUDA some kernels stay nondeterministic (e.g. index_add in backward); runs there
    repeat up to floating-point reordering, which is why the gpu profile reports spread
    over seeds rather than a single number.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU; an explicit device must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device='mps' was asked for, but this torch build has no MPS; use 'auto' or 'cpu'")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def autocast_dtype(device: torch.device, bf16: bool) -> torch.dtype | None:
    """bfloat16 where a profile asks for it and the device is CUDA; None (full precision) elsewhere."""
    return torch.bfloat16 if bf16 and device.type == "cuda" else None
