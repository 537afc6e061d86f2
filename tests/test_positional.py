"""Positional encodings: the sinusoids of Sec. 3.5 by hand, learned embeddings, the factory's errors."""

import math

import pytest
import torch

from attnmem_core.attention.positional import positional_encoding, sinusoids


def test_sinusoids_match_the_formula_by_hand():
    pe = positional_encoding("sinusoidal", 6, max_len=10)(torch.zeros(1, 10, 6))[0]
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    expected_1 = [
        math.sin(1),
        math.cos(1),
        math.sin(1 / 10000 ** (2 / 6)),
        math.cos(1 / 10000 ** (2 / 6)),
        math.sin(1 / 10000 ** (4 / 6)),
        math.cos(1 / 10000 ** (4 / 6)),
    ]
    torch.testing.assert_close(pe[1], torch.tensor(expected_1))
    torch.testing.assert_close(pe[7, 2], torch.tensor(math.sin(7 / 10000 ** (2 / 6))))
    torch.testing.assert_close(pe[7, 5], torch.tensor(math.cos(7 / 10000 ** (4 / 6))))


def test_an_odd_width_ends_with_a_sine():
    pe = sinusoids(torch.arange(3), 5)
    torch.testing.assert_close(pe[2, 4], torch.tensor(math.sin(2 / 10000 ** (4 / 5))))


def test_sinusoids_reach_beyond_the_table_and_honour_start():
    encoding = positional_encoding("sinusoidal", 8, max_len=4)
    x = torch.randn(2, 3, 8)
    long = encoding(torch.zeros(1, 12, 8))[0]  # 12 > max_len: computed on demand
    torch.testing.assert_close(long, sinusoids(torch.arange(12), 8))
    torch.testing.assert_close(encoding(x, start=2), x + long[2:5])  # straddles the table's end
    torch.testing.assert_close(encoding(x, start=0), x + long[:3])


def test_learned_embeddings_are_trained_and_bounded():
    encoding = positional_encoding("learned", 4, max_len=5)
    x = torch.randn(2, 3, 4)
    out = encoding(x, start=2)
    torch.testing.assert_close(out, x + encoding.embedding.weight[2:5])
    out.sum().backward()
    grad = encoding.embedding.weight.grad
    assert (grad[2:5] == 2).all() and (grad[:2] == 0).all()  # two sentences, each position once
    with pytest.raises(ValueError, match=r"positions 0…4 \(max_len=5\); got position 5"):
        encoding(x, start=3)


def test_none_adds_nothing():
    x = torch.randn(2, 3, 4)
    assert torch.equal(positional_encoding("none", 4, 10)(x, start=7), x)


def test_an_unknown_kind_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'relative'.*allowed: 'sinusoidal', 'learned', 'none'"):
        positional_encoding("relative", 4, 10)


def test_learned_rows_can_start_at_the_sinusoids_norm():
    torch.manual_seed(0)
    d_model, rows = 256, 512
    sinusoid = sinusoids(torch.arange(rows), d_model).norm(dim=-1)
    assert torch.allclose(sinusoid, torch.full((rows,), (d_model / 2) ** 0.5))  # each sin/cos pair has norm 1
    default = positional_encoding("learned", d_model, rows).embedding.weight.norm(dim=-1)
    matched = positional_encoding("learned", d_model, rows, learned_std=0.5**0.5).embedding.weight.norm(dim=-1)
    assert abs(default.mean() - 1) < 0.05 and abs(matched.mean() / sinusoid.mean() - 1) < 0.05
