"""The Transformer experiments' pieces: the run plan and cache keys, Table 3's rows, the 1/√d_k statistics."""

import math

import pytest
import torch

from attnmem_core import runs
from attnmem_core.data import bible
from attnmem_core.experiments import rnnsearch
from attnmem_core.experiments import transformer as trx
from attnmem_core.runner import REPO

SMOKE, CPU = trx.PROFILES["smoke"], trx.PROFILES["cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return rnnsearch.prepare(
        bible.load(REPO / "data" / "cache"), rnnsearch.PROFILES["smoke"], "bpe", tmp_path_factory.mktemp("tok")
    )


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
    plan = trx.plan(CPU, rnnsearch.PROFILES["cpu"].long, [0, 1], steps=77)
    main = [r for r in plan if r.steps == 77]
    assert [r.seed for r in main] == [0, 1] and all(r.variant.name == "base" and r.test_beam == CPU.beam for r in main)
    short = [r for r in plan if r.cutoff == CPU.short]
    assert all(r.steps == CPU.ablation_steps for r in plan if r not in main + short)
    assert all(r.steps == CPU.extrapolation_steps and not r.valid_bleu for r in short)
    assert all(r.valid_bleu for r in plan if r not in short)
    assert CPU.steps % CPU.eval_every == 0 == CPU.ablation_steps % CPU.eval_every  # Table 3's base row is evaluated
    assert {r.variant.positional for r in short} == {"sinusoidal", "learned"} and all(r.test_beam == 1 for r in short)
    assert not any(r.test_beam for r in plan if r not in main and r not in short)
    assert len({(r.label, r.seed) for r in plan}) == len(plan)
    keys = {str(r.cache_key(data, torch.device("cpu"))) for r in plan}
    assert len(keys) == len(plan)


def test_every_variant_builds_with_its_sizes(data):
    for variant in [trx.Variant("base")] + trx.table3_variants(SMOKE):
        model = trx.RunSpec(variant, 10, 1, 0, SMOKE).build(data)
        attention = model.encoder[0].self_attention
        assert attention.heads == (variant.heads or SMOKE.heads) and attention.scale == variant.scale
        assert attention.d_k == (variant.d_k or SMOKE.d_model // SMOKE.heads)


def _trained(spec, history) -> runs.TrainedRun:
    return runs.TrainedRun(spec, history, {}, {}, 0, 1.0, 0.0, cached=False)


def test_table3_rows_read_every_variant_at_the_ablation_update_and_the_base_from_the_main_run():
    spec = trx.RunSpec(trx.Variant("base"), 40, SMOKE.steps, 0, SMOKE)
    main = [_trained(spec, [{"step": 3, "valid_perplexity": 10.0}, {"step": 6, "valid_perplexity": 5.0}])]
    others = [
        _trained(trx.RunSpec(v, 40, SMOKE.ablation_steps, 0, SMOKE), [{"step": 3, "valid_perplexity": 10.0 * (i + 2)}])
        for i, v in enumerate(trx.table3_variants(SMOKE))
    ]
    rows = trx.table3_rows(others + main, main, SMOKE, 40)
    assert rows["base"] == [{"step": 3, "valid_perplexity": 10.0}]
    assert trx.perplexity_ratios(rows, trx.table3_variants(SMOKE)[0].name) == [2.0]
    assert trx.perplexity_ratios(rows, "h=1, unscaled", "h=1") == [(len(others) + 1) / 2]


def test_scaling_statistics_show_the_variance_grow_with_d_k_and_the_unscaled_softmax_saturate():
    frame = trx.scaling_statistics([4, 64, 512], samples=500)
    scaled, unscaled = frame[frame.scaled].set_index("d_k"), frame[~frame.scaled].set_index("d_k")
    for d_k in (4, 64, 512):  # q·k is a sum of d_k unit-variance products
        assert scaled.loc[d_k, "variance of q·k"] == pytest.approx(d_k, rel=0.1)
    # scaled: the same softmax at every d_k; unscaled: ever more peaked, with a vanishing Jacobian
    assert scaled["softmax entropy"].max() - scaled["softmax entropy"].min() < 0.1
    assert unscaled["softmax entropy"].is_monotonic_decreasing and unscaled["Jacobian norm"].is_monotonic_decreasing
    assert unscaled.loc[512, "Jacobian norm"] < 0.5 * scaled.loc[512, "Jacobian norm"]
    assert unscaled.loc[512, "softmax entropy"] < 0.25 * math.log(32)


def test_paper_tables_hold_the_papers_numbers():
    assert trx.PAPER_TABLE3["base"] == (4.92, 25.8) and trx.PAPER_TABLE3["h=1"] == (5.29, 24.9)
    assert trx.PAPER_TABLE2["Transformer (base)"] == (27.3, 3.3e18)


def test_paper_rows_stand_in_the_same_relation_to_the_base():
    rows = {v.name: trx.paper_row(v, CPU) for v in [trx.Variant("base")] + trx.table3_variants(CPU)}
    assert rows == {
        "base": "base",
        "h=1": "h=1",
        "d_k=8": "d_k=16",
        "learned": "learned",
        "no positions": None,
        "h=1, unscaled": None,
    }
    gpu = trx.PROFILES["gpu"]
    assert [trx.paper_row(v, gpu) for v in trx.table3_variants(gpu)[:4]] == ["h=1", "h=4", "h=16", "h=32"]


def test_table_3_judges_the_base_on_its_curve_up_to_the_update_it_is_compared_at():
    def trained(spec, curve):
        history = [{"step": CPU.eval_every * (i + 1), "valid_perplexity": p} for i, p in enumerate(curve)]
        return runs.TrainedRun(spec, history, {}, {}, 0, 1.0, 0.0, cached=True)

    falling_then_flat = [90.0, 40.0, 30.0, 29.9, 29.9, 29.9]  # evaluated every 225 updates: still falling at 225
    main = [trained(trx.RunSpec(trx.Variant("base"), 40, CPU.steps, 0, CPU), falling_then_flat)]
    rnn = [trained(rnnsearch.RunSpec("RNNsearch", 40, 0, rnnsearch.PROFILES["cpu"]), [50.0, 40.0, 39.9, 39.9])]
    variants = [trained(trx.RunSpec(v, 40, CPU.ablation_steps, 0, CPU), [70.0]) for v in trx.table3_variants(CPU)]
    states = trx.convergence_states(rnn, main, main + variants, CPU, 40)
    assert states["Transformer"][0].converged and states["RNNsearch-40"][0].converged
    assert not states[f"base at {CPU.ablation_steps} updates"][0].converged
    assert states[f"base at {CPU.ablation_steps} updates"][0].step == CPU.ablation_steps
    assert set(states) >= {"h=1", "learned", "h=1, unscaled"}
