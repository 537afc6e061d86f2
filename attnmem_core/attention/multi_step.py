"""Multi-step attention: Gehring et al. 2017, "Convolutional Sequence to Sequence Learning" (ICML), Sec. 3.3–3.4.

Every decoder layer l that attends combines its state h_i^l (after the gated linear unit)
with the embedding g_i of the previous target token into a query, scores it against the
encoder outputs z_j, and reads the values z_j + e_j, where e_j is the source embedding
(word plus position):

    d_i^l  = W_d^l h_i^l + b_d^l + g_i
    a_ij^l = exp(d_i^l · z_j) / Σ_t exp(d_i^l · z_t)
    c_i^l  = Σ_j a_ij^l (z_j + e_j)

and c_i^l is projected back to the layer's channels and added to h_i^l. "Multi-step"
because a decoder of several attending layers re-attends with a query that already knows
what the layers below attended to.

Scaling (Sec. 3.4), as the authors' released code does it: every sum of two terms is
multiplied by √0.5 to keep its variance (the query, the values and the output sum), and
c_i is multiplied by m·√(1/m) = √m, m the number of real (unpadded) source tokens, which
undoes the shrinking of the variance a uniform average over m vectors would cause.
Padded source positions get a_ij = 0.

Both projections start from N(0, 1/n_in) (Sec. 3.5: layers not followed by a GLU); the
model wraps them in weight normalisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

HALF = math.sqrt(0.5)


def encoder_memory(z: torch.Tensor, e: torch.Tensor, mask: torch.Tensor) -> dict:
    """What every attending layer reads: keys z (B, Tx, d), values (z + e)·√0.5, the mask (B, Tx) True on real
    tokens, and √m per sentence (B, 1, 1)."""
    return {"h": z, "values": (z + e) * HALF, "mask": mask, "scale": mask.sum(-1).float().sqrt().view(-1, 1, 1)}


class MultiStepAttention(nn.Module):
    def __init__(self, channels: int, embedding: int):
        super().__init__()
        self.W_d = nn.Linear(channels, embedding)
        self.W_c = nn.Linear(embedding, channels)
        for W in (self.W_d, self.W_c):
            nn.init.normal_(W.weight, std=W.in_features**-0.5)
            nn.init.zeros_(W.bias)

    def forward(self, h: torch.Tensor, g: torch.Tensor, memory: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, T, channels), g (B, T, embedding) → (h + projected c, scaled by √0.5; a (B, T, Tx))."""
        d = (self.W_d(h) + g) * HALF
        scores = d @ memory["h"].transpose(1, 2)
        scores = scores.float().masked_fill(~memory["mask"].unsqueeze(1), float("-inf"))
        a = torch.softmax(scores, -1).to(d.dtype)
        c = (a @ memory["values"]) * memory["scale"].to(d.dtype)
        return (self.W_c(c) + h) * HALF, a
