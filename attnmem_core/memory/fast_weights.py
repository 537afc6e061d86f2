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

`layer_norm_h0=True` normalises the preliminary step too, h_0(t+1) = f(LN[W h(t) + C x(t)]), as a public
reimplementation does (the paper's Eq. 2 does not); only the outer-product form implements it.

Speed. The nets of the paper's task are tiny (R ≤ 100, 11 steps), so autograd's bookkeeping
(~20 recorded operations per step) costs more than the arithmetic. The attention form is
therefore one `torch.autograd.Function` over the whole sequence, its backward written out
(`_AttentionRecurrence`); the outer-product form, kept for long sequences, is plain autograd.
The inner products are written as broadcast products and sums: a batched matrix–vector
product through `bmm` is several times slower at these shapes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

FORMS = ("auto", "attention", "outer")
INNER_STEPS = 1  # S, the inner loop's steps per time step, in the paper's main runs


class FastWeightsRNN(nn.Module):
    """Fast-weights RNN over a batch of sequences (batch, time, input) → (batch, time, hidden).

    `lam` is λ (decay), `eta` is η (fast learning rate), `inner_steps` is S; `layer_norm_h0` puts the inner
    loop's layer norm on the preliminary step too. W starts at 0.05·I as in the paper's appendix.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        lam: float = 0.95,
        eta: float = 0.5,
        inner_steps: int = INNER_STEPS,
        layer_norm: bool = True,
        form: str = "auto",
        layer_norm_h0: bool = False,
    ):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form={form!r}; choose one of {', '.join(FORMS)}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam={lam!r} must lie in [0, 1]")
        if inner_steps < 1:
            raise ValueError(f"inner_steps={inner_steps!r} must be >= 1")
        if layer_norm_h0 and form == "attention":
            raise ValueError(
                "layer_norm_h0=True is implemented in the outer-product form only; use form='auto' or 'outer'"
            )
        self.hidden_size, self.lam, self.eta = hidden_size, lam, eta
        self.inner_steps, self.form, self.layer_norm_h0 = inner_steps, form, layer_norm_h0
        self.W = nn.Linear(hidden_size, hidden_size, bias=False)
        self.C = nn.Linear(input_size, hidden_size)
        self.ln = nn.LayerNorm(hidden_size) if layer_norm else nn.Identity()
        with torch.no_grad():
            self.W.weight.copy_(0.05 * torch.eye(hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recur(self.project(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """C x: the input map, linear in x, (..., input) → (..., hidden)."""
        return self.C(x)

    def recur(self, Cx: torch.Tensor) -> torch.Tensor:
        """Eq. 1–2 over the projected inputs C x(t): (batch, time, hidden) → (batch, time, hidden)."""
        steps = Cx.shape[1]
        if self.form == "attention" or (self.form == "auto" and steps < self.hidden_size and not self.layer_norm_h0):
            gain, bias = (self.ln.weight, self.ln.bias) if isinstance(self.ln, nn.LayerNorm) else (None, None)
            eps = self.ln.eps if isinstance(self.ln, nn.LayerNorm) else 0.0
            states = _AttentionRecurrence.apply(
                Cx.transpose(0, 1), self.W.weight, gain, bias, self.lam, self.eta, self.inner_steps, eps
            )
            return states.transpose(0, 1)
        return self._outer_form(Cx)

    def preliminary(self, Cx: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """h_0(t) = f(W h(t−1) + C x(t)), h(−1) = 0, from the states `recur` returned: the query of each step's
        first read, (batch, time, hidden)."""
        previous = torch.cat((torch.zeros_like(states[:, :1]), states[:, :-1]), dim=1)
        return self._preliminary(self.W(previous) + Cx)

    def _preliminary(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.ln(z) if self.layer_norm_h0 else z)

    def memory(self, states: torch.Tensor) -> torch.Tensor:
        """A(t) of Eq. 1 after every step t, (batch, time, hidden, hidden): the fast weights as the paper writes
        them, from the states `recur` returned."""
        A, memories = states.new_zeros(states.shape[0], self.hidden_size, self.hidden_size), []
        for h in states.unbind(1):
            A = self.lam * A + self.eta * h.unsqueeze(-1) * h.unsqueeze(-2)
            memories.append(A)
        return torch.stack(memories, dim=1)

    def _outer_form(self, Cx: torch.Tensor) -> torch.Tensor:
        """Eq. 1 and 2 as written, A held as a (batch, R, R) matrix."""
        batch, steps, _ = Cx.shape
        Cx = Cx.unbind(1)  # indexing Cx[:, t] would make every step's backward fill a zero tensor of all steps
        h = Cx[0].new_zeros(batch, self.hidden_size)
        A = Cx[0].new_zeros(batch, self.hidden_size, self.hidden_size)
        outputs = []
        for t in range(steps):
            z = self.W(h) + Cx[t]
            h_s = self._preliminary(z)
            for _ in range(self.inner_steps):
                h_s = torch.relu(self.ln(z + torch.bmm(A, h_s.unsqueeze(-1)).squeeze(-1)))
            h = h_s
            A = self.lam * A + self.eta * h.unsqueeze(-1) * h.unsqueeze(-2)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class _AttentionRecurrence(torch.autograd.Function):
    """Eq. 2 in the attention form over a whole sequence, time first: Cx (T, B, R) → h (T, B, R).

    Per step t and inner step s, with the past states K = h(0..t−1) and w_τ = η λ^{t−1−τ}:

        z = W h(t−1) + Cx(t),   q_0 = relu(z)
        p_τ = K_τ · q_{s−1},   a = Σ_τ w_τ p_τ K_τ,   q_s = relu(LN(z + a)),   h(t) = q_S

    `gain`, `bias` are the layer norm's (None: no layer norm). The backward runs the same
    steps in reverse; a state's gradient collects what reaches it through W, through the
    reads of every later step that used it as a key, and from the output.
    """

    @staticmethod
    def forward(ctx, Cx, W, gain, bias, lam: float, eta: float, inner_steps: int, eps: float):
        steps, batch, R = Cx.shape
        S = inner_steps
        # what the backward needs, written in place by each step: no list to stack at the end
        H = Cx.new_empty(steps, batch, R)
        Q = Cx.new_empty(steps, S + 1, batch, R)  # queries q_0 … q_S of every step
        U = Cx.new_empty(steps, S, batch, R)  # layer norm inputs z + a
        means, rstds = [], []  # the layer norm's statistics, (B, 1) per step and inner step
        # every step's views made once: indexing a tensor costs as much as a small operation
        Hs, Qs, Us = (x.flatten(0, -3).unbind(0) for x in (H, Q, U))
        weighted_scores = []  # p·w of every step and inner step, (t, B, 1) each
        # η λ^age for ages steps−1 … 0: step t reads the last t of them
        recency = eta * lam ** torch.arange(steps - 1, -1, -1, dtype=Cx.dtype, device=Cx.device).view(-1, 1, 1)
        Wt = W.t()
        for t, Cx_t in enumerate(Cx.unbind(0)):
            z = Cx_t if t == 0 else torch.addmm(Cx_t, Hs[t - 1], Wt)
            q = torch.clamp_min(z, 0, out=Qs[t * (S + 1)])
            keys, w = H[:t], recency[steps - t :]
            for s in range(S):
                u, q_next = Us[t * S + s], Qs[t * (S + 1) + s + 1]
                if t:
                    pw = (keys * q).sum(-1, keepdim=True) * w  # (t, B, 1): recency × similarity
                    torch.add(z, (pw * keys).sum(0), out=u)
                    weighted_scores.append(pw)
                else:
                    u.copy_(z)
                if gain is None:
                    q = torch.clamp_min(u, 0, out=q_next)
                else:  # not native_layer_norm.out: it computes into new tensors and copies all three over
                    normed, mean, rstd = torch.native_layer_norm(u, (R,), gain, bias, eps)
                    q = torch.clamp_min(normed, 0, out=q_next)
                    means.append(mean)
                    rstds.append(rstd)
            Hs[t].copy_(q)
        ctx.save_for_backward(W, gain, bias, H, Q, U, recency)
        ctx.means, ctx.rstds = means, rstds
        ctx.weighted_scores = weighted_scores
        return H

    @staticmethod
    @once_differentiable
    def backward(ctx, dH):
        W, gain, bias, H, Q, U, recency = ctx.saved_tensors
        means, rstds = ctx.means, ctx.rstds
        steps, S, batch, R = U.shape
        dZ = torch.empty_like(H)
        dKeys = torch.zeros_like(H)  # what reaches h(τ) through the later steps' reads
        dN = torch.zeros_like(U)  # the gradients after the layer norm, for its gain and bias at the end
        dHs, dZs, dKeyss, dNs = (x.flatten(0, -3).unbind(0) for x in (dH, dZ, dKeys, dN))
        Qs, Us = (x.flatten(0, -3).unbind(0) for x in (Q, U))
        weighted_scores = iter(reversed(ctx.weighted_scores))
        for t in reversed(range(steps)):
            dq = dKeyss[t].add_(dHs[t])
            if t < steps - 1:
                dq = torch.addmm(dq, dZs[t + 1], W)
            keys, w = H[:t], recency[steps - t :]
            dz = None
            for s in reversed(range(S)):
                i, q_next = t * S + s, Qs[t * (S + 1) + s + 1]
                dn = torch.ops.aten.threshold_backward.grad_input(dq, q_next, 0, grad_input=dNs[i])
                if gain is not None:
                    dn = torch.ops.aten.native_layer_norm_backward(
                        dn, Us[i], (R,), means[i], rstds[i], gain, bias, (True, False, False)
                    )[0]
                dz = dn if dz is None else dz + dn
                if not t:  # no past: q_0 … q_{S−1} reach nothing; only the last inner step counts
                    break
                dpw = (keys * dn).sum(-1, keepdim=True) * w  # (t, B, 1)
                dq = (dpw * keys).sum(0)
                dKeys[:t].addcmul_(next(weighted_scores), dn).addcmul_(dpw, Qs[t * (S + 1) + s])
            if t:
                dz = dz + torch.ops.aten.threshold_backward(dq, Qs[t * (S + 1)], 0)
            dZs[t].copy_(dz)
        dW = dZ[1:].flatten(0, 1).t() @ H[:-1].flatten(0, 1)
        dgain = dbias = None
        if gain is not None:  # one fused kernel over every step: 4–5× faster than the same sums written out
            _, dgain, dbias = torch.ops.aten.native_layer_norm_backward(
                dN.view(-1, R), U.view(-1, R), (R,), torch.cat(means), torch.cat(rstds), gain, bias, (False, True, True)
            )
        return dZ, dW, dgain, dbias, None, None, None, None
