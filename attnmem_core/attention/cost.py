"""What dot-product and additive attention cost: seconds and memory of one layer's forward and backward pass.

Vaswani et al. 2017, Sec. 3.2.1: "dot-product attention is much faster and more space-efficient
in practice [than additive attention], since it can be implemented using highly optimized
matrix multiplication code", while "for small values of d_k the two mechanisms perform
similarly". Additive attention (Bahdanau et al. 2015) builds a (B, h, Tq, Tk, d_k) tensor before
its tanh and keeps it for the backward pass; dot-product attention needs (B, h, Tq, Tk) scores
written out, or none at all in a fused kernel. Three ways are measured on the same random
queries, keys and values, causally masked:

    "dot"               torch's fused kernel (`F.scaled_dot_product_attention`), what the Transformer trains with
    "dot, written out"  softmax(QKᵀ/√d_k)V as matrix products (the path that returns the weights)
    "additive"          softmax(v_aᵀ tanh(W_a q + U_a k))V (`attention.dot_product.additive_attention`)

Time is the median of repeated passes after a warm-up pass, the three ways taking turns so that
a machine whose speed drifts slows them alike. Memory is what autograd keeps for the backward
pass (every saved tensor once), the part that grows with the batch in training; it is the
same on any device, where a CUDA peak would need a GPU.
"""

from __future__ import annotations

import statistics
from functools import partial

import pandas as pd
import torch

from attnmem_core.attention.additive import AdditiveAttention
from attnmem_core.attention.dot_product import additive_attention, causal_mask, scaled_dot_product_attention
from attnmem_core.timing import by_turns

WAYS = ("dot", "dot, written out", "additive")


def saved_bytes(work) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while `work()` runs its forward pass."""
    seen: dict[tuple, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        work()
    return sum(seen.values())


def _forward(way: str, q, k, v, mask, additive: AdditiveAttention):
    if way == "additive":
        return additive_attention(additive, q, k, v, mask)[0]
    return scaled_dot_product_attention(q, k, v, mask, need_weights=way == "dot, written out")[0]


def measure(batch: int, heads: int, length: int, d_k: int, repeats: int = 3, seed: int = 0) -> pd.DataFrame:
    """One row per way (`WAYS`): seconds of a forward and backward pass and the bytes saved for the backward pass,
    of causal self-attention over `length` positions, `heads` heads of size `d_k`, `batch` sequences."""
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, length, d_k, generator=generator, requires_grad=True) for _ in range(3))
    mask = causal_mask(length)
    torch.manual_seed(seed)
    additive = AdditiveAttention(d_k, d_k, d_k)
    torch.nn.init.normal_(additive.v_a.weight, std=d_k**-0.5)  # not the paper's v_a = 0, which scores every key alike

    def one_pass(way: str):
        _forward(way, q, k, v, mask, additive).sum().backward()

    times = by_turns({way: partial(one_pass, way) for way in WAYS}, repeats, warmups=2)
    return pd.DataFrame(
        [
            {
                "way": way,
                "batch": batch,
                "heads": heads,
                "length": length,
                "d_k": d_k,
                "seconds": statistics.median(times[way]),
                "saved MB": saved_bytes(lambda: _forward(way, q, k, v, mask, additive)) / 2**20,
            }
            for way in WAYS
        ]
    )


def grid(
    d_ks: list[int], lengths: list[int], *, batch: int, heads: int, d_k: int, length: int, repeats: int = 3
) -> pd.DataFrame:
    """`measure` as d_k grows (at `length`) and as the length grows (at `d_k`), with each way's time and memory
    over the fused dot product's, from the same run."""
    frames = [measure(batch, heads, length, dk, repeats).assign(varied="d_k") for dk in d_ks]
    frames += [measure(batch, heads, n, d_k, repeats).assign(varied="length") for n in lengths]
    frame = pd.concat(frames, ignore_index=True)
    key = ["varied", "length", "d_k"]
    dot = frame[frame.way == "dot"].set_index(key)
    indexed = frame.set_index(key)
    frame["time ÷ dot"] = (indexed.seconds / dot.seconds.reindex(indexed.index)).to_numpy()
    frame["memory ÷ dot"] = (indexed["saved MB"] / dot["saved MB"].reindex(indexed.index)).to_numpy()
    return frame
