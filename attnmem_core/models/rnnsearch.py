"""RNNsearch and RNNencdec: the two translators compared by Bahdanau, Cho, Bengio 2015.

"Neural Machine Translation by Jointly Learning to Align and Translate" (ICLR), Appendix A.
Source x_1..x_Tx, target y_1..y_Ty, embeddings E.

RNNsearch (A.2): a bidirectional GRU gives annotations h_j = [→h_j; ←h_j]. The decoder
starts from s_0 = tanh(W_s ←h_1) and at step i

    c_i = Σ_j α_ij h_j,   α_i = a(s_{i−1}, h)                  (attention.additive)
    t̃_i = U_o s_{i−1} + V_o E y_{i−1} + C_o c_i,   t_i = max-out of pairs of t̃_i
    p(y_i | y_<i, x) = softmax(W_o t_i)                         (the deep output)
    s_i = GRU(s_{i−1}, [E y_{i−1}; c_i])

RNNencdec (A.1, Cho et al. 2014): a one-directional GRU reads the source and its last state
is the fixed context c for every step; s_0 = tanh(W_s c). Its decoder is the same as
above with c_i = c, so attention is the only difference between the two models.

Initialisation (B.1): recurrent matrices orthogonal, the alignment model's as in
`AdditiveAttention`, every other weight N(0, 0.01²), biases 0.

Both models offer teacher-forced `forward` for training and the step interface that
`attnmem_core.decoding` searches with: `encode` once, `initial_state`, then `step`.
"""

from __future__ import annotations

import torch
from torch import nn

from attnmem_core.attention.additive import AdditiveAttention
from attnmem_core.models.bigru import BiGRU


class _Translator(nn.Module):
    """The decoder both models share; subclasses say how the source becomes context."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        embedding: int,
        hidden: int,
        context: int,
        maxout: int,
        pad_id: int,
    ):
        super().__init__()
        self.pad_id = pad_id
        self.E_x = nn.Embedding(source_vocab, embedding, padding_idx=pad_id)
        self.E_y = nn.Embedding(target_vocab, embedding, padding_idx=pad_id)
        self.decoder = nn.GRUCell(embedding + context, hidden)
        self.U_o = nn.Linear(hidden, 2 * maxout)
        self.V_o = nn.Linear(embedding, 2 * maxout, bias=False)
        self.C_o = nn.Linear(context, 2 * maxout, bias=False)
        self.W_o = nn.Linear(maxout, target_vocab)

    def _initialise(self) -> None:
        for name, weight in self.named_parameters():
            if "attention" in name:
                continue
            if "bias" in name:
                nn.init.zeros_(weight)
            elif "weight_hh" in name:  # one orthogonal block per gate
                for block in weight.data.chunk(3, 0):
                    nn.init.orthogonal_(block)
            else:
                nn.init.normal_(weight, std=0.01)
        for embedding in (self.E_x, self.E_y):
            embedding.weight.data[self.pad_id] = 0

    def readout(self, s_prev: torch.Tensor, e_prev: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Logits of y_i from s_{i−1}, E y_{i−1} and c_i (any leading shape)."""
        t̃ = self.U_o(s_prev) + self.V_o(e_prev) + self.C_o(c)
        t = t̃.unflatten(-1, (-1, 2)).amax(-1)
        return self.W_o(t)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, Ty, V): target_in is <bos> y_1 … y_{Ty−1}."""
        return self.align(source, target_in)[0]

    def align(self, source: torch.Tensor, target_in: torch.Tensor):
        """(logits, α (B, Ty, Tx) or None): the loop runs the recurrence only; the deep output runs once for all
        steps."""
        memory = self.encode(source)
        s = self.initial_state(memory)
        e = self.E_y(target_in)
        states, contexts, alignments = [], [], []
        for i in range(target_in.shape[1]):
            c, α = self.context(memory, s)
            states.append(s)
            contexts.append(c)
            alignments.append(α)
            if i + 1 < target_in.shape[1]:
                s = self.decoder(torch.cat((e[:, i], c), -1), s)
        logits = self.readout(torch.stack(states, 1), e, torch.stack(contexts, 1))
        return logits, (torch.stack(alignments, 1) if alignments[0] is not None else None)

    def step(self, memory: dict, s: torch.Tensor, y_prev: torch.Tensor):
        """One decoding step: (log p(y_i | ·) (B, V), s_i, α_i or None)."""
        e = self.E_y(y_prev)
        c, α = self.context(memory, s)
        log_p = torch.log_softmax(self.readout(s, e, c).float(), -1)
        return log_p, self.decoder(torch.cat((e, c), -1), s), α

    def source_mask(self, source: torch.Tensor) -> torch.Tensor:
        mask = source != self.pad_id
        if not mask[:, 0].all():
            raise ValueError("every source sentence needs at least one token, padded at the end only")
        return mask


class RNNsearch(_Translator):
    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        embedding: int = 620,
        hidden: int = 1000,
        alignment: int = 1000,
        maxout: int = 500,
        pad_id: int = 0,
    ):
        super().__init__(
            source_vocab,
            target_vocab,
            embedding=embedding,
            hidden=hidden,
            context=2 * hidden,
            maxout=maxout,
            pad_id=pad_id,
        )
        self.encoder = BiGRU(embedding, hidden)
        self.W_s = nn.Linear(hidden, hidden)
        self.attention = AdditiveAttention(hidden, 2 * hidden, alignment)
        self._initialise()

    def encode(self, source: torch.Tensor) -> dict:
        mask = self.source_mask(source)
        h = self.encoder(self.E_x(source), mask.sum(-1))
        return {"h": h, "keys": self.attention.keys(h), "mask": mask}

    def initial_state(self, memory: dict) -> torch.Tensor:
        backward_first = memory["h"][:, 0, memory["h"].shape[-1] // 2 :]  # ←h_1
        return torch.tanh(self.W_s(backward_first))

    def context(self, memory: dict, s: torch.Tensor):
        return self.attention(s, memory["keys"], memory["h"], memory["mask"])


class RNNencdec(_Translator):
    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        embedding: int = 620,
        hidden: int = 1000,
        maxout: int = 500,
        pad_id: int = 0,
    ):
        super().__init__(
            source_vocab, target_vocab, embedding=embedding, hidden=hidden, context=hidden, maxout=maxout, pad_id=pad_id
        )
        self.encoder = nn.GRU(embedding, hidden, batch_first=True)
        self.W_s = nn.Linear(hidden, hidden)
        self._initialise()

    def encode(self, source: torch.Tensor) -> dict:
        lengths = self.source_mask(source).sum(-1)
        h = self.encoder(self.E_x(source))[0]
        # the state after the last real token: later steps read only padding
        return {"c": h[torch.arange(len(h), device=h.device), lengths - 1]}

    def initial_state(self, memory: dict) -> torch.Tensor:
        return torch.tanh(self.W_s(memory["c"]))

    def context(self, memory: dict, s: torch.Tensor):
        return memory["c"], None


MODELS = {"RNNsearch": RNNsearch, "RNNencdec": RNNencdec}
