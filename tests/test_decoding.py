"""Greedy and beam search: beam 1 is greedy, a wide beam is exhaustive search, batching changes nothing."""

import itertools
import math

import pytest
import torch

from attnmem_core import decoding
from attnmem_core.models.rnnsearch import RNNsearch

BOS, EOS = 1, 2


def model(vocab=6, seed=0):
    torch.manual_seed(seed)
    m = RNNsearch(20, vocab, embedding=8, hidden=10, alignment=8, maxout=4)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return m.eval()


def sources():
    source = torch.randint(4, 20, (4, 6))
    source[1, 3:] = 0
    source[3, 1:] = 0
    return source


def log_prob(m, source_row, hypothesis):
    y = torch.tensor([[BOS, *hypothesis, EOS]])
    log_p = torch.log_softmax(m(source_row.unsqueeze(0), y[:, :-1]), -1)
    return log_p[0].gather(-1, y[0, 1:, None]).sum().item()


def test_beam_of_one_is_greedy():
    m, source = model(vocab=40), sources()
    assert decoding.beam_search(m, source, beam=1, bos_id=BOS, eos_id=EOS) == decoding.greedy(
        m, source, bos_id=BOS, eos_id=EOS
    )


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_wider_than_all_hypotheses_is_exhaustive_search(alpha):
    """Vocabulary {pad, bos, eos, a, b, c}, at most 3 tokens: every hypothesis fits a beam of 3+9+27+1."""
    m, source = model(vocab=6), sources()[:1]
    found = decoding.beam_search(m, source, beam=40, bos_id=BOS, eos_id=EOS, alpha=alpha, max_ratio=0, max_extra=4)[0]

    def normalised(h):
        return log_prob(m, source[0], list(h)) / ((5 + len(h) + 1) / 6) ** alpha

    candidates = [h for n in range(4) for h in itertools.product((3, 4, 5), repeat=n)]
    best = max(candidates, key=normalised)
    assert found == list(best)
    assert math.isclose(normalised(found), normalised(best))


def test_batching_and_padding_change_no_hypothesis():
    m, source = model(vocab=30), sources()
    together = decoding.beam_search(m, source, beam=4, bos_id=BOS, eos_id=EOS)
    for i in range(len(source)):
        length = int((source[i] != 0).sum())
        assert decoding.beam_search(m, source[i : i + 1, :length], beam=4, bos_id=BOS, eos_id=EOS)[0] == together[i]


def test_hypotheses_respect_the_length_limit():
    m, source = model(vocab=30), sources()
    for search in (decoding.greedy, lambda *a, **k: decoding.beam_search(*a, beam=3, **k)):
        hypotheses = search(m, source, bos_id=BOS, eos_id=EOS, max_ratio=0.5, max_extra=2)
        for row, hypothesis in zip(source, hypotheses):
            assert len(hypothesis) < int((row != 0).sum()) * 0.5 + 2
            assert EOS not in hypothesis and BOS not in hypothesis
        fixed = search(m, source, bos_id=BOS, eos_id=EOS, max_length=3)  # <eos> is the third token at the latest
        assert max(len(h) for h in fixed) <= 2


def test_translate_keeps_the_input_order():
    m = model(vocab=30)
    sentences = [[5, 6, 7, EOS], [8, EOS], [9, 10, 11, 12, 13, EOS], [4, 4, EOS]]
    batched = decoding.translate(m, sentences, batch_size=2, device="cpu", beam=2, bos_id=BOS, eos_id=EOS)
    for sentence, hypothesis in zip(sentences, batched):
        assert decoding.beam_search(m, torch.tensor([sentence]), beam=2, bos_id=BOS, eos_id=EOS)[0] == hypothesis


def test_beam_must_be_positive():
    with pytest.raises(ValueError, match="beam=0"):
        decoding.beam_search(model(), sources(), beam=0, bos_id=BOS, eos_id=EOS)
