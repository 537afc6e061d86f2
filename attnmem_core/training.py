"""A plain training loop: sample a batch, step, evaluate now and then, record a history.

The progress bar is tqdm's text bar on stdout, refreshed every few seconds: an executed
notebook keeps one line of it (the runner collapses carriage returns), not thousands.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn
from tqdm import tqdm

Batch = tuple[torch.Tensor, torch.Tensor]


def random_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> Iterator[Batch]:
    """Endless minibatches: a fresh seeded permutation of the data every epoch."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]


def train(
    model: nn.Module,
    batches: Iterator[Batch],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int = 0,
    clip_norm: float | None = None,
    scheduler=None,
    autocast: torch.dtype | None = None,
    desc: str = "train",
    progress: bool = True,
    stop: Callable[[list[dict[str, float]]], bool] | None = None,
) -> list[dict[str, float]]:
    """Run `steps` updates; return one history row per evaluation (step, seconds, train_seconds, metrics).

    A batch is (x, y), or ((x_1, x_2, …), y) for a model that takes several inputs.
    `evaluate` is called every `eval_every` steps and after the last; it should put the
    model in eval mode itself and may return any metrics (e.g. valid_nll, valid_error).
    `autocast` (e.g. torch.bfloat16) runs the forward pass in that precision.
    `seconds` is the wall time so far; `train_seconds` leaves out the evaluations (a training cost).
    `stop`, given the history after each evaluation, ends training early when it returns True (early stopping).
    """
    history = []
    model.train()
    start = time.perf_counter()
    evaluating = 0.0
    bar = tqdm(
        total=steps, desc=desc, file=sys.stdout, mininterval=5.0, disable=not progress, dynamic_ncols=False, ncols=100
    )
    for step in range(1, steps + 1):
        x, y = next(batches)
        inputs = [t.to(device, non_blocking=True) for t in (x if isinstance(x, (tuple, list)) else (x,))]
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            loss = loss_fn(model(*inputs), y.to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        bar.update()
        if evaluate is not None and (step == steps or (eval_every and step % eval_every == 0)):
            before = time.perf_counter()
            metrics = evaluate()
            seconds = time.perf_counter() - start
            row = {
                "step": step,
                "seconds": seconds,
                "train_seconds": before - start - evaluating,
                "train_loss": loss.item(),
                **metrics,
            }
            evaluating += seconds - (before - start)
            history.append(row)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k not in ("step", "seconds")}, refresh=False)
            if stop is not None and stop(history):
                break
            model.train()
    bar.close()
    return history
