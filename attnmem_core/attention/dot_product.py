"""Scaled dot-product and multi-head attention: Vaswani et al. 2017, Sec. 3.2.

"Attention Is All You Need" (NeurIPS). Queries Q (Tq, d_k), keys K (Tk, d_k), values V (Tk, d_v):

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V                                   (Eq. 1)

    MultiHead(Q, K, V) = Concat(head_1, …, head_h) W^O
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)                              (Sec. 3.2.2)

with W_i^Q, W_i^K ∈ ℝ^{d_model×d_k}, W_i^V ∈ ℝ^{d_model×d_v}, W^O ∈ ℝ^{h·d_v×d_model}. The h
per-head matrices are stored side by side as one d_model → h·d_k linear layer each, and
d_k = d_v = d_model/h unless given (Table 3 rows A and B vary them).

Masks are boolean, True where a query may attend to a key (the opposite of torch's
`key_padding_mask`). Without `need_weights` the fused kernel
`torch.nn.functional.scaled_dot_product_attention` computes Eq. 1; with it the softmax is
written out and its weights (before attention dropout) are returned per head. `scale=False`
drops the 1/√d_k (the ablation the paper argues against in Sec. 3.2.1). `scoring="additive"`
replaces q·k/√d_k in every head by Bahdanau's additive score v_aᵀ tanh(W_a q + U_a k)
(`attention.additive`, hidden size d_k): the alternative that Sec. 3.2.1 says dot-product
attention beats in speed and space.

Incremental decoding splits the layer in two: `keys_values` projects keys and values into
heads once, `attend` lets new queries read them. A decoder's self-attention keeps the keys
and values of the tokens so far and concatenates each new step's onto them (`append`); its
cross-attention projects the encoder output once per sentence.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from attnmem_core.attention.additive import AdditiveAttention

SCORINGS = ("dot", "additive")


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scale: bool = True,
    need_weights: bool = False,
    dropout: float = 0.0,
):
    """Eq. 1 on (…, Tq, d_k), (…, Tk, d_k), (…, Tk, d_v) → (output (…, Tq, d_v), weights (…, Tq, Tk) or None).

    `mask` is boolean and broadcasts to (…, Tq, Tk); True = may attend. A query with no key
    to attend to gets NaN, so every row needs at least one True.
    """
    factor = 1 / math.sqrt(q.shape[-1]) if scale else 1.0
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=factor), None
    scores = (q @ k.transpose(-2, -1)) * factor
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return F.dropout(weights, dropout) @ v, weights


def additive_attention(
    attention: AdditiveAttention,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    need_weights: bool = False,
    dropout: float = 0.0,
):
    """`scaled_dot_product_attention` with the additive scores e_ij = v_aᵀ tanh(W_a q_i + U_a k_j) in place of
    q·k/√d_k: the same shapes, mask and outputs."""
    scores = attention.scores(q, attention.keys(k))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return F.dropout(weights, dropout) @ v, weights if need_weights else None


def causal_mask(queries: int, keys: int | None = None, device=None) -> torch.Tensor:
    """(queries, keys), True where a query may attend: the queries are the last `queries` of the `keys`
    positions (keys defaults to queries), and each may read itself and every earlier position."""
    keys = queries if keys is None else keys
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(keys - queries)


class MultiHeadAttention(nn.Module):
    def __init__(
        self,
        d_model: int,
        heads: int,
        d_k: int | None = None,
        d_v: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        scale: bool = True,
        scoring: str = "dot",
    ):
        super().__init__()
        if scoring not in SCORINGS:
            raise ValueError(f"scoring={scoring!r}; choose 'dot' (Eq. 1) or 'additive' (v_aᵀ tanh(W_a q + U_a k))")
        if scoring == "additive" and not scale:
            raise ValueError("scale=False drops the 1/√d_k of dot-product scores; additive scores have none to drop")
        if heads < 1:
            raise ValueError(f"heads={heads} must be at least 1")
        if (d_k is None or d_v is None) and d_model % heads:
            missing = " and ".join(name for name, d in (("d_k", d_k), ("d_v", d_v)) if d is None)
            raise ValueError(
                f"d_model={d_model} is not divisible by heads={heads}: "
                f"the default {missing} = d_model/heads is undefined; give {missing} explicitly"
            )
        d_k = d_model // heads if d_k is None else d_k
        d_v = d_model // heads if d_v is None else d_v
        if d_k < 1 or d_v < 1:
            raise ValueError(f"d_k={d_k} and d_v={d_v} must be at least 1")
        self.heads, self.d_k, self.d_v, self.dropout, self.scale = heads, d_k, d_v, dropout, scale
        self.W_Q = nn.Linear(d_model, heads * d_k, bias=bias)
        self.W_K = nn.Linear(d_model, heads * d_k, bias=bias)
        self.W_V = nn.Linear(d_model, heads * d_v, bias=bias)
        self.W_O = nn.Linear(heads * d_v, d_model, bias=bias)
        # one alignment network for all heads: each head's own W^Q and W^K already give it its own queries and keys
        self.additive = AdditiveAttention(d_k, d_k, d_k) if scoring == "additive" else None

    def split(self, x: torch.Tensor, d: int) -> torch.Tensor:
        """(B, T, h·d) → (B, h, T, d)."""
        return x.unflatten(-1, (self.heads, d)).transpose(1, 2)

    def keys_values(self, key: torch.Tensor, value: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """K W^K and V W^V split into heads: (B, h, Tk, d_k), (B, h, Tk, d_v); value defaults to key."""
        value = key if value is None else value
        return self.split(self.W_K(key), self.d_k), self.split(self.W_V(value), self.d_v)

    @staticmethod
    def append(cache: tuple[torch.Tensor, torch.Tensor], new: tuple[torch.Tensor, torch.Tensor]):
        """The keys and values so far followed by the new step's, along time (dim 2)."""
        return torch.cat((cache[0], new[0]), 2), torch.cat((cache[1], new[1]), 2)

    def attend(
        self,
        query: torch.Tensor,
        kv: tuple[torch.Tensor, torch.Tensor],
        *,
        key_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        """Queries (B, Tq, d_model) read projected keys/values → (output (B, Tq, d_model), weights (B, h, Tq, Tk)
        or None).

        key_mask (B, Tk): True on real keys. attn_mask (Tq, Tk) or (B, Tq, Tk): True = may attend.
        """
        k, v = kv
        B, Tq, Tk = query.shape[0], query.shape[1], k.shape[2]
        mask = None
        if key_mask is not None:
            if key_mask.shape != (B, Tk):
                raise ValueError(f"key_mask has shape {tuple(key_mask.shape)}; expected (batch, keys) = {(B, Tk)}")
            mask = key_mask[:, None, None, :]
        if attn_mask is not None:
            if attn_mask.shape not in ((Tq, Tk), (B, Tq, Tk)):
                raise ValueError(
                    f"attn_mask has shape {tuple(attn_mask.shape)}; expected (queries, keys) = {(Tq, Tk)} "
                    f"or (batch, queries, keys) = {(B, Tq, Tk)}"
                )
            attn_mask = attn_mask if attn_mask.dim() == 2 else attn_mask[:, None]
            mask = attn_mask if mask is None else mask & attn_mask
        q = self.split(self.W_Q(query), self.d_k)
        dropout = self.dropout if self.training else 0.0
        if self.additive is None:
            out, weights = scaled_dot_product_attention(
                q, k, v, mask, scale=self.scale, need_weights=need_weights, dropout=dropout
            )
        else:
            out, weights = additive_attention(self.additive, q, k, v, mask, need_weights=need_weights, dropout=dropout)
        return self.W_O(out.transpose(1, 2).flatten(2)), weights

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        key_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        """MultiHead(Q, K, V) for (B, Tq, d_model), (B, Tk, d_model), (B, Tk, d_model); masks as in `attend`."""
        return self.attend(
            query, self.keys_values(key, value), key_mask=key_mask, attn_mask=attn_mask, need_weights=need_weights
        )
