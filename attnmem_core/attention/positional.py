"""Positional encodings: Vaswani et al. 2017, "Attention Is All You Need", Sec. 3.5.

Attention alone is blind to order, so the Transformer adds to each embedding a vector that
depends on its position pos. The paper's sinusoids, for i = 0 … d_model/2 − 1:

    PE(pos, 2i)   = sin(pos / 10000^{2i/d_model})
    PE(pos, 2i+1) = cos(pos / 10000^{2i/d_model})

and, as its Table 3 row (E) ablation, learned positional embeddings (one trained vector per
position, Gehring et al. 2017), which cannot reach beyond the `max_len` positions they were
given. "none" adds nothing (the order-blind model).

The two start at different sizes: a sinusoid row has norm √(d_model/2) (each sin/cos pair has
norm 1), a learned row initialised N(0, 1/d_model) has norm ≈ 1, beside token embeddings of
norm ≈ √d_model in the Transformer. `learned_std` = √½ starts the learned rows at the sinusoids' norm.

Every encoding maps x (B, T, d_model) of positions start … start+T−1 to x + PE; `start` is
what a decoder stepping one token at a time passes.
"""

from __future__ import annotations

import torch
from torch import nn

KINDS = ("sinusoidal", "learned", "none")


def sinusoids(positions: torch.Tensor, d_model: int) -> torch.Tensor:
    """PE for integer positions (T,) → (T, d_model), Sec. 3.5; an odd d_model ends with a sine."""
    i = torch.arange(0, d_model, 2, dtype=torch.float32, device=positions.device)
    angle = positions.float().unsqueeze(-1) / 10000 ** (i / d_model)  # (T, ⌈d_model/2⌉)
    pe = torch.empty(len(positions), d_model, device=positions.device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe


class SinusoidalEncoding(nn.Module):
    """A table of `max_len` rows, extended by computing the sinusoids for any later position."""

    def __init__(self, d_model: int, max_len: int = 1024):
        super().__init__()
        self.d_model = d_model
        self.register_buffer("table", sinusoids(torch.arange(max_len), d_model), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        end = start + x.shape[1]
        if end <= len(self.table):
            pe = self.table[start:end]
        else:
            pe = sinusoids(torch.arange(start, end, device=x.device), self.d_model)
        return x + pe.to(x.dtype)


class LearnedEncoding(nn.Module):
    """One trained vector per position 0 … max_len−1, initialised N(0, std²), by default std = 1/√d_model as
    fairseq does."""

    def __init__(self, d_model: int, max_len: int, std: float | None = None):
        super().__init__()
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5 if std is None else std)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        end, max_len = start + x.shape[1], self.embedding.num_embeddings
        if end > max_len:
            raise ValueError(
                f"learned positional embeddings cover positions 0…{max_len - 1} (max_len={max_len}); "
                f"got position {end - 1}"
            )
        return x + self.embedding(torch.arange(start, end, device=x.device)).to(x.dtype)


class NoEncoding(nn.Module):
    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return x


def positional_encoding(kind: str, d_model: int, max_len: int = 1024, learned_std: float | None = None) -> nn.Module:
    """The module for `kind` in KINDS; `max_len` bounds the learned embeddings (and sizes the sinusoid table),
    `learned_std` is their initial std (None: 1/√d_model)."""
    if kind == "sinusoidal":
        return SinusoidalEncoding(d_model, max_len)
    if kind == "learned":
        return LearnedEncoding(d_model, max_len, learned_std)
    if kind == "none":
        return NoEncoding()
    raise ValueError(f"unknown positional encoding {kind!r}; allowed: {', '.join(map(repr, KINDS))}")
