"""The IRNN and LSTM baselines of Ba et al. 2016, Table 1.

Like every core of the chapter, each splits into `project` (its linear input map) and `recur`.

IRNN. At the paper's sizes (R ≤ 100 units, 11 steps, batch 128) `nn.RNN` records a dozen autograd
operations per step, more work than its arithmetic. Here the recurrence is one
`torch.autograd.Function` over the sequence: the forward keeps the states, the backward runs the
steps in reverse (one fused ReLU backward and one matrix product each), and the recurrent weight's
gradient comes from one matrix product over all steps at the end. The parameters stay in `nn.RNN`
(`self.rnn`): same initialisation, same names in a state dict, so models trained before still load.

LSTM. torch's own: a hand-written recurrence like the IRNN's was measured no faster than oneDNN's
LSTM at these sizes (0.98–1.11× per update at R = 20, 50, 100), so it is not kept.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F


class IRNN(nn.Module):
    """ReLU RNN with identity-scaled recurrent weights: h(t) = relu(Wᵢₕ x(t) + b + W h(t−1)), W = scale·I."""

    def __init__(self, input_size: int, hidden_size: int, scale: float = 0.5):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(scale * torch.eye(hidden_size))
            self.rnn.bias_hh_l0.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.project(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The input map, linear in x: (..., input) → (..., hidden)."""
        return F.linear(x, self.rnn.weight_ih_l0, self.rnn.bias_ih_l0 + self.rnn.bias_hh_l0)

    def recur(self, projected: torch.Tensor) -> torch.Tensor:
        """The recurrence over projected inputs (batch, time, hidden) → (batch, time, hidden)."""
        return _ReluRecurrence.apply(projected.transpose(0, 1), self.rnn.weight_hh_l0).transpose(0, 1)


class LSTM(nn.Module):
    """torch's LSTM (oneDNN underneath on a CPU). It projects its inputs itself, so `project` is the identity."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.project(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def recur(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class _ReluRecurrence(torch.autograd.Function):
    """h(t) = relu(P(t) + W h(t−1)), h(−1) = 0, time first: P (T, B, R) → h (T, B, R)."""

    @staticmethod
    def forward(ctx, P, W):
        H = torch.empty_like(P)
        torch.clamp(P[0], min=0, out=H[0])
        for t in range(1, len(P)):
            torch.addmm(P[t], H[t - 1], W.t(), out=H[t]).clamp_(min=0)
        ctx.save_for_backward(W, H)
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        W, H = ctx.saved_tensors
        dP = torch.empty_like(H)
        dh = dH[-1]
        for t in reversed(range(len(H))):
            dP[t] = torch.ops.aten.threshold_backward(dh, H[t], 0)
            if t:
                dh = torch.addmm(dH[t - 1], dP[t], W)
        R = H.shape[-1]
        return dP, dP[1:].reshape(-1, R).t() @ H[:-1].reshape(-1, R)
