"""The Transformer experiments' pieces: the run plan and cache keys, FLOP counting, cost to reach a target,
the 1/√d_k statistics, and perplexity by length."""
import math

import pytest
import torch
from torch import nn

from attnmem_core.attention.dot_product import MultiHeadAttention
from attnmem_core.data import bible
from attnmem_core.experiments import translation as tx
from attnmem_core.experiments import transformer as trx
from attnmem_core.runner import REPO

SMOKE, CPU = trx.PROFILES["smoke"], trx.PROFILES["cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tx.prepare(bible.load(REPO / "data" / "cache"), tx.PROFILES["smoke"], "bpe", tmp_path_factory.mktemp("tok"))


def test_table3_heads_keep_the_compute_constant():
    variants = trx.table3_variants(CPU)
    heads = [v for v in variants if v.name.startswith("h=") and v.scale]
    assert [v.heads for v in heads] == [h for h in CPU.heads_grid if h != CPU.heads]
    assert all(v.heads * v.d_k == CPU.d_model == v.heads * v.d_v for v in heads)
    small = next(v for v in variants if v.name.startswith("d_k="))
    assert small.d_k == CPU.small_d_k < CPU.d_model // CPU.heads and small.d_v == CPU.d_model // CPU.heads
    unscaled = next(v for v in variants if not v.scale)
    assert unscaled.heads == 1 and unscaled.d_k == CPU.d_model
    assert {v.positional for v in variants} == {"sinusoidal", "learned", "none"}


def test_plan_has_one_main_run_per_seed_and_translates_only_where_needed(data):
    plan = trx.plan(CPU, tx.PROFILES["cpu"], [0, 1], steps=77)
    main = [r for r in plan if r.steps == 77]
    assert [r.seed for r in main] == [0, 1] and all(r.variant.name == "base" and r.test_beam == CPU.beam for r in main)
    short = [r for r in plan if r.cutoff == CPU.short]
    assert all(r.steps == CPU.ablation_steps for r in plan if r not in main + short)
    assert all(r.steps == CPU.extrapolation_steps and not r.valid_bleu for r in short)
    assert all(r.valid_bleu for r in plan if r not in short)
    assert CPU.steps % CPU.eval_every == 0 == CPU.ablation_steps % CPU.eval_every   # Table 3's base row is evaluated
    assert {r.variant.positional for r in short} == {"sinusoidal", "learned"} and all(r.test_beam == 1 for r in short)
    assert not any(r.test_beam for r in plan if r not in main and r not in short)
    assert len({(r.label, r.seed) for r in plan}) == len(plan)
    keys = {str(trx.config(r, data, torch.device("cpu"))) for r in plan}
    assert len(keys) == len(plan)


def test_every_variant_builds_with_its_sizes(data):
    for variant in [trx.Variant("base")] + trx.table3_variants(SMOKE):
        model = trx.build(variant, SMOKE, len(data.source_tokenizer), len(data.target_tokenizer))
        attention = model.encoder[0].self_attention
        assert attention.heads == (variant.heads or SMOKE.heads) and attention.scale == variant.scale
        assert attention.d_k == (variant.d_k or SMOKE.d_model // SMOKE.heads)


class _AttentionOnly(nn.Module):
    """x → MultiHead(E x, E x, E x) with a sum as the 'loss'."""

    def __init__(self, d_model, heads):
        super().__init__()
        self.E = nn.Embedding(10, d_model)
        self.attention = MultiHeadAttention(d_model, heads)

    def forward(self, x, y_in):
        h = self.E(x)
        return self.attention(h, h, h)[0]


def test_training_flops_count_every_matrix_product_of_forward_and_backward():
    B, T, d, h = 3, 7, 16, 4
    stream = iter([((torch.randint(0, 10, (B, T)), None), None)] * 2)
    flops = trx.training_flops(_AttentionOnly(d, h), stream, lambda out, _: out.sum(), updates=2)
    projections = 4 * 2 * B * T * d * d           # W_Q, W_K, W_V, W_O
    attention = 2 * 2 * B * h * T * T * (d // h)   # Q Kᵀ and A V
    assert flops == 3 * (projections + attention)  # backward: a gradient for each operand, twice the forward


def test_cost_to_reach_reads_the_first_evaluation_that_gets_there():
    history = [{"step": 100, "train_seconds": 10.0, "valid_bleu": 3.0, "valid_perplexity": 90.0},
               {"step": 200, "train_seconds": 21.0, "valid_bleu": 9.5, "valid_perplexity": 40.0},
               {"step": 300, "train_seconds": 30.0, "valid_bleu": 12.0, "valid_perplexity": 30.0}]
    assert trx.cost_to_reach(history, "valid_bleu", 9.0, 1e9) == {"step": 200, "seconds": 21.0, "flops": 2e11}
    assert trx.cost_to_reach(history, "valid_perplexity", 35.0, 1.0, higher=False)["step"] == 300
    never = trx.cost_to_reach(history, "valid_bleu", 20.0, 1.0)
    assert never["flops"] == math.inf and never["seconds"] == math.inf


def test_at_step_names_the_updates_that_were_evaluated():
    result = {"history": [{"step": 5}, {"step": 10}], "spec": trx.RunSpec(trx.Variant("base"), 40, 10, 0, SMOKE,
                                                                          tx.PROFILES["smoke"])}
    assert trx.at_step(result, 5) == {"step": 5}
    with pytest.raises(ValueError, match=r"not evaluated at update 7; evaluated at \[5, 10\]"):
        trx.at_step(result, 7)


def test_scaling_statistics_show_the_variance_grow_with_d_k_and_the_unscaled_softmax_saturate():
    frame = trx.scaling_statistics([4, 64, 512], samples=500)
    scaled, unscaled = frame[frame.scaled].set_index("d_k"), frame[~frame.scaled].set_index("d_k")
    for d_k in (4, 64, 512):   # q·k is a sum of d_k unit-variance products
        assert scaled.loc[d_k, "variance of q·k"] == pytest.approx(d_k, rel=0.1)
    # scaled: the same softmax at every d_k; unscaled: ever more peaked, with a vanishing Jacobian
    assert scaled["softmax entropy"].max() - scaled["softmax entropy"].min() < 0.1
    assert unscaled["softmax entropy"].is_monotonic_decreasing and unscaled["Jacobian norm"].is_monotonic_decreasing
    assert unscaled.loc[512, "Jacobian norm"] < 0.5 * scaled.loc[512, "Jacobian norm"]
    assert unscaled.loc[512, "softmax entropy"] < 0.25 * math.log(32)


def test_perplexity_by_length_splits_the_pairs_into_buckets(data):
    model = trx.build(trx.Variant("base"), SMOKE, len(data.source_tokenizer), len(data.target_tokenizer)).eval()
    frame = trx.perplexity_by_length(model, data, "test", [0, 10, 20, 1000], SMOKE.max_tokens)
    assert frame.sentences.sum() == len(data.ids["test"][0]) and list(frame.bucket) == ["0–9", "10–19", "20–999"]
    whole = tx.perplexity(model, *data.ids["test"], "cpu", SMOKE.max_tokens)
    assert frame.perplexity.min() <= whole <= frame.perplexity.max()


def test_paper_tables_hold_the_papers_numbers():
    assert trx.PAPER_TABLE3["base"] == (4.92, 25.8) and trx.PAPER_TABLE3["h=1"] == (5.29, 24.9)
    assert trx.PAPER_TABLE2["Transformer (base)"] == (27.3, 3.3e18)


def test_paper_rows_stand_in_the_same_relation_to_the_base():
    rows = {v.name: trx.paper_row(v, CPU) for v in [trx.Variant("base")] + trx.table3_variants(CPU)}
    assert rows == {"base": "base", "h=1": "h=1", "d_k=8": "d_k=16", "learned": "learned", "no positions": None,
                    "h=1, unscaled": None}
    gpu = trx.PROFILES["gpu"]
    assert [trx.paper_row(v, gpu) for v in trx.table3_variants(gpu)[:4]] == ["h=1", "h=4", "h=16", "h=32"]
