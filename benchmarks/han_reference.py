"""HAN as it computed before, frozen: what the faster one is timed against in `benchmarks/han.py`.

At 5967f37 each bidirectional GRU grouped its own rows by length (`BucketedBiGRU`): the
embedded (sentences, words, features) batch was gathered per group, and the GRU's states put
back in row order before the word attention; now each group is embedded, read and pooled on its
own (`length_groups.in_length_groups`). `as_at_5967f37(model)` makes a built HAN or flat GRU
compute that way, with the same parameters and outputs.

Earlier still, at 12a214b, the word attention ran its tanh layer over every
step of the padded batch, about half of it padding, and the backward GRU's reversal was a
`gather` along time: `as_before(model)`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from attnmem_core.data.text import PAD
from attnmem_core.models import han
from attnmem_core.models.bigru import BiGRU
from attnmem_core.models.length_groups import STEP_COST_IN_ROWS, length_buckets


class BucketedBiGRU(BiGRU):
    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        groups = length_buckets(lengths.cpu().numpy(), STEP_COST_IN_ROWS)
        if len(groups) == 1:
            return super().forward(x, lengths)
        outputs = []
        for group in groups:
            index = torch.from_numpy(group).to(x.device)
            longest = int(lengths[index].max())
            h = super().forward(x[index, :longest], lengths[index])
            outputs.append(nn.functional.pad(h, (0, 0, 0, x.shape[1] - longest)))
        back = torch.from_numpy(np.argsort(np.concatenate(groups))).to(x.device)
        return torch.cat(outputs)[back]


class HANWithBucketedEncoders(han.HAN):
    def attend(self, tokens: torch.Tensor):
        word_mask = tokens != PAD
        sentence_mask = word_mask.any(-1)
        words = tokens[sentence_mask]
        h_it = self.word_encoder(self.embed(words), word_mask[sentence_mask].sum(-1))
        s_i, α_it = self.word_pool(h_it, word_mask[sentence_mask])
        sentences = s_i.new_zeros(*sentence_mask.shape, s_i.shape[-1]).masked_scatter(sentence_mask.unsqueeze(-1), s_i)
        h_i = self.sentence_encoder(sentences, sentence_mask.sum(-1))
        v, α_i = self.sentence_pool(h_i, sentence_mask)
        if α_it is not None:
            α_it = α_it.new_zeros(word_mask.shape).masked_scatter(sentence_mask.unsqueeze(-1), α_it)
        return self.classify(v), α_it, α_i


class FlatGRUWithBucketedEncoder(han.FlatGRU):
    def attend(self, tokens: torch.Tensor):
        word_mask = tokens != PAD
        lengths = word_mask.flatten(1).sum(-1)
        words = tokens.new_full((len(tokens), int(lengths.max())), PAD)
        flat_mask = han.steps(words, lengths)
        words[flat_mask] = tokens[word_mask]
        v, α_t = self.pool(self.encoder(self.embed(words), lengths), flat_mask)
        return self.classify(v), α_t.new_zeros(word_mask.shape).masked_scatter(word_mask, α_t[flat_mask]), None


def as_at_5967f37(model: nn.Module) -> nn.Module:
    if isinstance(model, han.HAN):
        model.__class__ = HANWithBucketedEncoders
        encoders = (model.word_encoder, model.sentence_encoder)
    else:
        model.__class__ = FlatGRUWithBucketedEncoder
        encoders = (model.encoder,)
    for encoder in encoders:
        encoder.__class__ = BucketedBiGRU
    return model


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
    as_at_5967f37(model)
    for module in model.modules():
        if type(module) is han.Attention:
            module.__class__ = PaddedAttention
        elif type(module) is BucketedBiGRU:
            module.__class__ = BucketedGatherBiGRU
    return model
