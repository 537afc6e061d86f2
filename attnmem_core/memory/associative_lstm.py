"""Associative LSTM: an LSTM whose cell is a redundant holographic key-value store.

Danihelka, Wayne, Uria, Kalchbrenner, Graves 2016, "Associative Long Short-Term Memory"
(arXiv 1602.03032). Ba et al. 2016, "Using Fast Weights to Attend to the Recent Past", use it
with 4 copies and 3 read-write heads as their "A-LSTM" baseline.

Holographic memory (Sec. 2.2). A value v is bound to a key r by element-wise complex
multiplication r ⊛ v, and pairs are stored by adding them into one trace c. For a key of unit
modulus the conjugate undoes the binding, conj(r) ⊛ (r ⊛ v) = v; every other pair in the trace
adds zero-mean noise.

Redundant copies (Sec. 2.3). N_copies traces c_s, each binding with its own fixed random
permutation P_s of the key: c_s = Σ_k (P_s r_k) ⊛ v_k. The mean of the reads
(1/N_copies) Σ_s conj(P_s r_k) ⊛ c_s still holds v_k exactly, but the permutations make the
noise differ between copies, so averaging shrinks its variance by about 1/N_copies.

The recurrent step (Sec. 3), with R = hidden_size real units, i.e. R/2 complex units:

    ĝ_f, ĝ_i, ĝ_o, r̂_i, r̂_o, û = W x_t + U h_{t-1} + b
    g_f, g_i, g_o = σ(ĝ_f), σ(ĝ_i), σ(ĝ_o)    real, R/2 each; one value gates both parts of a unit
    r_i, r_o, u = bound(r̂_i), bound(r̂_o), bound(û)       complex, R/2 each
    bound(z) = z / max(1, |z|)                               element-wise, so |bound(z)| ≤ 1
    r_{i,s} = P_s r_i,   r_{o,s} = P_s r_o
    c_{s,t} = g_f ⊙ c_{s,t-1} + r_{i,s} ⊛ (g_i ⊙ u)
    h_t = g_o ⊙ bound((1/N_copies) Σ_s conj(r_{o,s}) ⊛ c_{s,t})

h_t is returned as R reals laid out [Re; Im]; h_0 = 0 and c_0 = 0. Reading with conj(r_o)
rather than r_o only flips the sign of the rows of W, U and b that make Im r̂_o, so the net can
represent the same functions either way; with it, r_o = r_i reads back what r_i wrote.

Read-write heads. Each head k has its own r̂_i^k, r̂_o^k and û^k; the gates are shared. Every
head writes into every copy, and the heads' reads are summed before the bound:

    c_{s,t} = g_f ⊙ c_{s,t-1} + Σ_k r_{i,s}^k ⊛ (g_i ⊙ u^k)
    h_t = g_o ⊙ bound(Σ_k (1/N_copies) Σ_s conj(r_{o,s}^k) ⊛ c_{s,t})

This is this module's reading of "heads"; it was not checked against the paper's own text.
The read is linear in the key, so the summed reads equal one read with the key Σ_k r_o^k,
which is how it is computed.

Complex numbers use torch's complex dtypes: fewer kernels per step than (real, imag) pairs of
real tensors, and measured faster on CPU.
"""

from __future__ import annotations

import torch
from torch import nn


def bound(z: torch.Tensor) -> torch.Tensor:
    """z / max(1, |z|) element-wise on a complex tensor: moduli above 1 become 1, the rest pass."""
    # |z|² from the real view (complex abs is slow on CPU); clamping before rsqrt keeps the
    # gradient finite at z = 0
    return z * torch.view_as_real(z).square().sum(-1).clamp(min=1.0).rsqrt()


def permute(r: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Every copy's key P_s r: r (..., K), P (copies, K) → (..., copies, K)."""
    return r.index_select(-1, P.flatten()).unflatten(-1, P.shape)


def store(r: torch.Tensor, v: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """What each copy adds when v is written under key r: P_s r ⊛ v, shape (..., copies, K)."""
    return permute(r, P) * v.unsqueeze(-2)


def retrieve(c: torch.Tensor, r: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Read key r from the copies c (..., copies, K): (1/N_copies) Σ_s conj(P_s r) ⊛ c_s."""
    return (permute(r, P).conj() * c).mean(-2)


class AssociativeLSTM(nn.Module):
    """Associative LSTM over a batch of sequences, (batch, time, input) → (batch, time, hidden).

    `hidden_size` R counts real output units and must be even: h_t holds R/2 complex units as
    [Re; Im]. `copies` is N_copies and `heads` the number of read-write heads. `seed` fixes the
    permutations P (a buffer, not learned); the parameters use the global torch RNG as usual.
    """

    def __init__(self, input_size: int, hidden_size: int, copies: int = 4, heads: int = 3, seed: int = 0):
        super().__init__()
        if hidden_size <= 0 or hidden_size % 2:
            raise ValueError(
                f"hidden_size={hidden_size!r} must be positive and even (R real units hold R/2 complex units)"
            )
        if copies < 1:
            raise ValueError(f"copies={copies!r} must be >= 1")
        if heads < 1:
            raise ValueError(f"heads={heads!r} must be >= 1")
        self.hidden_size, self.copies, self.heads = hidden_size, copies, heads
        K = hidden_size // 2
        # 3 real gates of K units, then per head r̂_i, r̂_o, û of K complex units each
        width = 3 * K + heads * 3 * 2 * K
        self.W = nn.Linear(input_size, width)
        self.U = nn.Linear(hidden_size, width, bias=False)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("P", torch.stack([torch.randperm(K, generator=generator) for _ in range(copies)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.project(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """W x + b: the input map, linear in x, (..., input) → (..., width) for all gates and keys."""
        return self.W(x)

    def recur(self, Wx: torch.Tensor) -> torch.Tensor:
        """The recurrence over the projected inputs (batch, time, width) → (batch, time, hidden)."""
        batch = Wx.shape[0]
        K, H = self.hidden_size // 2, self.heads
        h = c = None  # h_0 = 0 and c_0 = 0: the first step leaves out the terms they would add
        outputs = []
        # unbind rather than index per step, whose backward would fill a zero tensor of the full
        # (batch, time, width) size at every step
        for Wx_t in Wx.unbind(1):
            z = Wx_t if h is None else torch.addmm(Wx_t, h, self.U.weight.t())
            g_f, g_i, g_o = torch.sigmoid(z[:, : 3 * K]).view(batch, 3, 1, K).unbind(1)  # (batch, 1, K)
            keys = z[:, 3 * K :].view(batch, H, 3, 2, K)
            r_i, r_o, u = bound(torch.complex(keys[..., 0, :], keys[..., 1, :])).unbind(2)  # (batch, H, K)
            written = store(r_i, g_i * u, self.P).sum(1)
            c = written if c is None else g_f * c + written
            h_c = g_o.squeeze(1) * bound(retrieve(c, r_o.sum(1), self.P))
            h = torch.cat((h_c.real, h_c.imag), dim=-1)
            outputs.append(h)
        return torch.stack(outputs, dim=1)
