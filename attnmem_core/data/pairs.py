"""Sentence pairs as token ids, and batches of similar length for training translators.

A source sentence is its token ids then <eos> (Bahdanau et al. 2015 end every source
sentence with it); a target sentence is <bos> y_1 … y_T <eos>, fed as `target_in` =
<bos> y_1 … y_T and predicted as `target_out` = y_1 … y_T <eos>.

Recurrent decoders pay for every padded step, so batches hold sentences of about the same
length: each epoch sorts the pairs by length (ties broken at random) and cuts the sorted
list into batches of at most `max_tokens` padded tokens, then shuffles the batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


def pad(sequences: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    out = torch.full((len(sequences), max(map(len, sequences))), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return out


def with_markers(source: Sequence[Sequence[int]], target: Sequence[Sequence[int]], *, bos_id: int, eos_id: int):
    """(x <eos>, <bos> y <eos>) for every pair."""
    return [list(x) + [eos_id] for x in source], [[bos_id] + list(y) + [eos_id] for y in target]


def length_batches(
    source: Sequence[Sequence[int]], target: Sequence[Sequence[int]], *, max_tokens: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch's batches (arrays of pair indices): similar lengths together, in random order."""
    lengths = np.array([max(len(x), len(y)) for x, y in zip(source, target)])
    if lengths.max() > max_tokens:
        raise ValueError(f"a pair of {lengths.max()} tokens does not fit max_tokens={max_tokens}")
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        # the batch order[start:end] is padded to the length of its last (longest) pair
        if end == len(order) or lengths[order[end]] * (end + 1 - start) > max_tokens:
            batches.append(order[start:end])
            start = end
    return [batches[i] for i in rng.permutation(len(batches))]


def training_batches(
    source: Sequence[Sequence[int]], target: Sequence[Sequence[int]], *, max_tokens: int, pad_id: int, seed: int
) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Endless ((source, target_in), target_out) batches over `with_markers` pairs, a new epoch after each pass."""
    rng = np.random.default_rng(seed)
    while True:
        for index in length_batches(source, target, max_tokens=max_tokens, rng=rng):
            x = pad([source[i] for i in index], pad_id)
            y = pad([target[i] for i in index], pad_id)
            yield (x, y[:, :-1]), y[:, 1:]
