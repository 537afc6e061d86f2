"""The IRNN and LSTM baselines of Ba et al. 2016, Table 1, with their backward written out.

At the paper's sizes (R ≤ 100 units, 11 steps, batch 128) torch's own recurrences are slow on a
CPU: `nn.LSTM` runs oneDNN's LSTM, whose fixed cost per call outweighs the arithmetic, and
`nn.RNN` records a dozen autograd operations per step. Here each recurrence is one
`torch.autograd.Function` over the whole sequence: the forward keeps the states, the backward
runs the steps in reverse with one fused operation where it can, and the weight gradients of
all steps come from one matrix product at the end. tanh is computed as 2σ(2x) − 1: torch's CPU
tanh is several times slower than its sigmoid at these sizes.

The parameters stay in `nn.RNN` / `nn.LSTM` (`self.rnn`), so that their initialisation, their
names in a state dict, and the models trained before, are unchanged. Like every core of the
chapter, each splits into `project` (the input map x Wᵢₕᵀ + b, linear, left to autograd) and
`recur` (the recurrence).
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
    """LSTM with torch's gate layout (input, forget, cell, output) and parameters."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.project(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The input map, linear in x: (..., input) → (..., 4·hidden)."""
        return F.linear(x, self.rnn.weight_ih_l0, self.rnn.bias_ih_l0 + self.rnn.bias_hh_l0)

    def recur(self, projected: torch.Tensor) -> torch.Tensor:
        """The recurrence over projected inputs (batch, time, 4·hidden) → (batch, time, hidden)."""
        return _LSTMRecurrence.apply(projected.transpose(0, 1), self.rnn.weight_hh_l0).transpose(0, 1)


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


class _LSTMRecurrence(torch.autograd.Function):
    """The LSTM over a sequence from its projected inputs P (T, B, 4R) → h (T, B, R); h(−1) = c(−1) = 0.

    i, f, g, o = σ, σ, tanh, σ of P(t) + W h(t−1),   c(t) = f c(t−1) + i g,   h(t) = o tanh(c(t))
    """

    @staticmethod
    def forward(ctx, P, W):
        steps, batch, four_R = P.shape
        R = four_R // 4
        gates = torch.empty_like(P)  # i, f, g, o after their nonlinearities
        C, tanh_C, H = P.new_empty(3, steps, batch, R)  # cell states, their tanh, the outputs
        Wt = W.t()
        # every step's views made once: indexing a tensor costs as much as a small operation
        Ps, gates_s, Cs, tanh_Cs, Hs = (x.unbind(0) for x in (P, gates, C, tanh_C, H))
        for t in range(steps):
            pre = Ps[0].clone() if t == 0 else torch.addmm(Ps[t], Hs[t - 1], Wt)
            i, f, g, o = gates_s[t].chunk(4, dim=1)
            pre[:, 2 * R : 3 * R] *= 2
            torch.sigmoid(pre, out=gates_s[t])
            g.mul_(2).sub_(1)  # tanh(x) = 2σ(2x) − 1
            if t == 0:
                torch.mul(i, g, out=Cs[t])
            else:
                torch.addcmul(f * Cs[t - 1], i, g, out=Cs[t])
            torch.mul(o, _tanh(Cs[t], out=tanh_Cs[t]), out=Hs[t])
        ctx.save_for_backward(W, gates, C, tanh_C, H)
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        W, gates, C, tanh_C, H = ctx.saved_tensors
        steps, batch, R = H.shape
        dP = torch.empty_like(gates)
        d_gates = gates.new_empty(batch, 4 * R)  # gradient after the nonlinearities, one step at a time
        di, df, dg, do = d_gates.chunk(4, dim=1)
        dh, dc = dH[-1], None
        for t in reversed(range(steps)):
            i, f, g, o = gates[t].chunk(4, dim=1)
            dP_t = dP[t]
            dc_t = torch.ops.aten.tanh_backward(dh * o, tanh_C[t])
            dc = dc_t if dc is None else dc.add_(dc_t)
            torch.mul(dc, g, out=di)
            if t:
                torch.mul(dc, C[t - 1], out=df)
            else:
                df.zero_()
            torch.mul(dc, i, out=dg)
            torch.mul(dh, tanh_C[t], out=do)
            torch.ops.aten.sigmoid_backward.grad_input(d_gates, gates[t], grad_input=dP_t)
            torch.ops.aten.tanh_backward.grad_input(dg, g, grad_input=dP_t[:, 2 * R : 3 * R])
            if t:
                dh = torch.addmm(dH[t - 1], dP_t, W)
                dc = dc * f
        return dP, dP[1:].flatten(0, 1).t() @ H[:-1].flatten(0, 1)


def _tanh(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2σ(2x) − 1: torch's CPU tanh is several times slower than its sigmoid."""
    return torch.sigmoid(2 * x, out=out).mul_(2).sub_(1)
