"""The translation task shared by chapters 2, 4 and 5: preparation, perplexity, costs, and the decoding contract."""

import math

import pytest
import torch
from torch import nn

from attnmem_core import decoding, translation
from attnmem_core.attention.dot_product import MultiHeadAttention
from attnmem_core.data import bible
from attnmem_core.data.subwords import UNK
from attnmem_core.models.rnnsearch import RNNencdec, RNNsearch
from attnmem_core.models.show_attend_tell import Captioner
from attnmem_core.models.transformer import Transformer
from attnmem_core.runner import REPO

LIMIT = 200


@pytest.fixture(scope="module")
def corpus():
    return bible.load(REPO / "data" / "cache")


def _prepare(corpus, tokenization, folder):
    return translation.prepare(corpus, tokenization=tokenization, vocabulary=300, data_dir=folder, limit=LIMIT)


@pytest.mark.parametrize("tokenization", translation.TOKENIZATIONS)
def test_prepare_encodes_every_split_and_round_trips(corpus, tokenization, tmp_path):
    data = _prepare(corpus, tokenization, tmp_path)
    assert {name: len(ids[0]) for name, ids in data.ids.items()} == {name: LIMIT for name in ("train", "valid", "test")}
    # a verse without unknown units comes back exactly (with the word shortlist, most verses hold a rare word)
    known = [s for s, ids in zip(data.text["train"].target, data.ids["train"][1]) if UNK not in ids]
    assert known, "every training verse has an unknown unit"
    assert all(data.target_tokenizer.decode(data.target_tokenizer.encode(s)) == s for s in known[:20])
    # the tokenizers are cached: a second prepare reads them back and encodes the same
    assert _prepare(corpus, tokenization, tmp_path).ids == data.ids


def test_words_counts_the_longer_side(corpus, tmp_path):
    data = _prepare(corpus, "bpe", tmp_path)
    frame = data.text["test"]
    i = 0
    assert data.words("test")[i] == max(len(frame.source[i].split()), len(frame.target[i].split()))
    assert all(data.words("train")[translation.within(data, "train", 15)] <= 15)


def test_identity_names_what_decides_the_token_ids(corpus, tmp_path):
    data = _prepare(corpus, "bpe", tmp_path)
    assert data.identity() == {
        "tokenization": "bpe",
        "vocabulary": 300,
        "limit": LIMIT,
        "corpus": translation.corpus_digest(corpus),
    }
    assert data.vocabularies() == (len(data.source_tokenizer), len(data.target_tokenizer))


class _AttentionOnly(nn.Module):
    """x → MultiHead(E x, E x, E x) with a sum as the 'loss'."""

    def __init__(self, d_model, heads):
        super().__init__()
        self.E = nn.Embedding(10, d_model)
        self.attention = MultiHeadAttention(d_model, heads)

    def forward(self, x, y_in):
        h = self.E(x)
        return self.attention(h, h, h)[0]


def test_training_flops_count_every_matrix_product_of_forward_and_backward():
    B, T, d, h = 3, 7, 16, 4
    stream = iter([((torch.randint(0, 10, (B, T)), None), None)] * 2)
    flops = translation.training_flops(_AttentionOnly(d, h), stream, lambda out, _: out.sum(), updates=2)
    projections = 4 * 2 * B * T * d * d  # W_Q, W_K, W_V, W_O
    attention = 2 * 2 * B * h * T * T * (d // h)  # Q Kᵀ and A V
    assert flops == 3 * (projections + attention)  # backward: a gradient for each operand, twice the forward


def test_cost_to_reach_reads_the_first_evaluation_that_gets_there():
    history = [
        {"step": 100, "train_seconds": 10.0, "valid_bleu": 3.0, "valid_perplexity": 90.0},
        {"step": 200, "train_seconds": 21.0, "valid_bleu": 9.5, "valid_perplexity": 40.0},
        {"step": 300, "train_seconds": 30.0, "valid_bleu": 12.0, "valid_perplexity": 30.0},
    ]
    assert translation.cost_to_reach(history, "valid_bleu", 9.0, 1e9) == {"step": 200, "seconds": 21.0, "flops": 2e11}
    assert translation.cost_to_reach(history, "valid_perplexity", 35.0, 1.0, higher=False)["step"] == 300
    never = translation.cost_to_reach(history, "valid_bleu", 20.0, 1.0)
    assert never["flops"] == math.inf and never["seconds"] == math.inf


def test_perplexity_by_length_splits_the_pairs_into_buckets(corpus, tmp_path):
    data = _prepare(corpus, "bpe", tmp_path)
    model = Transformer(*data.vocabularies(), layers=1, d_model=16, d_ff=32, heads=2).eval()
    frame = translation.perplexity_by_length(model, data, "test", [0, 10, 20, 1000], 600)
    assert frame.sentences.sum() == len(data.ids["test"][0]) and list(frame.bucket) == ["0–9", "10–19", "20–999"]
    whole = translation.perplexity(model, *data.ids["test"], "cpu", 600)
    assert frame.perplexity.min() <= whole <= frame.perplexity.max()


def test_every_translator_of_the_book_keeps_the_decoding_contract():
    models = [
        RNNsearch(30, 40, embedding=8, hidden=8, alignment=8, maxout=4),
        RNNencdec(30, 40, embedding=8, hidden=8, maxout=4),
        Transformer(30, 40, layers=1, d_model=16, d_ff=32, heads=2),
        Captioner(40, variant="soft", annotation_size=8, widths=(4, 4, 4), embedding=8, hidden=8, attention=8),
    ]
    assert all(isinstance(m, decoding.Translator) for m in models)
    assert not isinstance(nn.Linear(2, 2), decoding.Translator)
    source = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
    for model in models[:3]:  # and the shared search runs on each
        assert len(decoding.greedy(model.eval(), source, bos_id=1, eos_id=2, max_length=4)) == 2


def test_translate_at_an_index_gives_those_verses_translations_in_that_order(corpus, tmp_path):
    data = _prepare(corpus, "bpe", tmp_path)
    torch.manual_seed(0)
    model = Transformer(*data.vocabularies(), layers=1, d_model=16, d_ff=32, heads=2).eval()
    every = translation.translate_ids(model, data, "test", "cpu", beam=1)
    index = [7, 2, 11]
    assert translation.translate_ids(model, data, "test", "cpu", beam=1, index=index) == [every[i] for i in index]


def test_best_weights_restores_the_lowest_perplexitys_copy_and_names_a_diverged_run():
    model = torch.nn.Linear(2, 2)
    best = translation.BestWeights(model)
    for perplexity, value in ((9.0, 1.0), (7.0, 2.0), (8.0, 3.0)):
        torch.nn.init.constant_(model.weight, value)
        assert best.keep({"valid_perplexity": perplexity}) == {"valid_perplexity": perplexity}
    best.restore()
    assert (model.weight == 2.0).all() and best.perplexity == 7.0
    with pytest.raises(RuntimeError, match="diverged"):
        diverged = translation.BestWeights(model)
        diverged.keep({"valid_perplexity": float("nan")})
        diverged.restore()
