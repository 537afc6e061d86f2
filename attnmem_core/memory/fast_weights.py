"""Fast weights: a recurrent net that attends to its own recent past.

Ba, Hinton, Mnih, Leibo, Ionescu 2016, "Using Fast Weights to Attend to the Recent Past".

The slow weights W (hidden→hidden) and C (input→hidden) are learned as usual. The fast
weight matrix A is not learned: it is a decaying sum of outer products of past hidden
states, rebuilt for every sequence (A = 0 at its start),

    A(t) = λ A(t−1) + η h(t) h(t)ᵀ                                        (Eq. 1)

From h(t) the next state is found by a preliminary step and S inner steps,

    h_0(t+1)     = f(W h(t) + C x(t))
    h_{s+1}(t+1) = f(LN[W h(t) + C x(t) + A(t) h_s(t+1)])                  (Eq. 2)

with f = ReLU and LN a layer norm with learned gain and bias; h(t+1) = h_S(t+1).

Forming A costs O(R²) memory per sequence. Unrolling Eq. 1 gives the same product as
attention over the past states, with h_s as the query, the past h(τ) as keys and values,
and a recency weight λ^{t−τ} in place of a softmax:

    A(t) h_s = η Σ_{τ≤t} λ^{t−τ} h(τ) [h(τ)ᵀ h_s]                          (Sec. 3.1)

which costs O(t·R) and is cheaper while the sequence is shorter than the hidden size.
Both forms are implemented; `form="auto"` picks the cheaper one.
"""
from __future__ import annotations

import torch
from torch import nn

FORMS = ("auto", "attention", "outer")


class FastWeightsRNN(nn.Module):
    """Fast-weights RNN over a batch of sequences (batch, time, input) → (batch, time, hidden).

    `lam` is λ (decay), `eta` is η (fast learning rate), `inner_steps` is S.
    W starts at 0.05·I as in the paper's appendix.
    """

    def __init__(self, input_size: int, hidden_size: int, *, lam: float = 0.95, eta: float = 0.5,
                 inner_steps: int = 1, layer_norm: bool = True, form: str = "auto"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form={form!r}; choose one of {', '.join(FORMS)}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam={lam!r} must lie in [0, 1]")
        if inner_steps < 1:
            raise ValueError(f"inner_steps={inner_steps!r} must be >= 1")
        self.hidden_size, self.lam, self.eta = hidden_size, lam, eta
        self.inner_steps, self.form = inner_steps, form
        self.W = nn.Linear(hidden_size, hidden_size, bias=False)
        self.C = nn.Linear(input_size, hidden_size)
        self.ln = nn.LayerNorm(hidden_size) if layer_norm else nn.Identity()
        with torch.no_grad():
            self.W.weight.copy_(0.05 * torch.eye(hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        use_attention = self.form == "attention" or (self.form == "auto" and steps < self.hidden_size)
        # one matmul for all steps; unbind, since indexing Cx[:, t] would make every step's
        # backward fill a zero tensor the size of the whole sequence
        Cx = self.C(x).unbind(1)
        h = x.new_zeros(batch, self.hidden_size)
        past = []  # attention form: h(1..t)
        A = x.new_zeros(batch, self.hidden_size, self.hidden_size)  # outer-product form
        outputs = []
        for t in range(steps):
            z = self.W(h) + Cx[t]
            h_s = torch.relu(z)
            for _ in range(self.inner_steps):
                if use_attention:
                    A_h = self._attend(past, h_s) if past else torch.zeros_like(h_s)
                else:
                    A_h = torch.bmm(A, h_s.unsqueeze(-1)).squeeze(-1)
                h_s = torch.relu(self.ln(z + A_h))
            h = h_s
            if use_attention:
                past.append(h)
            else:
                A = self.lam * A + self.eta * h.unsqueeze(-1) * h.unsqueeze(-2)
            outputs.append(h)
        return torch.stack(outputs, dim=1)

    def _attend(self, past: list[torch.Tensor], query: torch.Tensor) -> torch.Tensor:
        """η Σ_τ λ^{t−τ} h(τ) [h(τ)ᵀ query] over the stored states h(1..t)."""
        keys = torch.stack(past, dim=1)                                   # (B, t, R)
        ages = torch.arange(len(past) - 1, -1, -1, device=query.device, dtype=query.dtype)
        scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)         # (B, t)  h(τ)ᵀ h_s
        weights = self.eta * self.lam ** ages * scores                    # recency × similarity
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1)           # (B, R)
