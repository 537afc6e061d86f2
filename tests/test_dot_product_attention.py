"""Scaled dot-product and multi-head attention: Eq. 1 written out, torch's reference layer, masks, the cache."""

import math

import pytest
import torch

from attnmem_core.attention.dot_product import MultiHeadAttention, causal_mask, scaled_dot_product_attention


def pair(d_model=12, heads=3, bias=True):
    """Our layer and torch.nn.MultiheadAttention holding the same weights."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model, heads, bias=bias).eval()
    theirs = torch.nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat((ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight)))
        theirs.out_proj.weight.copy_(ours.W_O.weight)
        if bias:
            theirs.in_proj_bias.copy_(torch.cat((ours.W_Q.bias, ours.W_K.bias, ours.W_V.bias)))
            theirs.out_proj.bias.copy_(ours.W_O.bias)
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "causal", "both"])
def test_equals_torch_multihead_attention(masks, bias):
    ours, theirs = pair(bias=bias)
    x = torch.randn(3, 5, 12)
    key_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    kwargs, torch_kwargs = {}, {}
    if masks in ("padding", "both"):
        kwargs["key_mask"], torch_kwargs["key_padding_mask"] = key_mask, ~key_mask  # torch: True = ignore
    if masks in ("causal", "both"):
        kwargs["attn_mask"], torch_kwargs["attn_mask"] = causal_mask(5), ~causal_mask(5)
    expected, expected_weights = theirs(x, x, x, need_weights=True, **torch_kwargs)
    fused, none = ours(x, x, x, **kwargs)
    explicit, weights = ours(x, x, x, need_weights=True, **kwargs)
    assert none is None and weights.shape == (3, 3, 5, 5)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(explicit, expected)
    torch.testing.assert_close(weights.mean(1), expected_weights)


def test_cross_attention_equals_torch():
    ours, theirs = pair()
    query, memory = torch.randn(2, 4, 12), torch.randn(2, 7, 12)
    key_mask = torch.ones(2, 7, dtype=torch.bool)
    key_mask[1, 5:] = False
    expected, expected_weights = theirs(query, memory, memory, key_padding_mask=~key_mask)
    out, weights = ours(query, memory, memory, key_mask=key_mask, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights.mean(1), expected_weights)
    assert (weights[1, :, :, 5:] == 0).all()


def test_equation_1_written_out_and_the_scale_switch():
    torch.manual_seed(1)
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 5)
    for scale, factor in ((True, 1 / math.sqrt(8)), (False, 1.0)):
        expected = torch.softmax(q @ k.transpose(1, 2) * factor, -1)
        out, weights = scaled_dot_product_attention(q, k, v, scale=scale, need_weights=True)
        torch.testing.assert_close(weights, expected)
        torch.testing.assert_close(out, expected @ v)
        torch.testing.assert_close(scaled_dot_product_attention(q, k, v, scale=scale)[0], expected @ v)
    unscaled = scaled_dot_product_attention(q, k, v, scale=False)[0]
    assert (unscaled - scaled_dot_product_attention(q, k, v)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("scale", [True, False])
def test_fused_and_explicit_paths_agree_with_masks(scale):
    torch.manual_seed(2)
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 6)
    mask = causal_mask(5) & torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    fused, _ = scaled_dot_product_attention(q, k, v, mask, scale=scale)
    explicit, weights = scaled_dot_product_attention(q, k, v, mask, scale=scale, need_weights=True)
    torch.testing.assert_close(fused, explicit)
    assert (weights[~mask.expand_as(weights)] == 0).all()


def test_padding_keys_change_nothing():
    ours, _ = pair()
    query, memory = torch.randn(1, 3, 12), torch.randn(1, 4, 12)
    padded = torch.cat((memory, 100 * torch.randn(1, 3, 12)), 1)
    key_mask = torch.tensor([[True] * 4 + [False] * 3])
    for need_weights in (False, True):
        torch.testing.assert_close(
            ours(query, padded, padded, key_mask=key_mask, need_weights=need_weights)[0], ours(query, memory, memory)[0]
        )


def test_self_attention_is_permutation_equivariant():
    ours, _ = pair()
    x, perm = torch.randn(2, 6, 12), torch.tensor([3, 0, 5, 1, 4, 2])
    out = ours(x, x, x)[0]
    torch.testing.assert_close(ours(x[:, perm], x[:, perm], x[:, perm])[0], out[:, perm])


def test_causal_mask_keeps_the_past_only():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_no_query_reads_a_later_position():
    ours, _ = pair()
    x = torch.randn(1, 6, 12)
    later = x.clone()
    later[:, 3:] = torch.randn(1, 3, 12)
    out, out_later = (ours(y, y, y, attn_mask=causal_mask(6))[0] for y in (x, later))
    torch.testing.assert_close(out[:, :3], out_later[:, :3])
    assert (out[:, 3:] - out_later[:, 3:]).abs().max() > 1e-3


def test_the_cache_reproduces_causal_self_attention_step_by_step():
    ours, _ = pair()
    x = torch.randn(2, 5, 12)
    full = ours(x, x, x, attn_mask=causal_mask(5))[0]
    cache = (torch.zeros(2, 3, 0, 4), torch.zeros(2, 3, 0, 4))
    for t in range(5):
        cache = ours.append(cache, ours.keys_values(x[:, t : t + 1]))
        torch.testing.assert_close(ours.attend(x[:, t : t + 1], cache)[0], full[:, t : t + 1])
    assert cache[0].shape == (2, 3, 5, 4)


def test_separate_d_k_and_d_v_size_the_projections():
    attention = MultiHeadAttention(12, 3, d_k=2, d_v=5)
    assert attention.W_Q.weight.shape == attention.W_K.weight.shape == (6, 12)
    assert attention.W_V.weight.shape == (15, 12) and attention.W_O.weight.shape == (12, 15)
    x = torch.randn(2, 4, 12)
    out, weights = attention(x, x, x, need_weights=True)
    assert out.shape == (2, 4, 12) and weights.shape == (2, 3, 4, 4)
    torch.testing.assert_close(out, attention(x, x, x)[0])


def test_bad_sizes_are_refused_at_construction():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by heads=3"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="give d_v explicitly"):  # d_k alone cannot fix the default d_v
        MultiHeadAttention(10, 3, d_k=4)
    assert MultiHeadAttention(10, 3, d_k=4, d_v=3).W_O.in_features == 9
    with pytest.raises(ValueError, match="d_k=0"):
        MultiHeadAttention(12, 3, d_k=0)
    with pytest.raises(ValueError, match="heads=0"):
        MultiHeadAttention(12, 0)


def test_masks_of_the_wrong_shape_are_named():
    attention = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12)
    with pytest.raises(ValueError, match=r"key_mask has shape \(2, 4\); expected \(batch, keys\) = \(2, 5\)"):
        attention(x, x, x, key_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(5, 4\); expected"):
        attention(x, x, x, attn_mask=torch.ones(5, 4, dtype=torch.bool))


def additive_layer(d_model=12, heads=3):
    torch.manual_seed(0)
    layer = MultiHeadAttention(d_model, heads, scoring="additive").eval()
    torch.nn.init.normal_(layer.additive.v_a.weight)  # v_a = 0 (the paper's start) would make every weight uniform
    return layer


def test_additive_heads_score_each_query_with_the_alignment_model_of_bahdanau():
    layer = additive_layer()
    query, memory = torch.randn(2, 4, 12), torch.randn(2, 5, 12)
    key_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    _, weights = layer(query, memory, memory, key_mask=key_mask, need_weights=True)
    q, (k, _) = layer.split(layer.W_Q(query), 4), layer.keys_values(memory)
    for head in range(3):
        for i in range(4):
            expected = layer.additive(q[:, head, i], layer.additive.keys(k[:, head]), k[:, head], key_mask)[1]
            torch.testing.assert_close(weights[:, head, i], expected)


def test_additive_heads_keep_the_padding_the_cache_and_the_causal_mask():
    layer = additive_layer()
    query, memory = torch.randn(1, 3, 12), torch.randn(1, 4, 12)
    padded = torch.cat((memory, 100 * torch.randn(1, 3, 12)), 1)
    key_mask = torch.tensor([[True] * 4 + [False] * 3])
    torch.testing.assert_close(layer(query, padded, padded, key_mask=key_mask)[0], layer(query, memory, memory)[0])
    x = torch.randn(2, 5, 12)
    full = layer(x, x, x, attn_mask=causal_mask(5))[0]
    cache = (torch.zeros(2, 3, 0, 4), torch.zeros(2, 3, 0, 4))
    for t in range(5):
        cache = layer.append(cache, layer.keys_values(x[:, t : t + 1]))
        torch.testing.assert_close(layer.attend(x[:, t : t + 1], cache)[0], full[:, t : t + 1])


def test_a_scoring_that_does_not_exist_or_an_unscaled_additive_one_is_refused():
    with pytest.raises(ValueError, match="scoring='cosine'; choose 'dot'"):
        MultiHeadAttention(12, 3, scoring="cosine")
    with pytest.raises(ValueError, match="additive scores have none to drop"):
        MultiHeadAttention(12, 3, scoring="additive", scale=False)
