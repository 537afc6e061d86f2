"""Hierarchical Attention Networks and their baselines as document classifiers.

Yang, Yang, Dyer, He, Smola, Hovy 2016, "Hierarchical Attention Networks for Document
Classification" (NAACL), Sec. 2. A document has sentences i = 1..L of words t = 1..T_i.

Word encoder (Eq. 1–4): embeddings x_it = W_e w_it, then a bidirectional GRU,
h_it = [→h_it; ←h_it].
Word attention (Eq. 5–7), with a word context vector u_w learned with the rest:

    u_it = tanh(W_w h_it + b_w)
    α_it = exp(u_itᵀ u_w) / Σ_t exp(u_itᵀ u_w)
    s_i  = Σ_t α_it h_it

Sentence encoder (Eq. 8–10): a bidirectional GRU over s_i gives h_i.
Sentence attention (Eq. 11–12), with a sentence context vector u_s:

    u_i = tanh(W_s h_i + b_s),   α_i = softmax_i(u_iᵀ u_s),   v = Σ_i α_i h_i

Classification (Eq. 13): p = softmax(W_c v + b_c); training minimises −log p of the label.

HN-AVE and HN-MAX (the paper's Table 2) keep both encoders and replace each attention by the mean or
the element-wise max over time; `pooling` is the only difference between the three hierarchical
models. The flat models read all the words of the document as one sequence with one
bidirectional GRU: GRU-AVE averages its states, the paper's flat LSTM baseline ("the average
of the hidden states of all words is used as feature for classification", Sec. 3.2) with a GRU;
GRU-ATT weighs them with the word attention instead.

Input is a (documents, sentences, words) tensor of word ids padded with 0 (text.PAD) after
each sentence and after the last sentence. Padding never reaches a result: each GRU reads
the padding only after a sequence's real steps, attention gives it weight 0, and pooling
skips it. Each encoder reads its rows (sentences, or documents) in groups of similar length
(`length_groups`), which changes no result and computes less padding.
"""

from __future__ import annotations

import torch
from torch import nn

from attnmem_core.data.text import PAD
from attnmem_core.models.bigru import BiGRU
from attnmem_core.models.length_groups import STEP_COST_IN_ROWS, in_length_groups

POOLINGS = ("attention", "average", "max")


class Attention(nn.Module):
    """u_t = tanh(W h_t + b), α_t = softmax_t(u_tᵀ u_ctx) over unmasked t, output Σ_t α_t h_t (Eq. 5–7, 11–12)."""

    def __init__(self, dim: int):
        super().__init__()
        self.W = nn.Linear(dim, dim)
        self.u_ctx = nn.Parameter(torch.empty(dim).uniform_(-0.1, 0.1))  # u_w or u_s: "randomly initialized"

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.tanh(self.W(h[mask]))  # the real steps only: about half of a padded batch is padding
        scores = h.new_full(mask.shape, float("-inf")).masked_scatter(mask, u @ self.u_ctx)
        α = torch.softmax(scores, dim=-1)
        return (α.unsqueeze(-1) * h).sum(-2), α


class Pool(nn.Module):
    """Attention, or the HN-AVE / HN-MAX replacement; returns (pooled, weights), weights 1/T for average, None for
    max."""

    def __init__(self, pooling: str, dim: int):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.attention = Attention(dim) if pooling == "attention" else None

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.attention is not None:
            return self.attention(h, mask)
        if self.pooling == "average":
            weights = mask / mask.sum(-1, keepdim=True)
            return (weights.unsqueeze(-1) * h).sum(-2), weights
        return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(-2), None


