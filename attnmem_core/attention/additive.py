"""Additive ("concat") attention: the alignment model of Bahdanau, Cho, Bengio 2015.

"Neural Machine Translation by Jointly Learning to Align and Translate" (ICLR), Sec. 3.1
and Appendix A.1.2. Given the decoder's previous state s_{i−1} and the source annotations
h_1..h_Tx:

    e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j)                          (the alignment model a)
    α_ij = exp(e_ij) / Σ_k exp(e_ik)                                  (Eq. 6)
    c_i  = Σ_j α_ij h_j                                               (Eq. 5)

U_a h_j does not depend on i, so `keys` computes it once per sentence and every decoder
step reuses it (the paper's appendix makes the same remark); only W_a s_{i−1} is new at each
step. Padded source positions get α = 0. The paper's initialisation (Appendix B.1): W_a and
U_a from N(0, 0.001²), v_a = 0, so every alignment starts uniform.

`scores` scores many queries against every key at once (e.g. the heads of a Transformer, Vaswani
et al. 2017, Sec. 3.2.1, which compare this "additive attention" with dot-product attention): it
builds a (…, Tq, Tk, hidden_size) tensor before the tanh, where a dot product needs only (…, Tq, Tk).
"""

from __future__ import annotations

import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        self.W_a = nn.Linear(query_size, hidden_size, bias=False)
        self.U_a = nn.Linear(key_size, hidden_size)
        self.v_a = nn.Linear(hidden_size, 1, bias=False)
        nn.init.normal_(self.W_a.weight, std=0.001)
        nn.init.normal_(self.U_a.weight, std=0.001)
        nn.init.zeros_(self.U_a.bias)
        nn.init.zeros_(self.v_a.weight)

    def keys(self, h: torch.Tensor) -> torch.Tensor:
        """U_a h_j for every annotation: (B, Tx, key_size) → (B, Tx, hidden_size)."""
        return self.U_a(h)

    def scores(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """e_ij = v_aᵀ tanh(W_a q_i + U_a h_j) for every query against every key: queries (…, Tq, query_size) and
        keys = `keys(h)` (…, Tk, hidden_size) → (…, Tq, Tk)."""
        return self.v_a(torch.tanh(self.W_a(queries).unsqueeze(-2) + keys.unsqueeze(-3))).squeeze(-1)

    def forward(
        self, s: torch.Tensor, keys: torch.Tensor, h: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """c_i (B, key_size) and α_i (B, Tx) for queries s_{i−1} (B, query_size); mask (B, Tx) is True on real
        tokens."""
        if mask.shape != keys.shape[:2]:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; expected (batch, source length) = {tuple(keys.shape[:2])}"
            )
        e = self.v_a(torch.tanh(self.W_a(s).unsqueeze(1) + keys)).squeeze(-1)
        α = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.bmm(α.unsqueeze(1), h).squeeze(1), α
