import pytest
import torch

from attnmem_core.attention.linear import linear_attention, recency_weights
from attnmem_core.memory.fast_weights import FastWeightsRNN


def test_linear_attention_is_the_sum_it_is_defined_by():
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(2, 6, 4, dtype=torch.float64),
        torch.randn(2, 6, 4, dtype=torch.float64),
        torch.randn(2, 6, 3, dtype=torch.float64),
    )
    out, weights = linear_attention(q, k, v, lam=0.8, eta=0.3, need_weights=True)
    for t in range(6):
        expected = sum(
            0.3 * 0.8 ** (t - tau) * (k[:, tau] * q[:, t]).sum(-1, keepdim=True) * v[:, tau] for tau in range(t + 1)
        )
        torch.testing.assert_close(out[:, t], expected)
    assert torch.all(weights.triu(1) == 0)  # no step reads a later one


def test_without_decay_it_reads_the_sum_of_outer_products():
    """Schlag et al. 2021: A(t) = Σ_{τ≤t} v(τ) k(τ)ᵀ, and A(t) q(t) is linear attention."""
    torch.manual_seed(1)
    q, k, v = (
        torch.randn(5, 4, dtype=torch.float64),
        torch.randn(5, 4, dtype=torch.float64),
        torch.randn(5, 2, dtype=torch.float64),
    )
    A = torch.cumsum(v.unsqueeze(-1) * k.unsqueeze(-2), dim=0)
    torch.testing.assert_close(linear_attention(q, k, v)[0], (A @ q.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("lam, eta", [(0.9, 0.5), (0.95, 0.5), (1.0, 0.1)])
def test_the_fast_weights_read_is_linear_attention_over_the_past_states(lam, eta):
    """A(t−1) q with A of Eq. 1 (the fast-weights module's memory) equals linear attention with keys = values = the
    past states and weights η λ^{t−1−τ} h(τ)ᵀq."""
    torch.manual_seed(2)
    core = FastWeightsRNN(3, 8, lam=lam, eta=eta).double()
    states = torch.relu(torch.randn(4, 7, 8, dtype=torch.float64))
    queries = torch.randn(4, 7, 8, dtype=torch.float64)
    read_memory = (core.memory(states[:, :-1]) @ queries[:, 1:].unsqueeze(-1)).squeeze(-1)
    read_attention, _ = linear_attention(queries[:, 1:], states[:, :-1], states[:, :-1], lam=lam, eta=eta)
    torch.testing.assert_close(read_attention, read_memory, rtol=1e-12, atol=1e-12)


def test_recency_weights_decay_with_age_and_mask_the_future():
    w = recency_weights(3, 0.5, 2.0, dtype=torch.float64)
    assert torch.equal(w, torch.tensor([[2.0, 0, 0], [1.0, 2.0, 0], [0.5, 1.0, 2.0]], dtype=torch.float64))


def test_queries_keys_and_values_must_have_the_same_steps():
    with pytest.raises(ValueError, match="have 3, 4 and 4 steps"):
        linear_attention(torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(4, 2))
