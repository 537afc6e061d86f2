"""Soft and hard visual attention (Xu et al. 2015, Eq. 4-8, 12, 14): weights, masking, the gate, sampling,
the REINFORCE estimator against the exact gradient, and the doubly stochastic penalty."""

import pytest
import torch

from attnmem_core.attention.visual import (
    AttentionScores,
    HardAttention,
    SoftAttention,
    doubly_stochastic_penalty,
    expected_context,
    reinforce_surrogate,
)

B, L, D, H, A = 3, 6, 5, 4, 7


@pytest.fixture()
def inputs():
    torch.manual_seed(0)
    return torch.randn(B, L, D), torch.randn(B, H)


def test_soft_weights_are_a_distribution_and_the_context_is_their_gated_mean(inputs):
    a, h = inputs
    soft = SoftAttention(D, H, A)
    z, α, β = soft(a, soft.scores.keys(a), h)
    assert torch.allclose(α.sum(-1), torch.ones(B)) and (α > 0).all()
    assert torch.allclose(z, β * torch.einsum("bl,bld->bd", α, a), atol=1e-6)


def test_the_gate_is_one_scalar_per_example_and_step_strictly_between_0_and_1(inputs):
    a, h = inputs
    soft = SoftAttention(D, H, A)
    _, _, β = soft(a, soft.scores.keys(a), h)
    assert β.shape == (B, 1) and ((β > 0) & (β < 1)).all()
    assert torch.allclose(β, torch.sigmoid(soft.f_beta(h)))


def test_masked_locations_get_no_weight_and_their_annotations_change_nothing(inputs):
    a, h = inputs
    soft = SoftAttention(D, H, A)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[:, 4:] = False
    z, α, _ = soft(a, soft.scores.keys(a), h, mask)
    changed = a.clone()
    changed[:, 4:] = 100.0
    z2, α2, _ = soft(changed, soft.scores.keys(changed), h, mask)
    assert (α[:, 4:] == 0).all() and torch.allclose(α.sum(-1), torch.ones(B))
    assert torch.allclose(z, z2) and torch.allclose(α, α2)


def test_hard_attention_returns_the_sampled_annotation_its_log_probability_and_the_entropy(inputs):
    a, h = inputs
    hard = HardAttention(D, H, A)
    keys = hard.scores.keys(a)
    torch.manual_seed(1)
    z, α, log_p, entropy = hard(a, keys, h, locations="sampled")
    torch.manual_seed(1)
    s = torch.multinomial(α, 1).squeeze(1)
    assert torch.equal(z, a[torch.arange(B), s])
    assert torch.allclose(log_p, α[torch.arange(B), s].log())
    assert torch.allclose(entropy, -(α * α.log()).sum(-1))
    z, _, log_p, _ = hard(a, keys, h, locations="expected")
    assert log_p is None and torch.allclose(z, expected_context(α, a))


def test_hard_samples_follow_alpha_and_never_pick_a_masked_location():
    torch.manual_seed(0)
    n = 20_000
    a, h = torch.randn(1, L, D).expand(n, L, D), torch.randn(1, H).expand(n, H)
    hard = HardAttention(D, H, A)
    with torch.no_grad():
        hard.scores.v.weight.mul_(20)  # a peaked α, far from uniform
    mask = torch.ones(n, L, dtype=torch.bool)
    mask[:, 0] = False
    z, α, _, entropy = hard(a, hard.scores.keys(a), h, locations="sampled", mask=mask)
    picked = (z.unsqueeze(1) == a).all(-1).float().mean(0)
    assert picked[0] == 0 and torch.allclose(picked, α[0], atol=0.015)
    assert torch.isfinite(entropy).all()


def test_the_expected_score_function_gradient_is_the_exact_gradient_of_the_expected_cost():
    """Eq. 12: E_s[∇C(s) + (C(s) − b) ∇log p(s)] = ∇ Σ_s p(s) C(s) for any baseline b, by exact enumeration."""
    torch.manual_seed(0)
    a, h = torch.randn(1, L, D), torch.randn(1, H)
    scores = AttentionScores(D, H, A)
    w = torch.randn(D, requires_grad=True)  # the cost's own parameters (the decoder's)
    parameters = [w, *scores.parameters()]

    def cost(s):
        return (a[0, s] @ w - 1.0) ** 2

    log_α = scores.log_weights(scores.keys(a), h)[0]
    exact = torch.autograd.grad(sum(log_α.exp()[s] * cost(s) for s in range(L)), parameters)
    for baseline in (0.0, 0.7, 5.0):
        estimate = [torch.zeros_like(p) for p in parameters]
        for s in range(L):
            log_α = scores.log_weights(scores.keys(a), h)[0]
            g = torch.autograd.grad(reinforce_surrogate(cost(s), log_α[s], baseline), parameters)
            estimate = [e + log_α[s].exp().detach() * gi for e, gi in zip(estimate, g)]
        for e, x in zip(estimate, exact):
            assert torch.allclose(e, x, atol=1e-5)


def test_the_sampled_estimator_averages_to_the_exact_gradient():
    """The same with HardAttention's own samples: the Monte Carlo mean of the surrogate's gradient."""
    torch.manual_seed(0)
    n = 200_000
    a, h = torch.randn(1, L, D), torch.randn(1, H)
    hard = HardAttention(D, H, A)
    target = torch.randn(D)
    keys = hard.scores.keys(a)
    α = hard.scores.log_weights(keys, h)[0].exp()
    costs = ((a[0] - target) ** 2).sum(-1)
    exact = torch.autograd.grad(α @ costs, list(hard.parameters()))
    z, _, log_p, _ = hard(a.expand(n, L, D), hard.scores.keys(a.expand(n, L, D)), h.expand(n, H), locations="sampled")
    sampled_cost = ((z - target) ** 2).sum(-1)
    estimate = torch.autograd.grad(
        reinforce_surrogate(sampled_cost, log_p, float(costs.mean())).mean(), list(hard.parameters())
    )
    for e, x in zip(estimate, exact):
        assert torch.allclose(e, x, atol=0.03 * x.abs().max().item() + 1e-4)


def test_the_doubly_stochastic_penalty_on_a_hand_case():
    α = torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]])  # column sums 0.6, 0.35, 1.05
    assert doubly_stochastic_penalty(α).item() == pytest.approx(0.4**2 + 0.65**2 + 0.05**2)
    padded = torch.cat([α, torch.full((1, 1, 3), 1 / 3)], 1)  # a padding step changes nothing
    steps = torch.tensor([[True, True, False]])
    assert doubly_stochastic_penalty(padded, steps).item() == pytest.approx(0.585)


def test_the_penalty_is_zero_when_every_location_gets_total_attention_one():
    α = torch.tensor([[[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]]])
    assert doubly_stochastic_penalty(α).item() == pytest.approx(0.0, abs=1e-12)
