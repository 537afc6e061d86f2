"""Greedy and beam-search decoding for any translator with the step interface.

A translator (the `Translator` protocol below) offers

    memory = model.encode(source)                  # dict of (B, …) tensors, computed once
    state = model.initial_state(memory)            # a tensor or a tuple/list/dict of (B, …) tensors
    log_p, state, α = model.step(memory, state, y_prev)   # log p(y_i | y_<i, x): (B, V)

so the search never looks inside a model. Beam search keeps `beam` hypotheses per
sentence, all sentences of a batch at once; a hypothesis that has emitted <eos> stays in
the beam with its score frozen. The winner maximises the length-normalised score
log p(y|x) / lp(y) with lp(y) = ((5 + |y|) / 6)^α (Wu et al. 2016, the normalisation
Vaswani et al. 2017 used with α = 0.6); α = 0 compares raw log-probabilities. With
beam = 1 the search is greedy decoding exactly.

Every sentence stops after at most `max_ratio`·|x| + `max_extra` tokens, where <eos> is forced,
or after `max_length` tokens when that is given: a source that is not a token sequence (an
image for a captioner) has no length to scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from attnmem_core.data.pairs import pad


@runtime_checkable
class Translator(Protocol):
    """The decoding contract: what greedy and beam search ask of a model (see the module's docstring)."""

    def encode(self, source: torch.Tensor) -> dict: ...

    def initial_state(self, memory: dict) -> Any: ...

    def step(self, memory: dict, state: Any, y_prev: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor | None]: ...


def _map(state, fn: Callable[[torch.Tensor], torch.Tensor]):
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: _map(v, fn) for k, v in state.items()}
    return type(state)(_map(v, fn) for v in state)


def _limits(
    source: torch.Tensor, pad_id: int, max_ratio: float, max_extra: int, max_length: int | None
) -> torch.Tensor:
    """Tokens each sentence may emit, <eos> included: (B,)."""
    if max_length is not None:
        return torch.full((len(source),), max_length, dtype=torch.long, device=source.device)
    lengths = (source != pad_id).sum(-1)
    return (lengths * max_ratio).long() + max_extra


def _strip(tokens: torch.Tensor, eos_id: int) -> list[list[int]]:
    out = []
    for row in tokens.tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


@torch.no_grad()
def greedy(
    model: Translator,
    source: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
    max_ratio: float = 1.5,
    max_extra: int = 10,
    max_length: int | None = None,
) -> list[list[int]]:
    """The most probable next token at every step, for a padded batch (B, Tx); token ids without <bos>/<eos>."""
    limit = _limits(source, pad_id, max_ratio, max_extra, max_length)
    memory = model.encode(source)
    state = model.initial_state(memory)
    y = torch.full((source.shape[0],), bos_id, dtype=torch.long, device=source.device)
    tokens, done = [], torch.zeros_like(y, dtype=torch.bool)
    for t in range(int(limit.max())):
        log_p, state, _ = model.step(memory, state, y)
        y = log_p.argmax(-1).masked_fill(t + 1 >= limit, eos_id)
        tokens.append(y.masked_fill(done, eos_id))
        done |= y == eos_id
        if done.all():
            break
    return _strip(torch.stack(tokens, 1), eos_id)


@torch.no_grad()
def beam_search(
    model: Translator,
    source: torch.Tensor,
    *,
    beam: int,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
    alpha: float = 0.6,
    max_ratio: float = 1.5,
    max_extra: int = 10,
    max_length: int | None = None,
) -> list[list[int]]:
    """The best of `beam` hypotheses per sentence of a padded batch (B, Tx); token ids without <bos>/<eos>."""
    if beam < 1:
        raise ValueError(f"beam={beam} must be at least 1")
    B, K = source.shape[0], beam
    limit = _limits(source, pad_id, max_ratio, max_extra, max_length).repeat_interleave(K)  # (B·K,)
    memory = _map(model.encode(source), lambda t: t.repeat_interleave(K, 0))
    state = model.initial_state(memory)
    tokens = torch.full((B * K, 1), bos_id, dtype=torch.long, device=source.device)
    scores = torch.zeros(B, K, device=source.device)
    scores[:, 1:] = float("-inf")  # all beams start equal: let only the first one expand
    finished = torch.zeros(B * K, dtype=torch.bool, device=source.device)
    lengths = torch.zeros(B * K, dtype=torch.long, device=source.device)
    offsets = torch.arange(B, device=source.device).unsqueeze(1) * K
    for t in range(int(limit.max())):
        log_p, state, _ = model.step(memory, state, tokens[:, -1])
        log_p = log_p.float()
        must_end = ~finished & (t + 1 >= limit)
        eos_score = log_p[:, eos_id].clone()
        log_p[finished | must_end] = float("-inf")
        log_p[finished, eos_id] = 0.0  # a finished hypothesis keeps its score...
        log_p[must_end, eos_id] = eos_score[must_end]  # ...and one at its length limit must end
        V = log_p.shape[-1]
        candidates = (scores.view(-1, 1) + log_p).view(B, K * V)
        scores, best = candidates.topk(K, dim=-1)
        parent = (offsets + best // V).view(-1)
        token = (best % V).view(-1)
        state = _map(state, lambda s: s.index_select(0, parent))
        tokens = torch.cat((tokens.index_select(0, parent), token.unsqueeze(1)), 1)
        lengths = lengths.index_select(0, parent) + (~finished.index_select(0, parent)).long()
        finished = finished.index_select(0, parent) | (token == eos_id)
        if finished.all():
            break
    penalty = ((5.0 + lengths.float()) / 6.0) ** alpha
    winner = (scores.view(-1) / penalty).view(B, K).argmax(-1) + offsets.squeeze(1)
    return _strip(tokens[winner, 1:], eos_id)


def translate(
    model: Translator,
    sentences: Sequence[Sequence[int]],
    *,
    batch_size: int,
    device,
    beam: int = 1,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
    **search,
) -> list[list[int]]:
    """Decode token-id sentences in batches of similar length; results in the input's order."""
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out: list[list[int] | None] = [None] * len(sentences)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        source = pad([sentences[i] for i in chunk], pad_id)
        hypotheses = beam_search(
            model, source.to(device), beam=beam, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, **search
        )
        for i, hypothesis in zip(chunk, hypotheses):
            out[i] = hypothesis
    return out
