"""ConvS2S: causal decoder, stepping equals teacher forcing, GLU, padding, the paper's initialisation, bad layers."""

import math

import pytest
import torch
from torch.nn import functional as F
from torch.nn.utils import parametrize

from attnmem_core import decoding
from attnmem_core.attention.multi_step import MultiStepAttention, encoder_memory
from attnmem_core.models.convs2s import ConvS2S

BOS, EOS = 1, 2
SIZES = dict(embedding=16, encoder_layers=[(12, 3)] * 3, decoder_layers=[(12, 3)] * 3, out_embedding=8, dropout=0.0)


def make(**options):
    torch.manual_seed(0)
    return ConvS2S(30, 40, **{**SIZES, **options}).eval()


def batch():
    torch.manual_seed(1)
    source = torch.randint(4, 30, (3, 7))
    source[1, 4:] = 0
    source[2, 1:] = 0
    target_in = torch.randint(4, 40, (3, 6))
    target_in[:, 0] = BOS
    return source, target_in


OPTIONS = [
    {},
    {"source_positions": False, "target_positions": False},
    {"attention_layers": [0, 2]},
    {"attention_layers": [1], "dropout": 0.3},  # dropout is off in eval mode
    {"encoder_layers": [(12, 3), (20, 5), (20, 1)], "decoder_layers": [(10, 5), (14, 1), (14, 3)]},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_stepping_with_the_cache_equals_teacher_forcing(options):
    model, (source, target_in) = make(**options), batch()
    logits, a = model.align(source, target_in)
    torch.testing.assert_close(model(source, target_in), logits)
    memory = model.encode(source)
    state = model.initial_state(memory)
    windows = [w.shape for w in state["windows"]]
    for i in range(target_in.shape[1]):
        log_p, state, a_i = model.step(memory, state, target_in[:, i])
        torch.testing.assert_close(log_p, torch.log_softmax(logits[:, i], -1))
        torch.testing.assert_close(a_i, a[:, i])
        assert [w.shape for w in state["windows"]] == windows  # k−1 inputs per layer, whatever the length
    assert state["position"].tolist() == [target_in.shape[1]] * 3


@pytest.mark.parametrize("options", OPTIONS)
def test_no_output_depends_on_a_later_target_token(options):
    model, (source, target_in) = make(**options), batch()
    later = target_in.clone()
    later[:, 3:] = torch.randint(4, 40, (3, 3))
    before, after = model.attention_maps(source, target_in), model.attention_maps(source, later)
    for name in ("logits", "cross"):
        torch.testing.assert_close(before[name][..., :3, :], after[name][..., :3, :])
    assert (before["logits"][:, 3:] - after["logits"][:, 3:]).abs().max() > 1e-3


@pytest.mark.parametrize("options", OPTIONS)
def test_source_padding_changes_nothing(options):
    model, (source, target_in) = make(**options), batch()
    wider = torch.cat((source, torch.zeros(3, 4, dtype=torch.long)), 1)
    torch.testing.assert_close(model(source, target_in), model(wider, target_in))
    alone = model(source[1:2, :4], target_in[1:2])
    torch.testing.assert_close(model(source, target_in)[1:2], alone)


def test_attention_maps_are_distributions_over_real_tokens_in_the_attending_layers():
    model, (source, target_in) = make(attention_layers=[0, 2]), batch()
    maps = model.attention_maps(source, target_in)
    assert maps["cross"].shape == (2, 3, 6, 7)
    torch.testing.assert_close(maps["cross"].sum(-1), torch.ones(2, 3, 6))
    assert (maps["cross"][:, 1, :, 4:] == 0).all() and (maps["cross"][:, 2, :, 1:] == 0).all()
    assert model.decoder[1].attention is None and model.encoder_gradient_scale == 1 / 4
    torch.testing.assert_close(model.align(source, target_in)[1], maps["cross"].mean(0))


def test_multi_step_attention_by_hand():
    """d = (W_d h + b_d + g)·√½, a = softmax(d·z) over the m real tokens, c = √m·Σ a (z + e)·√½,
    out = (W_c c + h)·√½."""
    torch.manual_seed(2)
    attention = MultiStepAttention(channels=6, embedding=4)
    h, g = torch.randn(2, 3, 6), torch.randn(2, 3, 4)
    z, e = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out, a = attention(h, g, encoder_memory(z, e, mask))
    W_d, W_c = attention.W_d, attention.W_c
    for b, m in enumerate((5, 3)):
        d = (h[b] @ W_d.weight.T + W_d.bias + g[b]) * math.sqrt(0.5)
        expected_a = torch.softmax(d @ z[b, :m].T, -1)
        c = math.sqrt(m) * expected_a @ ((z[b, :m] + e[b, :m]) * math.sqrt(0.5))
        torch.testing.assert_close(a[b, :, :m], expected_a)
        torch.testing.assert_close(out[b], (c @ W_c.weight.T + W_c.bias + h[b]) * math.sqrt(0.5))
    assert (a[1, :, 3:] == 0).all()


def test_the_gated_linear_unit_halves_the_channels():
    """An encoder block by hand: a convolution to 2C channels [A B], A ⊗ σ(B), plus the input, times √½."""
    model, (source, _) = make(encoder_layers=[(12, 3), (12, 5)]), batch()
    block, x = model.encoder[1], torch.randn(3, 7, 12)
    mask = model.source_mask(source)
    assert block.conv.out_channels == 24 and block(x, mask).shape == (3, 7, 12)
    conv = block.conv(F.pad(x.masked_fill(~mask.unsqueeze(-1), 0).transpose(1, 2), (2, 2)))  # (B, 2C, Tx)
    A, B = conv[:, :12], conv[:, 12:]
    torch.testing.assert_close(block(x, mask), ((A * torch.sigmoid(B)).transpose(1, 2) + x) * math.sqrt(0.5))


def test_beam_of_one_is_greedy():
    model = make()
    assert isinstance(model, decoding.Translator)
    for p in model.parameters():  # sharper distributions than the initial ones
        torch.nn.init.normal_(p, std=0.5)
    source, limits = batch()[0], dict(bos_id=BOS, eos_id=EOS, max_ratio=1.0, max_extra=3)
    greedy = decoding.greedy(model, source, **limits)
    assert decoding.beam_search(model, source, beam=1, **limits) == greedy
    assert any(len(h) > 1 for h in greedy)


def test_every_parameter_gets_a_gradient_and_every_layer_is_weight_normalised():
    model, (source, target_in) = make(encoder_layers=[(12, 3), (20, 3)], decoder_layers=[(12, 3), (16, 1)]), batch()
    model.train()
    model(source, target_in).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d))]
    assert len(layers) == 5 + 4 + 2 + 2 * 2  # in, out and output linears; convolutions; projections; attentions
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)


