"""HAN's attention and bidirectional GRU as they computed before 2026-12-04 (commit 12a214b), frozen: what the
faster ones are timed against in `benchmarks/han.py`.

Then the word attention ran its tanh layer over every step of the padded (sentences, words) batch, about half
of it padding, and the backward GRU's reversal was a `gather` along time. `as_before(model)` makes a built HAN
or flat GRU compute that way, with the same parameters and outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from attnmem_core.models import han
from attnmem_core.models.bigru import BiGRU
from attnmem_core.models.bucketed_bigru import BucketedBiGRU


class PaddedAttention(han.Attention):
    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.tanh(self.W(h))
        scores = (u @ self.u_ctx).masked_fill(~mask, float("-inf"))
        α = torch.softmax(scores, dim=-1)
        return (α.unsqueeze(-1) * h).sum(-2), α


class GatherBiGRU(BiGRU):
    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = torch.arange(x.shape[1], device=x.device)
        real = t < lengths.unsqueeze(-1)
        flip = torch.where(real, lengths.unsqueeze(-1) - 1 - t, t).unsqueeze(-1)

        def reverse(y):
            return y.gather(1, flip.expand_as(y))

        h_forward = self.forward_gru(x)[0]
        h_backward = reverse(self.backward_gru(reverse(x))[0])
        return torch.cat((h_forward, h_backward), -1) * real.unsqueeze(-1)


class BucketedGatherBiGRU(BucketedBiGRU, GatherBiGRU):
    """BucketedBiGRU's grouping, each group run by GatherBiGRU (the next class after BucketedBiGRU here)."""


def as_before(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if type(module) is han.Attention:
            module.__class__ = PaddedAttention
        elif type(module) is BucketedBiGRU:
            module.__class__ = BucketedGatherBiGRU
    return model
