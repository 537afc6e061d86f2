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

Speed. The recurrence is one `torch.autograd.Function` over the whole sequence with its backward
written out (`_AssociativeRecurrence`), as the fast-weights core's is: autograd's complex backward
adds conjugations, dtype promotions and zero fills around each of the ~20 operations per step. Every
operation here runs on a few tens of thousands of numbers, so each one counts.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def bound(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z / max(1, |z|) element-wise on a complex tensor: moduli above 1 become 1, the rest pass. Returned with
    what its backward needs: the factor 1 / max(1, |z|) and where it caps (|z| ≥ 1)."""
    # |z|² from the real and imaginary parts: complex abs, or a sum over view_as_real's last axis of 2, takes
    # 2–3× as long on CPU; clamping before rsqrt keeps the gradient finite at z = 0
    squared = z.real.square() + z.imag.square()
    scale = squared.clamp(min=1.0).rsqrt()
    return z * scale, scale, squared >= 1.0


def bound_backward(d_out: torch.Tensor, out: torch.Tensor, scale: torch.Tensor, capped: torch.Tensor):
    """The gradient of z from that of out = bound(z)[0]: where capped, out = z / |z| loses its radial part,
    dz = (d_out − out Re(conj(out) d_out)) / |z|; elsewhere dz = d_out."""
    radial = (out.conj() * d_out).real * capped
    return scale * (d_out - out * radial)


def permute(r: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Every copy's key P_s r: r (..., K), P (copies, K) → (..., copies, K)."""
    return r.index_select(-1, P.flatten()).unflatten(-1, P.shape)


def unpermute(d: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """The gradient of r from that of `permute(r, P)`: d (..., copies, K) summed back onto r's K units."""
    out = d.new_zeros(*d.shape[:-2], P.shape[1])
    return out.index_add_(-1, P.flatten(), d.flatten(-2))


def store(keys: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """What each copy adds when v (..., K) is written under its key P_s r (`keys`, (..., copies, K)): P_s r ⊛ v."""
    return keys * v.unsqueeze(-2)


def retrieve(c: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Read the copies c (..., copies, K) with their keys P_s r: (1/N_copies) Σ_s conj(P_s r) ⊛ c_s."""
    return (keys.conj() * c).mean(-2)


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
        return _AssociativeRecurrence.apply(Wx.transpose(0, 1), self.U.weight, self.P, self.heads).transpose(0, 1)


class _AssociativeRecurrence(torch.autograd.Function):
    """The recurrent step of Sec. 3 over a whole sequence, time first: Wx (T, B, width) → h (T, B, R).

    h_0 = 0 and c_0 = 0, so the first step leaves out U h_0 and g_f ⊙ c_0. The backward runs the steps in
    reverse with the complex gradients of a real loss (∂/∂Re + i ∂/∂Im): for w = a ⊛ v, da = dw ⊛ conj(v)
    and dv = dw ⊛ conj(a); for y = conj(b) ⊛ c, dc = b ⊛ dy and db = c ⊛ conj(dy). The forward keeps every
    step's intermediate values for it: at these sizes recomputing them costs more than holding them.
    """

    @staticmethod
    def forward(ctx, Wx, U, P, heads: int):
        steps, batch, _ = Wx.shape
        K, H = P.shape[1], heads
        hs = Wx.new_empty(steps, batch, 2 * K)
        saved = []
        Ut = U.t()
        c = None
        for t, Wx_t in enumerate(Wx.unbind(0)):
            z = Wx_t if t == 0 else torch.addmm(Wx_t, hs[t - 1], Ut)
            g = torch.sigmoid(z[:, : 3 * K])
            # the gates as complex numbers once, not promoted again by every product below
            g_f, g_i, g_o = torch.complex(g, torch.zeros_like(g)).view(batch, 3, 1, K).unbind(1)  # (batch, 1, K)
            raw = z[:, 3 * K :].view(batch, H, 3, 2, K)
            keys_bound = bound(torch.complex(raw[..., 0, :], raw[..., 1, :]))  # bound(r̂_i, r̂_o, û) and its factors
            r_i, r_o, u = keys_bound[0].unbind(2)  # (batch, H, K)
            v = g_i * u
            a = permute(r_i, P)  # (batch, H, copies, K)
            written = store(a, v).sum(1)
            c_previous, c = c, written if c is None else g_f * c + written
            b = permute(r_o.sum(1), P)  # (batch, copies, K)
            read_bound = bound(retrieve(c, b))
            h_c = g_o.squeeze(1) * read_bound[0]
            torch.cat((h_c.real, h_c.imag), dim=-1, out=hs[t])
            saved.append((g, (g_f, g_i, g_o), keys_bound, v, a, b, c_previous, c, read_bound))
        ctx.save_for_backward(U, P, hs)
        ctx.steps_saved = saved
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs):
        U, P, hs = ctx.saved_tensors
        steps, batch, R = hs.shape
        K, copies = R // 2, P.shape[0]
        dZ = dhs.new_empty(steps, batch, U.shape[0])
        dc = None  # the loss's gradient of c_t, from the reads of step t onwards
        for t in reversed(range(steps)):
            g, (g_f, g_i, g_o), keys_bound, v, a, b, c_previous, c, read_bound = ctx.steps_saved[t]
            dh = dhs[t] if t == steps - 1 else torch.addmm(dhs[t], dZ[t + 1], U)
            # h = g_o ⊙ bound(y)
            d_hc = torch.complex(dh[:, :K], dh[:, K:])
            dg_o = (read_bound[0].conj() * d_hc).real
            dy = bound_backward(g_o.squeeze(1) * d_hc, *read_bound) / copies
            # y = (1/N_copies) Σ_s conj(b_s) ⊛ c_s, b = P ρ, ρ = Σ_heads r_o
            d_read_c = b * dy.unsqueeze(1)
            dc = d_read_c if dc is None else dc + d_read_c
            d_rho = unpermute(c * dy.conj().unsqueeze(1), P)
            # c_t = g_f ⊙ c_{t−1} + Σ_heads a ⊛ v, a = P r_i, v = g_i ⊙ u
            dg_f = (c_previous.conj() * dc).real.sum(1) if t else torch.zeros_like(dg_o)
            dv = (dc.unsqueeze(1) * a.conj()).sum(2)
            dr_i = unpermute(dc.unsqueeze(1) * v.conj().unsqueeze(2), P)
            u = keys_bound[0][:, :, 2]
            dg_i = (u.conj() * dv).real.sum(1)
            d_keys = torch.stack((dr_i, d_rho.unsqueeze(1).expand_as(u), g_i * dv), dim=2)
            d_raw = bound_backward(d_keys, *keys_bound)
            torch.mul(torch.cat((dg_f, dg_i, dg_o), dim=1), g * (1 - g), out=dZ[t, :, : 3 * K])
            dZ[t, :, 3 * K :].view(d_raw.shape[:3] + (2, K)).copy_(torch.view_as_real(d_raw).transpose(-1, -2))
            dc = g_f * dc
        dU = dZ[1:].flatten(0, 1).t() @ hs[:-1].flatten(0, 1)
        return dZ, dU, None, None