def test_the_encoder_gradient_through_z_is_scaled_by_one_over_twice_the_attending_layers():
    model, (source, target_in) = make(), batch()

    def encoder_gradients():
        model.zero_grad()
        model(source, target_in).pow(2).sum().backward()
        return [p.grad.clone() for p in model.encoder.parameters()]

    scaled = encoder_gradients()
    model.encoder_gradient_scale = 1.0
    for g_scaled, g in zip(scaled, encoder_gradients()):
        torch.testing.assert_close(g_scaled, g / 6)  # three attending layers


def test_without_positions_the_encoder_still_sees_order():
    """The essay's point in miniature: convolutions are not permutation-equivariant, attention alone is."""
    model, (source, _) = make(source_positions=False), batch()
    full = source[:1]
    perm = torch.tensor([2, 0, 3, 1, 6, 4, 5])
    z = model.encode(full)["h"]
    assert (model.encode(full[:, perm])["h"] - z[:, perm]).abs().max() > 1e-3
    assert model.P_x is None and model.P_y is not None


def activation_variances(model, source, target_in):
    """Variance of the input to each stack and of every block's output: {"encoder": [...], "decoder": [...]}."""
    seen = {"encoder": [], "decoder": []}

    def record(name):
        def hook(module, inputs, out):  # a decoder block returns (output, window, attention)
            seen[name].append((out[0] if isinstance(out, tuple) else out).var().item())

        return hook

    stacks = {"encoder": [model.encoder_in, *model.encoder], "decoder": [model.decoder_in, *model.decoder]}
    hooks = [module.register_forward_hook(record(name)) for name, modules in stacks.items() for module in modules]
    with torch.no_grad():
        model(source, target_in)
    for hook in hooks:
        hook.remove()
    return seen


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_the_initialisation_keeps_the_activation_variance_through_depth(dropout):
    """Sec. 3.5 and Appendix A: a convolution from N(0, 4(1−p)/n_in) quadruples the variance of its (dropped-out)
    input, the GLU's gate σ(B) ≈ ½ + B/4 at these small activations quarters it again, and the √½-scaled residual sum
    of two equal variances keeps it. So through 16 encoder blocks and 15 causal decoder blocks (the 16th attends,
    which the derivation does not cover: √m restores the variance only of uniform attention) the ratio to the stack's
    input variance stays within [0.75, 4/3]. Each estimate rests on 10⁵ activations (sampling error < 1 %); the
    second-order term of the gate adds < 1 % per block; the zero padding at the ends gives the first positions fewer
    inputs, which costs up to 15 % of the mean over 36 positions. With N(0, 1/n_in), a GLU-unaware initialisation,
    each block keeps only (1 + 1/4)/2 of the variance: 0.625¹⁶ ≈ 5e-4."""
    torch.manual_seed(0)
    layers = [(96, 3)] * 16
    model = ConvS2S(
        500,
        500,
        embedding=64,
        encoder_layers=layers,
        decoder_layers=layers,
        out_embedding=32,
        attention_layers=[15],
        dropout=dropout,
    ).train()  # (1−p) compensates dropout as in training
    source, target_in = torch.randint(4, 500, (2, 32, 36)).unbind(0)
    variances = activation_variances(model, source, target_in)
    for name, blocks in (("encoder", 16), ("decoder", 15)):
        ratios = [v / variances[name][0] for v in variances[name][1 : blocks + 1]]
        assert 0.75 < min(ratios) and max(ratios) < 4 / 3, (name, ratios)
    for block in model.encoder:  # halve the standard deviation of every convolution: N(0, 1/n_in)
        block.conv.parametrizations.weight.original0.data.mul_(0.5)
    shrunk = activation_variances(model, source, target_in)["encoder"]
    assert shrunk[-1] / shrunk[0] < 0.01


