"""The four models of Ba et al. 2016, Table 1, as sequence classifiers.

All share the paper's frame: 100-d character embeddings → a recurrent core of R units →
its final state → a 100-unit ReLU layer → a softmax over the ten digits. Only the core
differs:

- `irnn`:   ReLU RNN with W = 0.5·I (the paper's appendix; Le et al. 2015 use I)   (`small_rnns`)
- `lstm`:   torch.nn.LSTM   (`small_rnns`)
- `alstm`:  associative LSTM (Danihelka et al. 2016), 4 copies, 3 read-write heads
- `fw`:     fast weights (layer norm inside the inner loop, S inner steps, λ, η)
"""

from __future__ import annotations

import torch
from torch import nn

from attnmem_core.memory.associative_lstm import AssociativeLSTM
from attnmem_core.memory.fast_weights import FastWeightsRNN
from attnmem_core.models.small_rnns import IRNN, LSTM

MODELS = ("irnn", "lstm", "alstm", "fw")
EMBEDDING = 100
READOUT = 100
ALSTM_COPIES, ALSTM_HEADS = 4, 3  # the paper's A-LSTM baseline


class RetrievalClassifier(nn.Module):
    """tokens (batch, time) → logits (batch, classes) from the core's last state.

    Every core begins with a linear input map (`core.project`), so projecting the embedding
    table's rows once and looking the tokens up in the result gives the same inputs to the
    recurrence (`core.recur`) as projecting every position, at a fraction of the cost: the
    vocabulary has 37 symbols, a batch 128 × 11 positions.
    """

    def __init__(self, core: nn.Module, vocab_size: int, hidden_size: int, classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMBEDDING)
        self.core = core
        self.readout = nn.Sequential(nn.Linear(hidden_size, READOUT), nn.ReLU(), nn.Linear(READOUT, classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        table = self.core.project(self.embed.weight)
        # looked up time first and handed over as a batch-first view: the recurrences run time first, so their
        # inputs arrive contiguous; index_select's backward (an index_add) is ~100 µs faster than embedding's
        projected = table.index_select(0, tokens.t().reshape(-1)).unflatten(0, tokens.t().shape)
        return self.readout(self.core.recur(projected.transpose(0, 1))[:, -1])


def build_retrieval_model(
    kind: str, hidden_size: int, vocab_size: int, classes: int, **core_options
) -> RetrievalClassifier:
    """`core_options` go to the fast-weights core (lam, eta, inner_steps, layer_norm, layer_norm_h0, form), or
    `forget_bias` to the LSTM."""
    if kind not in MODELS:
        raise ValueError(f"model={kind!r}; choose one of {', '.join(MODELS)}")
    foreign = set(core_options) - ({"forget_bias"} if kind == "lstm" else set())
    if foreign and kind != "fw":
        raise ValueError(f"options {sorted(foreign)} only apply to the fast-weights model, not {kind!r}")
    cores = {
        "irnn": lambda: IRNN(EMBEDDING, hidden_size),
        "lstm": lambda: LSTM(EMBEDDING, hidden_size, **core_options),
        "alstm": lambda: AssociativeLSTM(EMBEDDING, hidden_size, copies=ALSTM_COPIES, heads=ALSTM_HEADS),
        "fw": lambda: FastWeightsRNN(EMBEDDING, hidden_size, **core_options),
    }
    return RetrievalClassifier(cores[kind](), vocab_size, hidden_size, classes)
