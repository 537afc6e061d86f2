"""The Transformer: stepping equals teacher forcing, masks, decoding, label smoothing and Eq. 3."""

import math

import pytest
import torch
from torch.nn import functional as F

from attnmem_core import decoding
from attnmem_core.models.transformer import Transformer, label_smoothed_nll, learning_rate, lr_lambda

BOS, EOS = 1, 2
SIZES = dict(layers=2, d_model=16, d_ff=24, heads=4, dropout=0.0)


def make(**options):
    torch.manual_seed(0)
    return Transformer(30, 40, **{**SIZES, **options}).eval()


def batch():
    torch.manual_seed(1)
    source = torch.randint(4, 30, (3, 7))
    source[1, 4:] = 0
    source[2, 1:] = 0
    target_in = torch.randint(4, 40, (3, 5))
    target_in[:, 0] = BOS
    return source, target_in


@pytest.mark.parametrize(
    "options",
    [{}, {"pre_norm": True}, {"positional": "learned", "tie_output": False}, {"d_k": 2, "d_v": 3}, {"scale": False}],
)
def test_stepping_with_the_cache_equals_teacher_forcing(options):
    model, (source, target_in) = make(**options), batch()
    logits, α = model.align(source, target_in)
    torch.testing.assert_close(model(source, target_in), logits)  # fused and explicit attention agree
    memory = model.encode(source)
    state = model.initial_state(memory)
    for i in range(target_in.shape[1]):
        log_p, state, α_i = model.step(memory, state, target_in[:, i])
        torch.testing.assert_close(log_p, torch.log_softmax(logits[:, i], -1))
        torch.testing.assert_close(α_i, α[:, i])
    assert state[0][0].shape == (3, 4, 5, options.get("d_k", 4))  # the cache holds every position once


def test_no_output_depends_on_a_later_target_token():
    model, (source, target_in) = make(), batch()
    later = target_in.clone()
    later[:, 3:] = torch.randint(4, 40, (3, 2))
    before, after = model(source, target_in), model(source, later)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert (before[:, 3:] - after[:, 3:]).abs().max() > 1e-3


@pytest.mark.parametrize("pre_norm", [False, True])
def test_source_padding_changes_nothing(pre_norm):
    model, (source, target_in) = make(pre_norm=pre_norm), batch()
    wider = torch.cat((source, torch.zeros(3, 4, dtype=torch.long)), 1)
    torch.testing.assert_close(model(source, target_in), model(wider, target_in))
    alone = model(source[1:2, :4], target_in[1:2])
    torch.testing.assert_close(model(source, target_in)[1:2], alone)


def test_encoder_without_positions_is_permutation_equivariant():
    model, (source, _) = make(positional="none"), batch()
    perm = torch.tensor([2, 0, 3, 1, 6, 4, 5])
    full = source[:1]  # no padding: padding must stay at the end
    h = model.encode(full)["h"]
    torch.testing.assert_close(model.encode(full[:, perm])["h"], h[:, perm])
    h_positions = make().encode(full)["h"]  # sinusoids break the symmetry
    assert (make().encode(full[:, perm])["h"] - h_positions[:, perm]).abs().max() > 1e-3


def test_attention_maps_are_distributions_that_skip_padding():
    model, (source, target_in) = make(), batch()
    maps = model.attention_maps(source, target_in)
    assert maps["encoder"].shape == (2, 3, 4, 7, 7)
    assert maps["decoder"].shape == (2, 3, 4, 5, 5) and maps["cross"].shape == (2, 3, 4, 5, 7)
    for name in ("encoder", "decoder", "cross"):
        torch.testing.assert_close(maps[name].sum(-1), torch.ones(maps[name].shape[:-1]))
    assert (maps["cross"][:, 1, ..., 4:] == 0).all() and (maps["encoder"][:, 2, ..., 1:] == 0).all()
    assert (maps["decoder"].triu(1) == 0).all()
    logits, α = model.align(source, target_in)
    torch.testing.assert_close(α, maps["cross"][-1].mean(1))
    torch.testing.assert_close(maps["logits"], logits)


