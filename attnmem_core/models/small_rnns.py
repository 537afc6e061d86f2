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
    """torch's LSTM (oneDNN underneath on a CPU). It projects its inputs itself, so `project` is the identity.

    torch draws both of each gate's biases from U(±1/√R), so the forget gate starts near 0.5; `forget_bias` sets
    the forget gate's bias to that value instead (the usual +1 of Gers et al. 2000 and Jozefowicz et al. 2015).
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float | None = None):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        if forget_bias is not None:
            forget = slice(hidden_size, 2 * hidden_size)  # torch's gate order: input, forget, cell, output
            with torch.no_grad():
                self.rnn.bias_ih_l0[forget] = forget_bias
                self.rnn.bias_hh_l0[forget] = 0.0

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
        Ps, Hs, Wt = P.unbind(0), H.unbind(0), W.t()  # views made once: indexing costs as much as a small op
        torch.clamp_min(Ps[0], 0, out=Hs[0])
        for t in range(1, len(Ps)):
            torch.addmm(Ps[t], Hs[t - 1], Wt, out=Hs[t]).clamp_min_(0)
        ctx.save_for_backward(W, H)
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        W, H = ctx.saved_tensors
        dP = torch.empty_like(H)
        Hs, dHs, dPs = H.unbind(0), dH.unbind(0), dP.unbind(0)
        dh = dHs[-1]
        for t in reversed(range(len(Hs))):
            torch.ops.aten.threshold_backward.grad_input(dh, Hs[t], 0, grad_input=dPs[t])
            if t:
                dh = torch.addmm(dHs[t - 1], dPs[t], W)
        return dP, dP[1:].flatten(0, 1).t() @ H[:-1].flatten(0, 1)
