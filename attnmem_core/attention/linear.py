"""Linear attention with a recency decay: the read of a fast-weight memory, written as attention.

Schlag, Irie, Schmidhuber 2021, "Linear Transformers Are Secretly Fast Weight Programmers" (ICML), Sec. 2:
a memory written by outer products, A = Σ_τ v(τ) k(τ)ᵀ, and read by a query, A q, is attention without
the softmax,

    A q = Σ_τ v(τ) [k(τ)ᵀ q]                                                        (Eq. 4–6)

Ba et al. 2016's fast weights decay their memory by λ at every step and write with strength η,
A(t) = Σ_{τ≤t} η λ^{t−τ} h(τ) h(τ)ᵀ, so their read is this attention with keys = values = the past
hidden states and the weights η λ^{t−τ} k(τ)ᵀq — recency times similarity, unnormalised.

`linear_attention` takes one query per step and attends to the keys of that step and before; it returns
the output and, on request, the weights, so that what a trained fast-weights net reads can be drawn.
"""

from __future__ import annotations

import torch


def recency_weights(steps: int, lam: float, eta: float, dtype=None, device=None) -> torch.Tensor:
    """(steps, steps): η λ^{t−τ} where τ ≤ t, else 0 — query step t (row) reading key step τ (column)."""
    t = torch.arange(steps, device=device)
    age = (t.view(-1, 1) - t.view(1, -1)).to(dtype or torch.get_default_dtype())
    return torch.where(age >= 0, eta * lam ** age.clamp_min(0), torch.zeros((), dtype=age.dtype, device=device))


def linear_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    *,
    lam: float = 1.0,
    eta: float = 1.0,
    need_weights: bool = False,
):
    """Causal linear attention with decay, (…, T, d), (…, T, d), (…, T, d_v) → (output (…, T, d_v), weights or None).

    output(t) = Σ_{τ≤t} η λ^{t−τ} [k(τ)ᵀ q(t)] v(τ); the weights, (…, T, T), are the bracketed products times
    η λ^{t−τ}, zero above the diagonal.
    """
    if queries.shape[-2] != keys.shape[-2] or keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"queries, keys and values have {queries.shape[-2]}, {keys.shape[-2]} and {values.shape[-2]} steps; "
            "causal linear attention reads one query per step, so they must have the same number"
        )
    steps = keys.shape[-2]
    decay = recency_weights(steps, lam, eta, dtype=queries.dtype, device=queries.device)
    weights = (queries @ keys.transpose(-2, -1)) * decay
    return weights @ values, weights if need_weights else None