def test_beam_of_one_is_greedy():
    model = make()
    for p in model.parameters():  # sharper distributions than the initial ones
        torch.nn.init.normal_(p, std=0.5)
    source, limits = batch()[0], dict(bos_id=BOS, eos_id=EOS, max_ratio=1.0, max_extra=3)
    greedy = decoding.greedy(model, source, **limits)
    assert decoding.beam_search(model, source, beam=1, **limits) == greedy
    assert any(len(h) > 1 for h in greedy)


def test_every_parameter_gets_a_gradient_and_the_output_is_tied():
    model, (source, target_in) = make(), batch()
    assert model.W_o.weight is model.E_y.weight
    model(source, target_in).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_embeddings_are_scaled_and_padding_embeds_to_zero():
    torch.manual_seed(0)
    model = Transformer(30, 30, share_embeddings=True, positional="none", **SIZES)
    assert model.E_x is model.E_y and (model.E_x.weight[0] == 0).all()
    tokens = torch.tensor([[5, 6]])
    torch.testing.assert_close(model.embed(model.E_x, model.position_x, tokens), model.E_x.weight[[5, 6]][None] * 4)
    with pytest.raises(ValueError, match="source_vocab=30, target_vocab=40"):
        Transformer(30, 40, share_embeddings=True, **SIZES)


def test_bad_configurations_and_sources_are_refused():
    with pytest.raises(ValueError, match="not divisible by heads"):
        Transformer(30, 40, layers=1, d_model=18, heads=4)
    with pytest.raises(ValueError, match="unknown positional encoding 'rotary'"):
        make(positional="rotary")
    model, (source, target_in) = make(), batch()
    source[0, 0] = 0
    with pytest.raises(ValueError, match="at least one token"):
        model(source, target_in)


def test_label_smoothing_zero_is_cross_entropy_and_matches_torch():
    torch.manual_seed(3)
    logits, target = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    target[0, 0] = 0
    torch.testing.assert_close(
        label_smoothed_nll(logits, target, 0.0, ignore_index=0),
        F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=0),
    )
    torch.testing.assert_close(
        label_smoothed_nll(logits, target, 0.1, ignore_index=0),
        F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=0, label_smoothing=0.1),
    )


def test_label_smoothing_by_hand():
    logits = torch.tensor([[math.log(3), 0.0]])  # p = (3/4, 1/4)
    expected = -(0.95 * math.log(3 / 4) + 0.05 * math.log(1 / 4))  # q = 0.9·(1, 0) + 0.1/2
    torch.testing.assert_close(
        label_smoothed_nll(logits, torch.tensor([0]), 0.1, ignore_index=-100), torch.tensor(expected)
    )


def test_label_smoothing_ignores_padding():
    torch.manual_seed(4)
    logits, target = torch.randn(6, 5), torch.tensor([3, 1, 0, 4, 0, 2])
    loss = label_smoothed_nll(logits, target, 0.1, ignore_index=0)
    changed = logits.clone()
    changed[[2, 4]] = 50 * torch.randn(2, 5)
    torch.testing.assert_close(label_smoothed_nll(changed, target, 0.1, ignore_index=0), loss)
    keep = target != 0
    torch.testing.assert_close(loss, label_smoothed_nll(logits[keep], target[keep], 0.1, ignore_index=-1))


def test_learning_rate_is_equation_3():
    assert learning_rate(1, 512, 4000) == pytest.approx(512**-0.5 * 4000**-1.5)
    assert learning_rate(16000, 512, 4000) == pytest.approx(512**-0.5 / 16000**0.5)
    assert learning_rate(4000, 512, 4000) == pytest.approx(512**-0.5 / 4000**0.5)
    rates = [learning_rate(step, 512, 4000) for step in range(1, 12001)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 4000


def test_lr_lambda_drives_lambda_lr_from_step_one():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(64, warmup_steps=10, factor=2.0))
    for step in range(1, 25):  # update `step` runs at 2·lrate(step)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(2 * learning_rate(step, 64, 10))
        optimizer.step()
        scheduler.step()
