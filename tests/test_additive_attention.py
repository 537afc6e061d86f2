"""The Bahdanau alignment model: the equations, masking and the paper's initialisation."""

import pytest
import torch

from attnmem_core.attention.additive import AdditiveAttention


def test_matches_the_equations_written_out():
    torch.manual_seed(0)
    attention = AdditiveAttention(3, 4, 5)
    for p in attention.parameters():
        torch.nn.init.normal_(p)
    s, h = torch.randn(2, 3), torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    c, α = attention(s, attention.keys(h), h, mask)
    W_a, U_a, b, v_a = attention.W_a.weight, attention.U_a.weight, attention.U_a.bias, attention.v_a.weight[0]
    for b_ in range(2):
        e = torch.stack([v_a @ torch.tanh(W_a @ s[b_] + U_a @ h[b_, j] + b) for j in range(6)])
        expected_α = torch.exp(e) / torch.exp(e).sum()
        torch.testing.assert_close(α[b_], expected_α)
        torch.testing.assert_close(c[b_], (expected_α.unsqueeze(-1) * h[b_]).sum(0))


def test_padding_gets_no_weight_and_changes_nothing():
    torch.manual_seed(1)
    attention = AdditiveAttention(3, 4, 5)
    torch.nn.init.normal_(attention.v_a.weight)
    s, h = torch.randn(1, 3), torch.randn(1, 4, 4)
    mask = torch.tensor([[True, True, True, False]])
    c, α = attention(s, attention.keys(h), h, mask)
    assert α[0, 3] == 0
    h_other = h.clone()
    h_other[0, 3] = 100.0
    c_other, _ = attention(s, attention.keys(h_other), h_other, mask)
    torch.testing.assert_close(c, c_other)
    c_short, _ = attention(s, attention.keys(h[:, :3]), h[:, :3], mask[:, :3])
    torch.testing.assert_close(c, c_short)


def test_paper_initialisation_starts_uniform_and_still_learns():
    attention = AdditiveAttention(3, 4, 5)
    assert attention.W_a.weight.std() < 0.01 and attention.U_a.weight.std() < 0.01
    s, h = torch.randn(2, 3), torch.randn(2, 5, 4)
    c, α = attention(s, attention.keys(h), h, torch.ones(2, 5, dtype=torch.bool))
    torch.testing.assert_close(α, torch.full_like(α, 0.2))
    (c * torch.randn_like(c)).sum().backward()
    assert attention.v_a.weight.grad.abs().sum() > 0  # v_a = 0 still receives a gradient


def test_mask_of_the_wrong_shape_is_named():
    attention = AdditiveAttention(3, 4, 5)
    h = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="mask has shape"):
        attention(torch.randn(2, 3), attention.keys(h), h, torch.ones(2, 4, dtype=torch.bool))


def test_scores_of_many_queries_are_the_alignment_model_applied_to_each():
    torch.manual_seed(2)
    attention = AdditiveAttention(3, 4, 5)
    for p in attention.parameters():
        torch.nn.init.normal_(p)
    queries, h = torch.randn(2, 7, 3), torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    α = torch.softmax(attention.scores(queries, attention.keys(h)), -1)  # (2, 7, 6)
    for i in range(7):
        torch.testing.assert_close(α[:, i], attention(queries[:, i], attention.keys(h), h, mask)[1])
