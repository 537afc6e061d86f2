import pytest
import torch

from attnmem_core.memory.fast_weights import FastWeightsRNN


def pair(**options):
    """The same weights in the attention form and the outer-product form, in float64."""
    torch.manual_seed(0)
    attention = FastWeightsRNN(6, 16, form="attention", **options).double()
    outer = FastWeightsRNN(6, 16, form="outer", **options).double()
    outer.load_state_dict(attention.state_dict())
    return attention, outer


@pytest.mark.parametrize("options", [{}, {"inner_steps": 3}, {"layer_norm": False}, {"lam": 0.9, "eta": 0.3}])
def test_attention_form_equals_outer_product_form(options):
    attention, outer = pair(**options)
    x = 0.3 * torch.randn(5, 11, 6, dtype=torch.float64)  # small enough that no layer norm does not overflow
    torch.testing.assert_close(attention(x), outer(x), rtol=1e-10, atol=1e-12)


def test_outer_product_form_is_equation_1():
    """A(t) = λA(t−1) + η h(t)h(t)ᵀ, built by hand, gives the outputs the module gives."""
    model = FastWeightsRNN(3, 4, lam=0.8, eta=0.7, form="outer").double()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    h, A, outputs = torch.zeros(4, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64), []
    for t in range(6):
        z = model.W.weight @ h + model.C(x[0, t])
        h_s = torch.relu(z)
        h_s = torch.relu(model.ln(z + A @ h_s))
        h = h_s
        A = 0.8 * A + 0.7 * torch.outer(h, h)
        outputs.append(h)
    torch.testing.assert_close(model(x)[0], torch.stack(outputs))


def test_fast_memory_starts_empty_for_each_sequence():
    model = FastWeightsRNN(3, 8)
    x = torch.randn(2, 4, 3)
    first = torch.relu(model.ln(model.C(x[:, 0])))  # W·0 = 0 and A(0) = 0
    torch.testing.assert_close(model(x)[:, 0], first)
    # and a sequence's result does not depend on the other sequences in the batch
    torch.testing.assert_close(model(x[:1]), model(x)[:1])


def test_no_output_depends_on_later_inputs():
    model = FastWeightsRNN(3, 8)
    x = torch.randn(2, 7, 3)
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 3, 3)
    torch.testing.assert_close(model(x)[:, :4], model(changed)[:, :4])


def test_slow_weights_start_at_0_05_identity():
    assert torch.equal(FastWeightsRNN(3, 5).W.weight, 0.05 * torch.eye(5))


def test_gradients_reach_every_parameter():
    model = FastWeightsRNN(3, 8, inner_steps=2)
    model(torch.randn(4, 6, 3)).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "bad, match", [({"form": "dense"}, "form="), ({"lam": 1.5}, "lam="), ({"inner_steps": 0}, "inner_steps=")]
)
def test_bad_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        FastWeightsRNN(3, 4, **bad)


@pytest.mark.parametrize("form", ["attention", "outer"])
@pytest.mark.parametrize("options", [{}, {"inner_steps": 3}, {"layer_norm": False}, {"lam": 0.9, "eta": 0.3}])
def test_forward_and_gradients_equal_the_implementation_before_the_speed_up(form, options):
    """The frozen copy in benchmarks/ is the reference: same seed, same parameters, same outputs and gradients."""
    from benchmarks.fast_weights_reference import FastWeightsRNN as Before

    torch.manual_seed(0)
    now = FastWeightsRNN(6, 16, form=form, **options).double()
    torch.manual_seed(0)
    before = Before(6, 16, form=form, **options).double()
    assert all(torch.equal(a, b) for a, b in zip(now.state_dict().values(), before.state_dict().values()))
    if options.get("layer_norm", True):  # a gain and bias away from 1 and 0, so that their gradients are tested
        with torch.no_grad():
            for model in (now, before):
                model.ln.weight.copy_(torch.linspace(0.5, 1.5, 16))
                model.ln.bias.copy_(torch.linspace(-0.2, 0.2, 16))
    x = (0.3 * torch.randn(5, 11, 6, dtype=torch.float64)).requires_grad_()
    weights = torch.randn(5, 11, 16, dtype=torch.float64)  # every step's output reaches the loss
    outputs, gradients = [], []
    for model in (now, before):
        y = model(x)
        outputs.append(y)
        gradients.append(torch.autograd.grad((weights * y).sum(), [x, *model.parameters()]))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(*gradients):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * b.abs().max().item())


def test_layer_norm_on_the_preliminary_step_normalises_h0_with_the_inner_loops_layer_norm():
    torch.manual_seed(0)
    model = FastWeightsRNN(3, 4, lam=0.9, eta=0.5, layer_norm_h0=True).double()
    with torch.no_grad():
        model.ln.weight.copy_(torch.tensor([0.5, 1.0, 1.5, 2.0]))
    x = torch.randn(1, 5, 3, dtype=torch.float64)
    h, A, outputs = torch.zeros(4, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64), []
    for t in range(5):
        z = model.W.weight @ h + model.C(x[0, t])
        h = torch.relu(model.ln(z + A @ torch.relu(model.ln(z))))
        A = 0.9 * A + 0.5 * torch.outer(h, h)
        outputs.append(h)
    torch.testing.assert_close(model(x)[0], torch.stack(outputs))
    with pytest.raises(ValueError, match="layer_norm_h0=True is implemented in the outer-product form only"):
        FastWeightsRNN(3, 4, layer_norm_h0=True, form="attention")