def steps(rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(n, T) mask of each row's first `lengths` steps."""
    return torch.arange(rows.shape[1], device=rows.device) < lengths.unsqueeze(-1)


class HAN(nn.Module):
    """HN-ATT (pooling='attention'), HN-AVE ('average') or HN-MAX ('max'): ids (B, L, T) → logits (B, classes)."""

    def __init__(
        self, vocab_size: int, classes: int, embedding_dim: int = 200, hidden_size: int = 50, pooling: str = "attention"
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.word_encoder = BiGRU(embedding_dim, hidden_size)
        self.word_pool = Pool(pooling, 2 * hidden_size)
        self.sentence_encoder = BiGRU(2 * hidden_size, hidden_size)
        self.sentence_pool = Pool(pooling, 2 * hidden_size)
        self.classify = nn.Linear(2 * hidden_size, classes)
        self.step_cost_in_rows = STEP_COST_IN_ROWS  # how the encoders group their rows (`length_groups`)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.attend(tokens)[0]

    def read_sentences(self, words: torch.Tensor, lengths: torch.Tensor):
        """Word ids (N, T) → (s_i (N, 2·hidden), α_it (N, T) or None) (Eq. 1–7)."""
        h_it = self.word_encoder(self.embed(words), lengths)
        return self.word_pool(h_it, steps(words, lengths))

    def read_document(self, sentences: torch.Tensor, lengths: torch.Tensor):
        """Sentence vectors (B, L, 2·hidden) → (v (B, 2·hidden), α_i (B, L) or None) (Eq. 8–12)."""
        h_i = self.sentence_encoder(sentences, lengths)
        return self.sentence_pool(h_i, steps(sentences, lengths))

    def attend(self, tokens: torch.Tensor):
        """(logits, α_it (B, L, T), α_i (B, L)); the weights are None for max-pooling."""
        word_mask = tokens != PAD  # (B, L, T)
        sentence_mask = word_mask.any(-1)  # (B, L): padding sentences hold no word
        words = tokens[sentence_mask]  # (N, T): the real sentences only
        s_i, α_it = in_length_groups(
            self.read_sentences, words, word_mask[sentence_mask].sum(-1), self.step_cost_in_rows
        )
        sentences = s_i.new_zeros(*sentence_mask.shape, s_i.shape[-1]).masked_scatter(sentence_mask.unsqueeze(-1), s_i)
        v, α_i = in_length_groups(self.read_document, sentences, sentence_mask.sum(-1), self.step_cost_in_rows)
        if α_it is not None:
            α_it = α_it.new_zeros(word_mask.shape).masked_scatter(sentence_mask.unsqueeze(-1), α_it)
        return self.classify(v), α_it, α_i


class FlatGRU(nn.Module):
    """One bidirectional GRU over the whole document, its states pooled by attention or averaged: ids (B, L, T) →
    logits (B, classes)."""

    def __init__(
        self, vocab_size: int, classes: int, embedding_dim: int = 200, hidden_size: int = 50, pooling: str = "attention"
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.encoder = BiGRU(embedding_dim, hidden_size)
        self.pool = Pool(pooling, 2 * hidden_size)
        self.classify = nn.Linear(2 * hidden_size, classes)
        self.step_cost_in_rows = STEP_COST_IN_ROWS

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.attend(tokens)[0]

    def read_document(self, words: torch.Tensor, lengths: torch.Tensor):
        """All of a document's word ids (B, T) → (v, α_t (B, T))."""
        return self.pool(self.encoder(self.embed(words), lengths), steps(words, lengths))

    def attend(self, tokens: torch.Tensor):
        """(logits, α_t (B, L, T) laid back over the sentences (1/T for averaging), None)."""
        word_mask = tokens != PAD
        lengths = word_mask.flatten(1).sum(-1)
        words = tokens.new_full((len(tokens), int(lengths.max())), PAD)
        flat_mask = steps(words, lengths)
        words[flat_mask] = tokens[word_mask]  # the document's words in order, sentence breaks removed
        v, α_t = in_length_groups(self.read_document, words, lengths, self.step_cost_in_rows)
        return self.classify(v), α_t.new_zeros(word_mask.shape).masked_scatter(word_mask, α_t[flat_mask]), None


MODELS = {
    "HN-ATT": lambda vocab, classes, **kw: HAN(vocab, classes, pooling="attention", **kw),
    "HN-AVE": lambda vocab, classes, **kw: HAN(vocab, classes, pooling="average", **kw),
    "HN-MAX": lambda vocab, classes, **kw: HAN(vocab, classes, pooling="max", **kw),
    "GRU-ATT (flat)": lambda vocab, classes, **kw: FlatGRU(vocab, classes, pooling="attention", **kw),
    "GRU-AVE (flat)": lambda vocab, classes, **kw: FlatGRU(vocab, classes, pooling="average", **kw),
}


def build(name: str, vocab_size: int, classes: int, **sizes) -> nn.Module:
    """One of MODELS by name; `sizes` are embedding_dim and hidden_size."""
    if name not in MODELS:
        raise ValueError(f"model={name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](vocab_size, classes, **sizes)