def test_bad_layers_are_refused_at_construction():
    with pytest.raises(ValueError, match=r"encoder_layers\[1\] has kernel width 4; it must be odd and at least 1"):
        make(encoder_layers=[(12, 3), (12, 4)])
    with pytest.raises(ValueError, match=r"decoder_layers\[0\] has kernel width 0"):
        make(decoder_layers=[(12, 0)])
    with pytest.raises(ValueError, match=r"decoder_layers\[2\] has 0 channels"):
        make(decoder_layers=[(12, 3), (12, 3), (0, 3)])
    with pytest.raises(ValueError, match=r"encoder_layers\[0\]=\(12, 3, 1\) is not a \(channels, kernel width\) pair"):
        make(encoder_layers=[(12, 3, 1)])
    with pytest.raises(ValueError, match="encoder_layers is empty"):
        make(encoder_layers=[])
    with pytest.raises(ValueError, match=r"attention_layers=\[0, 3\]: give indices of decoder layers that exist, 0…2"):
        make(attention_layers=[0, 3])
    with pytest.raises(ValueError, match=r"attention_layers=\[\]"):
        make(attention_layers=[])


def test_bad_sources_and_lengths_are_refused():
    model, (source, target_in) = make(max_len=6), batch()
    with pytest.raises(ValueError, match="got position 13"):
        model(torch.cat((source, source), 1), target_in)
    model(source[:, :6], target_in)
    source[0, 0] = 0
    with pytest.raises(ValueError, match="at least one token"):
        model(source, target_in)


def test_a_state_dict_loads_into_a_fresh_model():
    """Weight normalisation stores g and v per layer: what the model cache saves must rebuild the same translator."""
    trained, (source, target_in) = make(), batch()
    torch.manual_seed(5)
    fresh = ConvS2S(30, 40, **SIZES).eval()
    assert not torch.equal(fresh(source, target_in), trained(source, target_in))
    fresh.load_state_dict({k: v.clone() for k, v in trained.state_dict().items()})
    torch.testing.assert_close(fresh(source, target_in), trained(source, target_in), rtol=0, atol=0)
