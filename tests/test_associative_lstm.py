"""Tests for the Associative LSTM (Danihelka et al. 2016): memory algebra, shapes, learning."""

import math
from statistics import mean

import pytest
import torch
from torch import nn

from attnmem_core.memory.associative_lstm import AssociativeLSTM, bound, permute, retrieve, store


def unit_keys(*shape: int, generator: torch.Generator) -> torch.Tensor:
    """Complex keys of modulus 1 and uniformly random phase."""
    phase = 2 * math.pi * torch.rand(*shape, generator=generator)
    return torch.polar(torch.ones_like(phase), phase)


def complex_normal(*shape: int, generator: torch.Generator) -> torch.Tensor:
    """Standard complex normal values, E|v|² = 1."""
    return torch.complex(
        torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator)
    ) / math.sqrt(2)


def random_permutations(copies: int, K: int, generator: torch.Generator) -> torch.Tensor:
    return torch.stack([torch.randperm(K, generator=generator) for _ in range(copies)])


def test_output_shape():
    model = AssociativeLSTM(input_size=7, hidden_size=20)
    assert model(torch.randn(5, 11, 7)).shape == (5, 11, 20)


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(hidden_size=21), "hidden_size"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(hidden_size=20, copies=0), "copies"),
        (dict(hidden_size=20, heads=0), "heads"),
    ],
)
def test_bad_sizes_raise_naming_the_problem(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        AssociativeLSTM(input_size=3, **kwargs)


def test_bound_caps_modulus_at_one_and_passes_smaller_values():
    z = 2 * complex_normal(10_000, generator=torch.Generator().manual_seed(0))
    b = bound(z)[0]
    small = z.abs() < 1
    assert small.any() and (~small).any()
    assert b.abs().max() <= 1 + 1e-6
    torch.testing.assert_close(b[small], z[small])
    # large values keep their phase and land on the unit circle
    torch.testing.assert_close(b[~small], z[~small] / z[~small].abs())


def test_hidden_units_have_modulus_at_most_one():
    h = AssociativeLSTM(4, 20)(10 * torch.randn(8, 6, 4))
    assert torch.complex(h[..., :10], h[..., 10:]).abs().max() <= 1 + 1e-6


@pytest.mark.parametrize("copies", [1, 4])
def test_one_stored_item_is_retrieved_exactly(copies):
    g = torch.Generator().manual_seed(1)
    P = random_permutations(copies, 16, g)
    r, v = unit_keys(16, generator=g), complex_normal(16, generator=g)
    torch.testing.assert_close(retrieve(store(permute(r, P), v), permute(r, P)), v)


def retrieval_noise(copies: int, seed: int, items: int = 8, K: int = 64) -> float:
    """Mean |read − stored|² when `items` pairs share one trace per copy."""
    g = torch.Generator().manual_seed(seed)
    P = random_permutations(copies, K, g)
    r, v = unit_keys(items, K, generator=g), complex_normal(items, K, generator=g)
    keys = permute(r, P)
    c = store(keys, v).sum(0)  # every pair added into the same traces
    return (retrieve(c, keys) - v).abs().square().mean().item()


def test_redundant_copies_reduce_retrieval_noise():
    one = mean(retrieval_noise(1, seed) for seed in range(10))
    eight = mean(retrieval_noise(8, seed) for seed in range(10))
    # each of the 7 other pairs adds noise of power 1; averaging 8 copies divides it by about 8
    assert one == pytest.approx(7, rel=0.2)
    assert eight < one / 4


def test_permutations_are_fixed_seeded_buffers():
    a, b, c = AssociativeLSTM(3, 20, seed=5), AssociativeLSTM(3, 20, seed=5), AssociativeLSTM(3, 20, seed=6)
    assert "P" in dict(a.named_buffers()) and "P" in a.state_dict()
    assert all(p.data_ptr() != a.P.data_ptr() for p in a.parameters())
    assert torch.equal(a.P, b.P) and not torch.equal(a.P, c.P)
    assert a.P.shape == (4, 10)
    assert all(torch.equal(row.sort().values, torch.arange(10)) for row in a.P)
    assert len({tuple(row.tolist()) for row in a.P}) == 4  # each copy has its own


def plain_reference(model: AssociativeLSTM, x: torch.Tensor) -> torch.Tensor:
    """The same equations in (real, imag) pairs, one head and one copy at a time."""
    K, P = model.hidden_size // 2, model.P

    def cmul(a, b):
        return (a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0])

    def bnd(a):
        d = torch.sqrt(torch.clamp(a[0] ** 2 + a[1] ** 2, min=1.0))
        return (a[0] / d, a[1] / d)

    h = x.new_zeros(x.shape[0], 2 * K)
    c = [(x.new_zeros(x.shape[0], K), x.new_zeros(x.shape[0], K)) for _ in P]
    out = []
    for t in range(x.shape[1]):
        z = model.W(x[:, t]) + model.U(h)
        g_f, g_i, g_o = torch.sigmoid(z[:, : 3 * K]).split(K, dim=1)
        writes, reads = [], []
        for k in range(model.heads):
            head = z[:, 3 * K + 6 * K * k : 3 * K + 6 * K * (k + 1)].split(K, dim=1)
            r_i, r_o, u = bnd(head[0:2]), bnd(head[2:4]), bnd(head[4:6])
            writes.append((r_i, (g_i * u[0], g_i * u[1])))
            reads.append(r_o)
        for s, p in enumerate(P):
            re, im = g_f * c[s][0], g_f * c[s][1]
            for r_i, w in writes:
                d_re, d_im = cmul((r_i[0][:, p], r_i[1][:, p]), w)
                re, im = re + d_re, im + d_im
            c[s] = (re, im)
        read_re, read_im = 0, 0
        for r_o in reads:
            for s, p in enumerate(P):
                d_re, d_im = cmul((r_o[0][:, p], -r_o[1][:, p]), c[s])
                read_re, read_im = read_re + d_re / len(P), read_im + d_im / len(P)
        read = bnd((read_re, read_im))
        h = torch.cat((g_o * read[0], g_o * read[1]), dim=1)
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("copies, heads", [(4, 3), (1, 1), (3, 2)])
def test_matches_plain_per_head_per_copy_reference(copies, heads):
    """Outputs and the written-out backward's gradients (of the parameters and the inputs) against autograd
    through the plain equations, in float64."""
    torch.manual_seed(0)
    model = AssociativeLSTM(5, 12, copies=copies, heads=heads, seed=2).double()
    x = (3 * torch.randn(4, 6, 5, dtype=torch.float64)).requires_grad_()  # large enough that the bounds are active
    weights = torch.randn(4, 6, 12, dtype=torch.float64)  # a loss that reads every step's every unit
    results = []
    for forward in (model, lambda x: plain_reference(model, x)):
        out = forward(x)
        results.append((out, torch.autograd.grad((out * weights).sum(), [x, *model.parameters()])))
    (out, gradients), (expected, expected_gradients) = results
    torch.testing.assert_close(out, expected)
    for gradient, expected_gradient in zip(gradients, expected_gradients):
        torch.testing.assert_close(gradient, expected_gradient)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = AssociativeLSTM(3, 20)
    model(torch.randn(4, 5, 3)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_learns_to_recall_the_first_symbol():
    """Recall the first of 6 random symbols at the last step: chance loss is ln 4 ≈ 1.39."""
    torch.manual_seed(0)
    vocab, steps = 4, 6
    model, readout = AssociativeLSTM(vocab, 20), nn.Linear(20, vocab)
    opt = torch.optim.Adam([*model.parameters(), *readout.parameters()], lr=1e-2)
    losses = []
    for _ in range(100):
        symbols = torch.randint(vocab, (32, steps))
        logits = readout(model(nn.functional.one_hot(symbols, vocab).float())[:, -1])
        loss = nn.functional.cross_entropy(logits, symbols[:, 0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert mean(losses[:10]) > 1.2
    assert mean(losses[-10:]) < 0.3
