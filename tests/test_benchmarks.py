"""The benchmarks still run (one tiny pass) and return their tables; their numbers are read from `make bench`."""

import pandas as pd
import pytest
import torch

from attnmem_core.data import text
from attnmem_core.models import han as han_models
from benchmarks import (
    attention,
    cli,
    convs2s,
    fast_weights,
    fast_weights_profile,
    han,
    han_reference,
    rnnsearch,
    show_attend_tell,
    timing,
    transformer,
)


def _positive(table: pd.DataFrame) -> bool:
    return bool((table.to_numpy(dtype=float) > 0).all())


def test_fast_weights_benchmark_times_every_model_before_and_now():
    rates, ratios = fast_weights.measure(["--steps", "1", "--repeats", "1", "--hidden", "20"]).values()
    assert list(rates.index) == [(m, 20) for m in ("IRNN", "LSTM", "A-LSTM", "FW")]
    assert list(rates.columns) == ["before", "now, plain Adam", "now"]
    assert list(ratios.columns) == ["now, plain Adam / before", "now / before"]
    assert _positive(rates) and _positive(ratios)


def test_fast_weights_profile_names_the_recurrence_among_the_operators():
    milliseconds, table = fast_weights_profile.measure(["--steps", "2", "--hidden", "20", "--rows", "100"])
    assert milliseconds > 0
    assert "_AttentionRecurrence" in table and "_AttentionRecurrenceBackward" in table


def test_han_benchmark_times_training_and_inference_of_both_models():
    rates, ratio, seconds, speed_up = han.measure(
        ["--profile", "smoke", "--documents", "16", "--repeats", "1"]
    ).values()
    assert list(rates.index) == ["inference", "training"]
    assert list(rates.columns) == [*han.MODELS, *han.VARIANTS]
    assert list(seconds.index) == ["pad an epoch", "save + load test weights"]
    assert list(speed_up.columns) == ["before / now"]
    assert _positive(rates) and _positive(ratio) and _positive(seconds) and _positive(speed_up)


def test_the_padding_the_han_benchmark_times_as_before_is_text_pads():
    documents = [[[5, 6], [7]], [[8, 9, 4], [2], [3]], [[1]]]
    assert torch.equal(han.pad_per_sentence(documents), text.pad(documents))


def test_rnnsearch_benchmark_times_three_models_and_two_ratios():
    rates, ratios = rnnsearch.measure(
        ["--profile", "smoke", "--batches", "1", "--sentences", "4", "--repeats", "1"]
    ).values()
    assert list(rates.index) == ["RNNencdec", "RNNsearch", "RNNsearch (recomputed keys)"]
    assert list(ratios.index) == ["precomputed / recomputed keys", "RNNencdec / RNNsearch"]
    assert _positive(rates) and _positive(ratios)


def test_transformer_benchmark_times_both_models_and_both_attention_paths():
    sizes, ratio, attention, speed_up = transformer.measure(
        ["--profile", "smoke", "--batches", "1", "--repeats", "1"]
    ).values()
    assert list(sizes.index) == ["ours", "torch.nn.Transformer"] and _positive(sizes) and _positive(ratio)
    assert list(attention.index) == ["B=32, T=40", "B=8, T=256"] and _positive(attention) and _positive(speed_up)


def test_attention_benchmark_times_three_ways_as_d_k_and_length_grow_and_additive_keeps_the_most():
    tables = attention.measure(["--batch", "2", "--heads", "2", "--d-ks", "4,8", "--lengths", "8,16", "--repeats", "1"])
    assert len(tables) == 8 and all(_positive(t) for t in tables.values())
    seconds, memory = list(tables.values())[:2]
    assert list(seconds.index) == [4, 8] and list(seconds.columns) == ["dot", "dot, written out", "additive"]
    # additive attention keeps its (B, h, T, T, d_k) tanh for the backward pass, the dot product at most (B, h, T, T)
    assert (memory["additive"] > memory["dot, written out"]).all()


def test_convs2s_benchmark_times_both_models_and_their_ratios():
    sizes, ratio = convs2s.measure(
        ["--profile", "smoke", "--batches", "1", "--sentences", "4", "--repeats", "1"]
    ).values()
    assert list(sizes.index) == ["ConvS2S", "Transformer"] and list(ratio.index) == ["ConvS2S / Transformer"]
    assert list(ratio.columns) == ["parameters", "train tokens/s", "beam-2 sentences/s"]
    assert _positive(sizes) and _positive(ratio)


def test_convs2s_width_brings_the_parameter_count_closest_to_the_target():
    vocab, layers = (50, 60), (2, 1)
    target = convs2s.parameters(convs2s.convs2s(vocab, 16, layers, 37, 0.1)) + 5  # just above width 37's count
    width = convs2s.matched_width(vocab, 16, layers, 0.1, target)
    assert width == 37


def test_show_attend_tell_benchmark_times_every_variant_and_two_ratios():
    rates, ratios = show_attend_tell.measure(
        ["--profile", "smoke", "--batches", "1", "--images", "4", "--repeats", "1"]
    ).values()
    assert list(rates.index) == ["soft", "hard", "none"] and list(ratios.index) == ["none / soft", "none / hard"]
    assert _positive(rates) and _positive(ratios)


def test_show_prints_every_table_under_its_title_and_ratios_with_a_times_sign(capsys):
    cli.show({"rates": pd.DataFrame({"a": [1234.5]}), "ratios": pd.DataFrame({"a / b": [1.5]})})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rates" and out[2].split()[-1] == "1,234" and out[4] == "ratios" and out[6].endswith("1.50×")


def test_timing_warms_up_then_takes_the_median_and_alternates_the_works():
    calls = []
    rate = timing.median_rate(lambda: calls.append("w"), amount=10, repeats=3)
    assert len(calls) == 4 and rate > 0  # one warm-up pass, then three timed ones
    calls.clear()
    seconds = timing.alternating_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2)
    assert calls == ["a", "b", "a", "b", "a", "b"] and set(seconds) == {"a", "b"}


@pytest.mark.parametrize("name", ["HN-ATT", "GRU-ATT (flat)"])
@pytest.mark.parametrize("as_before", [han_reference.as_at_5967f37, han_reference.as_before])
def test_the_han_the_benchmark_times_as_before_computes_what_the_library_does(name, as_before):
    """The frozen computations of `han_reference` give today's outputs and gradients, so the benchmark's
    before / now ratios compare one function computed two ways."""
    documents = [[[5, 6, 7], [8, 9]], [[3, 4, 5, 6, 7, 8], [9], [2, 3]], [[4]]]
    x = text.pad(documents)
    outputs, grads = [], []
    for before in (False, True):
        torch.manual_seed(0)
        model = han_models.build(name, 12, 2, embedding_dim=8, hidden_size=4)
        if before:
            as_before(model)
        logits, word_weights, _ = model.attend(x)
        logits.sum().backward()
        outputs.append((logits, word_weights))
        grads.append([p.grad for p in model.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1])
    torch.testing.assert_close(grads[0], grads[1])
