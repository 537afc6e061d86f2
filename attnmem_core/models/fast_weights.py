"""The four models of Ba et al. 2016, Table 1, as sequence classifiers.

All share the paper's frame: 100-d character embeddings → a recurrent core of R units →
its final state → a 100-unit ReLU layer → a softmax over the ten digits. Only the core
differs:

- `irnn`:   ReLU RNN with W = 0.5·I (the paper's appendix; Le et al. 2015 use I)
- `lstm`:   torch.nn.LSTM
- `alstm`:  associative LSTM (Danihelka et al. 2016), 4 copies, 3 read-write heads
- `fw`:     fast weights (layer norm inside the inner loop, S inner steps, λ, η)
"""
from __future__ import annotations

import torch
from torch import nn

from attnmem_core.memory.associative_lstm import AssociativeLSTM
from attnmem_core.memory.fast_weights import FastWeightsRNN

MODELS = ("irnn", "lstm", "alstm", "fw")
EMBEDDING = 100
READOUT = 100


class IRNN(nn.Module):
    """ReLU RNN with identity-scaled recurrent weights (torch's fused nn.RNN underneath)."""

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
    """tokens (batch, time) → logits (batch, classes) from the core's last state."""

    def __init__(self, core: nn.Module, vocab_size: int, hidden_size: int, classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMBEDDING)
        self.core = core
        self.readout = nn.Sequential(nn.Linear(hidden_size, READOUT), nn.ReLU(), nn.Linear(READOUT, classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.readout(self.core(self.embed(tokens))[:, -1])


def build_retrieval_model(kind: str, hidden_size: int, vocab_size: int, classes: int, **core_options) -> RetrievalClassifier:
    """`core_options` go to the fast-weights core (lam, eta, inner_steps, layer_norm, form)."""
    if kind not in MODELS:
        raise ValueError(f"model={kind!r}; choose one of {', '.join(MODELS)}")
    if core_options and kind != "fw":
        raise ValueError(f"options {sorted(core_options)} only apply to the fast-weights model, not {kind!r}")
    cores = {
        "irnn": lambda: IRNN(EMBEDDING, hidden_size),
        "lstm": lambda: LSTM(EMBEDDING, hidden_size),
        "alstm": lambda: AssociativeLSTM(EMBEDDING, hidden_size, copies=4, heads=3),
        "fw": lambda: FastWeightsRNN(EMBEDDING, hidden_size, **core_options),
    }
    return RetrievalClassifier(cores[kind](), vocab_size, hidden_size, classes)
