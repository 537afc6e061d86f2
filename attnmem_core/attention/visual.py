"""Soft and hard visual attention: Xu et al. 2015, "Show, Attend and Tell" (ICML), Sec. 3.1.2 and 4.

An image is a grid of L annotation vectors a_1..a_L (Eq. 1). At every word t the decoder's
previous hidden state h_{t−1} scores each location with an MLP and normalises the scores:

    e_ti = f_att(a_i, h_{t−1}) = vᵀ tanh(W_a a_i + W_h h_{t−1})          (Eq. 4)
    α_ti = exp(e_ti) / Σ_k exp(e_tk)                                       (Eq. 5)

The context ẑ_t = φ({a_i}, {α_i}) (Eq. 6) is then either

  soft (Sec. 4.2)   ẑ_t = β_t Σ_i α_ti a_i,  β_t = σ(f_β(h_{t−1}))  a scalar gate per step (Sec. 4.2.1)
  hard (Sec. 4.1)   ẑ_t = a_{s_t},  s_t ~ Multinoulli(α_t)            (Eq. 8)

Hard attention is trained with the score-function (REINFORCE) estimator of Eq. 12: for a
caption cost C(s) = −log p(y | s, a), the gradient of E_s[C] is E_s[∇C + (C − b) ∇log p(s)] for
any baseline b that does not depend on s; `reinforce_surrogate` is the loss whose gradient
is that estimate. `doubly_stochastic_penalty` is the regulariser of Eq. 14, λ Σ_i (1 − Σ_t α_ti)²,
which pushes the model to attend to every part of the image over the whole caption.

W_a a_i does not depend on t, so `AttentionScores.keys` computes it once per image.
`mask` (B, L), True where a location exists, gives missing locations α = 0.
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionScores(nn.Module):
    """α_t = softmax(f_att(a, h_{t−1})) (Eq. 4–5), the distribution both kinds of attention share."""

    def __init__(self, annotation_size: int, hidden_size: int, attention_size: int):
        super().__init__()
        self.W_a = nn.Linear(annotation_size, attention_size)
        self.W_h = nn.Linear(hidden_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def keys(self, annotations: torch.Tensor) -> torch.Tensor:
        """W_a a_i for every location: (B, L, annotation_size) → (B, L, attention_size)."""
        return self.W_a(annotations)

    def log_weights(self, keys: torch.Tensor, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log α_t (B, L) for the previous hidden state h (B, hidden_size)."""
        e = self.v(torch.tanh(keys + self.W_h(h).unsqueeze(1))).squeeze(-1)
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(e, dim=-1)


def expected_context(α: torch.Tensor, annotations: torch.Tensor) -> torch.Tensor:
    """Σ_i α_ti a_i: (B, L), (B, L, D) → (B, D)."""
    return torch.bmm(α.unsqueeze(1), annotations).squeeze(1)


class SoftAttention(nn.Module):
    """ẑ_t = β_t Σ_i α_ti a_i with the gating scalar β_t = σ(f_β(h_{t−1})) (Eq. 4–6, Sec. 4.2.1)."""

    def __init__(self, annotation_size: int, hidden_size: int, attention_size: int):
        super().__init__()
        self.scores = AttentionScores(annotation_size, hidden_size, attention_size)
        self.f_beta = nn.Linear(hidden_size, 1)

    def forward(
        self, annotations: torch.Tensor, keys: torch.Tensor, h: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ẑ_t (B, D), α_t (B, L), β_t (B, 1))."""
        α = self.scores.log_weights(keys, h, mask).exp()
        β = torch.sigmoid(self.f_beta(h))
        return β * expected_context(α, annotations), α, β


LOCATIONS = ("sampled", "expected", "argmax")


class HardAttention(nn.Module):
    """ẑ_t = a_{s_t} with s_t ~ Multinoulli(α_t) (Eq. 8) when `locations` is "sampled", the expectation
    Σ_i α_ti a_i when "expected" (the authors' code trains on it half the time), a_{argmax α_t} when "argmax".

    Returns (ẑ_t, α_t, log p(s_t) or None, H(α_t)); log p(s_t) only for sampled locations; the entropy H is the
    bonus term of Eq. 12.
    """

    def __init__(self, annotation_size: int, hidden_size: int, attention_size: int):
        super().__init__()
        self.scores = AttentionScores(annotation_size, hidden_size, attention_size)

    def forward(
        self,
        annotations: torch.Tensor,
        keys: torch.Tensor,
        h: torch.Tensor,
        *,
        locations: str,
        mask: torch.Tensor | None = None,
    ):
        log_α = self.scores.log_weights(keys, h, mask)
        α = log_α.exp()
        entropy = -(α * log_α.clamp_min(torch.finfo(log_α.dtype).min)).sum(-1)  # 0·log 0 = 0 at masked places
        if locations == "expected":
            return expected_context(α, annotations), α, None, entropy
        if locations == "sampled":
            s = torch.multinomial(α.detach(), 1)  # (B, 1)
        elif locations == "argmax":
            s = α.detach().argmax(-1, keepdim=True)
        else:
            raise ValueError(f"locations={locations!r}; choose one of {', '.join(LOCATIONS)}")
        z = annotations.gather(1, s.unsqueeze(-1).expand(-1, -1, annotations.shape[-1])).squeeze(1)
        return z, α, log_α.gather(1, s).squeeze(1) if locations == "sampled" else None, entropy


def reinforce_surrogate(
    cost: torch.Tensor, log_p_samples: torch.Tensor, baseline: float | torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """Per example C + scale·(C − b)·log p(s), whose gradient is the estimate ∇C + scale·(C − b)∇log p(s) of
    ∇E_s[C] (Eq. 12; the score-function term scaled by `scale`, 1/10 in the authors' code).

    cost (B,) is C(s) for the sampled locations, log_p_samples (B,) is Σ_t log p(s_t); (C − b) is a constant.
    """
    return cost + scale * (cost - baseline).detach() * log_p_samples


def per_word_reinforce_surrogate(
    word_costs: torch.Tensor, log_p_samples: torch.Tensor, baseline: float | torch.Tensor, scale: float = 0.1
) -> torch.Tensor:
    """Per example Σ_t [c_t + scale·(c_t − b)·log p(s_t)]: each location s_t credited with the cost of its own word
    c_t = −log p(y_t | s_≤t, y_<t) only, as the authors' code does by default (its `RL_sumCost=False`, scale 1/10).

    word_costs, log_p_samples (B, T), zero past each caption's end; (c_t − b) is a constant. Crediting s_t with
    c_t alone leaves out the effect of s_t on later words, so this is a lower-variance, biased estimate of Eq. 12.
    """
    return (word_costs + scale * (word_costs - baseline).detach() * log_p_samples).sum(1)


def doubly_stochastic_penalty(α: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_i (1 − Σ_t α_ti)² per caption (Eq. 14 without λ): α (B, T, L); steps (B, T) True on the caption's words."""
    if steps is not None:
        α = α * steps.unsqueeze(-1)
    return ((1.0 - α.sum(1)) ** 2).sum(-1)
