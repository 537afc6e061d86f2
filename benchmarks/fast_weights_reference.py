"""Today's retrieval models, frozen: the reference that the faster ones are timed and tested against.

Copied from commit 6bf4a83 (`attnmem_core/memory/fast_weights.py`, `attnmem_core/memory/associative_lstm.py`,
`attnmem_core/models/fast_weights.py`), with docstrings shortened. Only `benchmarks/fast_weights.py` and the
tests use it: `build_reference_model(kind, ...)` builds, for the same seed, the same parameters as
`attnmem_core.models.fast_weights.build_retrieval_model` and computes the same function, the way it was
computed before the speed-up.
"""

from __future__ import annotations

import torch
from torch import nn

from attnmem_core.models.fast_weights import EMBEDDING, READOUT

FORMS = ("auto", "attention", "outer")


class FastWeightsRNN(nn.Module):
    """Fast-weights RNN over a batch of sequences (batch, time, input) → (batch, time, hidden).

    `lam` is λ (decay), `eta` is η (fast learning rate), `inner_steps` is S.
    W starts at 0.05·I as in the paper's appendix.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        lam: float = 0.95,
        eta: float = 0.5,
        inner_steps: int = 1,
        layer_norm: bool = True,
        form: str = "auto",
    ):
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
        keys = torch.stack(past, dim=1)  # (B, t, R)
        ages = torch.arange(len(past) - 1, -1, -1, device=query.device, dtype=query.dtype)
        scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, t)  h(τ)ᵀ h_s
        weights = self.eta * self.lam**ages * scores  # recency × similarity
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, R)


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
        batch = x.shape[0]
        K, H = self.hidden_size // 2, self.heads
        h = x.new_zeros(batch, self.hidden_size)
        c = torch.view_as_complex(x.new_zeros(batch, self.copies, K, 2))  # complex dtype matching x
        outputs = []
        # one matmul for all steps; unbind rather than index per step, whose backward would
        # fill a zero tensor of the full (batch, time, width) size at every step
        for Wx_t in self.W(x).unbind(1):
            z = Wx_t + self.U(h)
            g_f, g_i, g_o = torch.sigmoid(z[:, : 3 * K]).view(batch, 3, 1, K).unbind(1)  # (batch, 1, K)
            keys = z[:, 3 * K :].view(batch, H, 3, 2, K)
            r_i, r_o, u = bound(torch.complex(keys[..., 0, :], keys[..., 1, :])).unbind(2)  # (batch, H, K)
            c = g_f * c + store(r_i, g_i * u, self.P).sum(1)
            h_c = g_o.squeeze(1) * bound(retrieve(c, r_o.sum(1), self.P))
            h = torch.cat((h_c.real, h_c.imag), dim=-1)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class IRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, scale: float = 0.5):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(scale * torch.eye(hidden_size))
            self.rnn.bias_hh_l0.zero_()

    def forward(self, x):
        return self.rnn(x)[0]


class LSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class RetrievalClassifier(nn.Module):
    def __init__(self, core: nn.Module, vocab_size: int, hidden_size: int, classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMBEDDING)
        self.core = core
        self.readout = nn.Sequential(nn.Linear(hidden_size, READOUT), nn.ReLU(), nn.Linear(READOUT, classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.readout(self.core(self.embed(tokens))[:, -1])


def build_reference_model(
    kind: str, hidden_size: int, vocab_size: int, classes: int, **core_options
) -> RetrievalClassifier:
    cores = {
        "irnn": lambda: IRNN(EMBEDDING, hidden_size),
        "lstm": lambda: LSTM(EMBEDDING, hidden_size),
        "alstm": lambda: AssociativeLSTM(EMBEDDING, hidden_size, copies=4, heads=3),
        "fw": lambda: FastWeightsRNN(EMBEDDING, hidden_size, **core_options),
    }
    return RetrievalClassifier(cores[kind](), vocab_size, hidden_size, classes)
