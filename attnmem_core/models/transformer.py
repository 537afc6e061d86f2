"""The Transformer: Vaswani et al. 2017, "Attention Is All You Need" (NeurIPS), Sec. 3 and 5.

An encoder of N identical layers, each multi-head self-attention then a position-wise
feed-forward network (Eq. 2)

    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2,

and a decoder of N layers, each masked self-attention (a position reads only earlier
positions), attention over the encoder output, then an FFN (Sec. 3.1). Every sub-layer
sits in a residual connection with layer normalisation, post-LN as in the paper,

    LayerNorm(x + Dropout(Sublayer(x)))                                  (Sec. 3.1, 5.4)

or, with `pre_norm`, x + Dropout(Sublayer(LayerNorm(x))) and a final LayerNorm after each
stack (the later variant that trains without warmup more easily). Inputs are embeddings
of size d_model times √d_model plus positional encodings, then dropout (Sec. 3.4, 3.5,
5.4); the output is a linear layer to the target vocabulary, optionally the target
embedding matrix itself (`tie_output`, Sec. 3.4); `share_embeddings` also shares it with
the source side (the paper's joint BPE vocabulary). Attention modules: attention.dot_product;
`scoring="additive"` gives every head Bahdanau's additive scores instead (Sec. 3.2.1's comparison).

Training (Sec. 5.3–5.4): `label_smoothed_nll` is the cross-entropy to the targets smoothed
with ε_ls, and `learning_rate` is Eq. 3,

    lrate = d_model^−0.5 · min(step^−0.5, step · warmup_steps^−1.5).

The model offers RNNsearch's interface: teacher-forced `forward`, `align` for the last
decoder layer's cross-attention, and `encode`/`initial_state`/`step` for
attnmem_core.decoding. The decoding state is a tuple with one (K, V) pair per decoder
layer, the self-attention keys and values of the tokens so far, (B, h, t, d_k) and
(B, h, t, d_v); a step appends one position to each, so it costs O(t), and the encoder
output's keys and values for cross-attention are projected once, in `encode`. Padding
(id 0) in the source is masked in every attention that reads it.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from attnmem_core.attention.dot_product import MultiHeadAttention, causal_mask
from attnmem_core.attention.positional import positional_encoding


class _Layer(nn.Module):
    """Residual sub-layers: `into(i, x)` is what sub-layer i reads, `out(i, x, y)` adds its output y back."""

    def __init__(self, d_model: int, sublayers: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(sublayers))
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def into(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.norms[i](x) if self.pre_norm else x

    def out(self, i: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(y) if self.pre_norm else self.norms[i](x + self.dropout(y))


def feed_forward(d_model: int, d_ff: int) -> nn.Module:
    """Eq. 2."""
    return nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))


class EncoderLayer(_Layer):
    def __init__(self, d_model, heads, d_ff, *, d_k, d_v, dropout, pre_norm, scale, scoring):
        super().__init__(d_model, 2, dropout, pre_norm)
        self.self_attention = MultiHeadAttention(d_model, heads, d_k, d_v, scale=scale, scoring=scoring)
        self.feed_forward = feed_forward(d_model, d_ff)

    def forward(self, x, mask, need_weights=False):
        """x (B, Tx, d_model), mask (B, Tx) True on real tokens → (x, self-attention weights (B, h, Tx, Tx) or None)."""
        h = self.into(0, x)
        a, weights = self.self_attention(h, h, h, key_mask=mask, need_weights=need_weights)
        x = self.out(0, x, a)
        return self.out(1, x, self.feed_forward(self.into(1, x))), weights


class DecoderLayer(_Layer):
    def __init__(self, d_model, heads, d_ff, *, d_k, d_v, dropout, pre_norm, scale, scoring):
        super().__init__(d_model, 3, dropout, pre_norm)
        self.self_attention = MultiHeadAttention(d_model, heads, d_k, d_v, scale=scale, scoring=scoring)
        self.cross_attention = MultiHeadAttention(d_model, heads, d_k, d_v, scale=scale, scoring=scoring)
        self.feed_forward = feed_forward(d_model, d_ff)

    def forward(self, y, cache, memory_kv, source_mask, need_weights=False):
        """The next T positions y (B, T, d_model) after the t in `cache` (K, V), attending to positions ≤ their own.

        Returns (y, cache of t+T positions, self weights (B, h, T, t+T), cross weights (B, h, T, Tx)), weights None
        unless asked for. Teacher forcing is the call with an empty cache.
        """
        h = self.into(0, y)
        cache = self.self_attention.append(cache, self.self_attention.keys_values(h))
        T, t_all = y.shape[1], cache[0].shape[2]
        mask = causal_mask(T, t_all, device=y.device) if T > 1 else None
        a, self_weights = self.self_attention.attend(h, cache, attn_mask=mask, need_weights=need_weights)
        y = self.out(0, y, a)
        a, cross_weights = self.cross_attention.attend(
            self.into(1, y), memory_kv, key_mask=source_mask, need_weights=need_weights
        )
        y = self.out(1, y, a)
        return self.out(2, y, self.feed_forward(self.into(2, y))), cache, self_weights, cross_weights


class Transformer(nn.Module):
    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        layers: int = 6,
        d_model: int = 512,
        d_ff: int = 2048,
        heads: int = 8,
        d_k: int | None = None,
        d_v: int | None = None,
        dropout: float = 0.1,
        positional: str = "sinusoidal",
        max_len: int = 1024,
        pre_norm: bool = False,
        scale: bool = True,
        scoring: str = "dot",
        learned_std: float | None = None,
        tie_output: bool = True,
        share_embeddings: bool = False,
        pad_id: int = 0,
    ):
        super().__init__()
        if share_embeddings and source_vocab != target_vocab:
            raise ValueError(
                f"share_embeddings needs one vocabulary; got source_vocab={source_vocab}, target_vocab={target_vocab}"
            )
        self.pad_id, self.d_model = pad_id, d_model
        sizes = dict(d_k=d_k, d_v=d_v, dropout=dropout, pre_norm=pre_norm, scale=scale, scoring=scoring)
        self.E_x = nn.Embedding(source_vocab, d_model, padding_idx=pad_id)
        self.E_y = self.E_x if share_embeddings else nn.Embedding(target_vocab, d_model, padding_idx=pad_id)
        self.position_x = positional_encoding(positional, d_model, max_len, learned_std)
        self.position_y = positional_encoding(positional, d_model, max_len, learned_std)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, **sizes) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, d_ff, **sizes) for _ in range(layers))
        self.norm_x = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.norm_y = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.W_o = nn.Linear(d_model, target_vocab, bias=False)
        self._initialise()
        if tie_output:
            self.W_o.weight = self.E_y.weight

    def _initialise(self) -> None:
        """Xavier-uniform matrices, zero biases; embeddings N(0, 1/d_model) so that √d_model·E has unit scale."""
        for name, p in self.named_parameters():
            if name.startswith(("E_", "position_")) or "norm" in name:
                continue
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)
        for E in (self.E_x, self.E_y):
            nn.init.normal_(E.weight, std=self.d_model**-0.5)
            E.weight.data[self.pad_id] = 0

    def embed(self, E: nn.Embedding, position: nn.Module, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.dropout(position(E(tokens) * math.sqrt(self.d_model), start))

    def source_mask(self, source: torch.Tensor) -> torch.Tensor:
        mask = source != self.pad_id
        if not mask[:, 0].all():
            raise ValueError("every source sentence needs at least one token, padded at the end only")
        return mask

    # ---- encoder and decoder, optionally keeping every attention map ------------------------

    def _encode(self, source: torch.Tensor, need_weights: bool = False):
        mask = self.source_mask(source)
        x, maps = self.embed(self.E_x, self.position_x, source), []
        for layer in self.encoder:
            x, weights = layer(x, mask, need_weights)
            maps.append(weights)
        h = self.norm_x(x)
        memory = {"h": h, "mask": mask, "kv": tuple(layer.cross_attention.keys_values(h) for layer in self.decoder)}
        return memory, maps

    def _decode(self, memory: dict, cache: tuple, target: torch.Tensor, need_weights: bool = False):
        """Logits for the target positions after those in `cache`: (logits, new cache, self maps, cross maps)."""
        y = self.embed(self.E_y, self.position_y, target, start=cache[0][0].shape[2])
        new_cache, self_maps, cross_maps = [], [], []
        for layer, layer_cache, kv in zip(self.decoder, cache, memory["kv"]):
            y, layer_cache, self_weights, cross_weights = layer(y, layer_cache, kv, memory["mask"], need_weights)
            new_cache.append(layer_cache)
            self_maps.append(self_weights)
            cross_maps.append(cross_weights)
        return self.W_o(self.norm_y(y)), tuple(new_cache), self_maps, cross_maps

    # ---- the translator interface --------------------------------------------------------------

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, Ty, V): target_in is <bos> y_1 … y_{Ty−1}; the fused attention kernels."""
        memory = self.encode(source)
        return self._decode(memory, self.initial_state(memory), target_in)[0]

    def attention_maps(self, source: torch.Tensor, target_in: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every attention map, per layer and head: "encoder" (L, B, h, Tx, Tx), "decoder" (L, B, h, Ty, Ty),
        "cross" (L, B, h, Ty, Tx), and the teacher-forced "logits" (B, Ty, V)."""
        memory, encoder_maps = self._encode(source, need_weights=True)
        logits, _, self_maps, cross_maps = self._decode(memory, self.initial_state(memory), target_in, True)
        return {
            "encoder": torch.stack(encoder_maps),
            "decoder": torch.stack(self_maps),
            "cross": torch.stack(cross_maps),
            "logits": logits,
        }

    def align(self, source: torch.Tensor, target_in: torch.Tensor):
        """(logits, the last decoder layer's cross-attention averaged over heads (B, Ty, Tx))."""
        memory = self.encode(source)
        logits, _, _, cross_maps = self._decode(memory, self.initial_state(memory), target_in, need_weights=True)
        return logits, cross_maps[-1].mean(1)

    def encode(self, source: torch.Tensor) -> dict:
        """{"h": encoder output (B, Tx, d_model), "mask": (B, Tx), "kv": per decoder layer its cross-attention
        (K, V)}."""
        return self._encode(source)[0]

    def initial_state(self, memory: dict) -> tuple:
        """An empty self-attention cache: per decoder layer (K, V) of zero positions."""
        k = memory["kv"][0][0]  # the dtype the projections give (autocast may lower it)
        return tuple(
            tuple(k.new_zeros(len(k), a.heads, 0, d) for d in (a.d_k, a.d_v))
            for a in (layer.self_attention for layer in self.decoder)
        )

    def step(self, memory: dict, state: tuple, y_prev: torch.Tensor):
        """One decoding step: (log p(y_i | ·) (B, V), the cache one position longer, last-layer cross-attention
        (B, Tx))."""
        logits, state, _, cross_maps = self._decode(memory, state, y_prev.unsqueeze(1), need_weights=True)
        return torch.log_softmax(logits[:, 0].float(), -1), state, cross_maps[-1][:, :, 0].mean(1)


# ---- training: label smoothing (Sec. 5.4) and the learning-rate schedule (Eq. 3) ----------------


def label_smoothed_nll(
    logits: torch.Tensor, target: torch.Tensor, epsilon: float, ignore_index: int = 0
) -> torch.Tensor:
    """Mean over targets ≠ ignore_index of the cross-entropy to q = (1 − ε)·onehot(y) + ε/V (Szegedy et al. 2016).

    logits (…, V), target (…). ε = 0 is the plain NLL; this is `F.cross_entropy(label_smoothing=ε)`, written out.
    Report perplexity with ε = 0: the smoothed loss is not a likelihood.
    """
    log_p = torch.log_softmax(logits.float(), -1).flatten(0, -2)
    target = target.flatten()
    keep = target != ignore_index
    nll = -log_p.gather(-1, torch.where(keep, target, 0).unsqueeze(-1)).squeeze(-1)
    uniform = -log_p.mean(-1)
    loss = (1 - epsilon) * nll + epsilon * uniform
    return loss[keep].sum() / keep.sum()


def learning_rate(step: int, d_model: int, warmup_steps: int = 4000) -> float:
    """Eq. 3 at step ≥ 1: linear warmup for warmup_steps, then ∝ 1/√step; the peak is at step = warmup_steps."""
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def _shifted(i: int, d_model: int, warmup_steps: int, factor: float) -> float:
    return factor * learning_rate(i + 1, d_model, warmup_steps)


def lr_lambda(d_model: int, warmup_steps: int = 4000, factor: float = 1.0):
    """Eq. 3 for `LambdaLR(optimizer, lr_lambda(d_model))` with the optimizer's lr = 1 (the paper's Adam:
    β = (0.9, 0.98), ε = 1e-9). LambdaLR counts from 0 and the paper from 1, so update k (1-based) runs at
    learning_rate(k)."""
    return functools.partial(_shifted, d_model=d_model, warmup_steps=warmup_steps, factor=factor)
