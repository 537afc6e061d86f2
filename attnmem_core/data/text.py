"""Reviews → sentences of words → padded id tensors, the input of Yang et al. 2016's HAN.

A document is a list of sentences, a sentence a list of lower-cased word tokens, all made
offline with nltk:

- HTML line breaks (`<br />`, `<p>`) end a paragraph; other tags are dropped and entities
  decoded.
- Sentences: a Punkt model (Kiss & Strunk 2006) trained on the training reviews themselves,
  so nothing is downloaded; a paragraph without a sentence boundary stays one sentence.
- Words: nltk's Treebank-style `NLTKWordTokenizer` (rules only, no model); punctuation is
  kept, since "!!!" carries sentiment.
- A review with no word left raises `EmptyReviewError` rather than becoming an empty document.

The vocabulary keeps the words seen at least `min_count` times in training (the paper keeps
those seen more than 5 times, min_count = 6); the rest become UNK. Documents become
(documents, sentences, words) id tensors padded with PAD = 0 at the end of each sentence
and after the last sentence. Batches group documents of similar length, as the paper
does, so little of a batch is padding.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer

PAD, UNK = 0, 1
Document = list[list[str]]

_BREAK = re.compile(r"<br\s*/?>|</?p\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_WORDS = NLTKWordTokenizer()


class EmptyReviewError(ValueError):
    pass


def paragraphs(review: str) -> list[str]:
    """The review's paragraphs as plain text: HTML breaks split it, other tags go, entities are decoded."""
    text = html.unescape(_TAG.sub(" ", _BREAK.sub("\n", review)))
    return [p for p in (" ".join(line.split()) for line in text.split("\n")) if p]


class Tokenizer:
    """review text → document (sentences of lower-cased words), with a Punkt model trained on the reviews given."""

    def __init__(self, training_reviews: Sequence[str]):
        self.punkt = PunktSentenceTokenizer("\n\n".join(p for r in training_reviews for p in paragraphs(r)))

    def __call__(self, review: str) -> Document:
        document = [
            words
            for paragraph in paragraphs(review)
            for sentence in self.punkt.tokenize(paragraph)
            if (words := [w.lower() for w in _WORDS.tokenize(sentence)])
        ]
        if not document:
            raise EmptyReviewError(f"review {review[:60]!r} has no words once its HTML is stripped")
        return document


class Vocabulary:
    """Words seen at least `min_count` times in training, most frequent first; ids 0 and 1 are PAD and UNK."""

    def __init__(self, documents: Sequence[Document], min_count: int):
        counts = Counter(w for document in documents for sentence in document for w in sentence)
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        self.words = ["<pad>", "<unk>", *kept]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, document: Document) -> list[list[int]]:
        return [[self.ids.get(w, UNK) for w in sentence] for sentence in document]


def pad(documents: Sequence[list[list[int]]]) -> torch.Tensor:
    """(documents, sentences, words) ids, PAD after each sentence's words and after each document's sentences."""
    sentences_per_document = [len(d) for d in documents]
    sentences = [s for d in documents for s in d]
    lengths = np.array([len(s) for s in sentences])
    x = np.full((len(documents), max(sentences_per_document), lengths.max()), PAD, dtype=np.int64)
    # one scatter of every word, not one tensor per sentence: this runs for every training batch
    document = np.repeat(np.arange(len(documents)), sentences_per_document)
    sentence = np.concatenate([np.arange(n) for n in sentences_per_document])
    word = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    x[np.repeat(document, lengths), np.repeat(sentence, lengths), word] = np.fromiter(
        (w for s in sentences for w in s), dtype=np.int64, count=lengths.sum()
    )
    return torch.from_numpy(x)


def by_length(
    documents: Sequence[list[list[int]]], batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Index batches of documents with similar numbers of sentences (then of words).

    With `rng`, ties are broken at random and the batches come in random order (training);
    without, the order is fixed (evaluation).
    """
    n_sentences = np.array([len(d) for d in documents])
    n_words = np.array([sum(len(s) for s in d) for d in documents])
    tiebreak = rng.random(len(documents)) if rng is not None else np.arange(len(documents))
    order = np.lexsort((tiebreak, n_words, n_sentences))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def length_batches(
    documents: Sequence[list[list[int]]], labels: torch.Tensor, batch_size: int, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless training batches (x, y), grouped by length and reshuffled every epoch from `seed`."""
    rng = np.random.default_rng(seed)
    while True:
        for index in by_length(documents, batch_size, rng):
            yield pad([documents[i] for i in index]), labels[index]
