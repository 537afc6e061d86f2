"""Rows of a padded batch read in groups of similar length, for batches whose rows vary in length.

HAN's word encoder reads every sentence of 64 reviews at once: a few hundred rows of 1 to
30 words, all padded to the longest, about half of it padding. Rows do not interact in a
GRU, so running groups of rows each padded only to its own longest row gives the same
outputs with less padding computed; but each group pays torch's per-step cost again.
`length_buckets` weighs the two exactly.

`in_length_groups` runs a whole reading (embedding, GRU, pooling) per group and puts only its
small results back in row order. Gathering the embedded (rows, words, features) tensor per group
instead, putting the GRU's states back in order, and zero-filling that tensor again in each
group's backward made a training update of HN-ATT 1.16 times slower (`benchmarks/han.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

# One step of torch's CPU GRU (forward and backward) costs about as much as 80 more rows would: measured on one
# thread with 100 inputs and 50 units, 30 steps took 8.6 ms for 20 rows and 36 ms for 320.
STEP_COST_IN_ROWS = 80

Reading = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def length_buckets(lengths: np.ndarray, step_cost_in_rows: float = STEP_COST_IN_ROWS) -> list[np.ndarray]:
    """Row indices grouped by length so that running each group padded to its own longest row costs least, a
    group costing its longest length × (its rows + `step_cost_in_rows`); exact, by dynamic programming over the
    distinct lengths. An infinite step cost gives one group, the whole batch padded to its longest row."""
    order = np.argsort(lengths, kind="stable")
    if math.isinf(step_cost_in_rows):
        return [order]
    distinct, counts = np.unique(lengths, return_counts=True)
    rows_below = np.concatenate([[0], np.cumsum(counts)])
    # best[j]: the least cost of the rows of the j shortest lengths; start[j]: where the last group of that starts
    best, start = [0.0], [0]
    for j in range(1, len(distinct) + 1):
        costs = [best[i] + distinct[j - 1] * (rows_below[j] - rows_below[i] + step_cost_in_rows) for i in range(j)]
        start.append(int(np.argmin(costs)))
        best.append(costs[start[-1]])
    groups, j = [], len(distinct)
    while j:
        groups.append(order[rows_below[start[j]] : rows_below[j]])
        j = start[j]
    return groups[::-1]


def in_length_groups(
    read: Reading, rows: torch.Tensor, lengths: torch.Tensor, step_cost_in_rows: float = STEP_COST_IN_ROWS
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`read(rows, lengths)` → (one vector per row (n, d), weights per step (n, T) or None), computed on the
    `length_buckets` of `rows` (n, T, ...), each group cut to its longest row; the same results, in row order, the
    weights zero past each group's longest row. One group is `read` on the whole batch."""
    groups = length_buckets(lengths.cpu().numpy(), step_cost_in_rows)
    if len(groups) == 1:
        return read(rows, lengths)
    order, sizes = torch.from_numpy(np.concatenate(groups)).to(rows.device), [len(g) for g in groups]
    pooled, weights = [], []
    for group_rows, group_lengths in zip(rows[order].split(sizes), lengths[order].split(sizes)):
        longest = int(group_lengths.max())
        vectors, step_weights = read(group_rows[:, :longest], group_lengths)
        pooled.append(vectors)
        if step_weights is not None:
            weights.append(nn.functional.pad(step_weights, (0, rows.shape[1] - longest)))
    back = torch.argsort(order)
    return torch.cat(pooled)[back], torch.cat(weights)[back] if weights else None
