"""The Transformer experiments' pieces: the run plan and cache keys, Table 3's rows, the 1/√d_k statistics."""

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from attnmem_core import claims, convergence, runs, translation
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
    learned = next(v for v in variants if v.positional == "learned")
    assert learned.learned_std == trx.SINUSOID_STD  # starts at the sinusoids' norm, √(d_model/2)
    assert [v.label_smoothing for v in variants if v.label_smoothing is not None] == [0.0]  # row (D)
    assert [v.name for v in variants if v.scoring == "additive"] == ["additive"]


def test_plan_has_one_main_run_per_seed_and_table3_on_short_pairs_with_three_base_seeds(data):
    plan = trx.plan(CPU, rnnsearch.PROFILES["cpu"].long, [0, 1], steps=77)
    main = [r for r in plan if r.steps == 77]
    assert [r.seed for r in main] == [0, 1] and all(r.variant.name == "base" and r.test_beam == CPU.beam for r in main)
    assert all(not r.to_gate and r.cutoff == rnnsearch.PROFILES["cpu"].long for r in main)
    table3 = [r for r in plan if r not in main]
    assert all(r.cutoff == CPU.short and r.steps == CPU.ablation_steps and r.to_gate for r in table3)
    assert all(r.max_tokens == CPU.ablation_max_tokens for r in table3) and main[0].max_tokens == CPU.max_tokens
    assert [r.seed for r in table3 if r.variant.name == "base"] == [0, 1, 2]
    assert all(sorted(r.seed for r in table3 if r.variant == v) == [0, 1] for v in trx.table3_variants(CPU))
    translating = {r.variant.name for r in table3 if r.test_beam}
    assert translating == {"base", "learned"} and all(r.test_beam == 1 for r in table3 if r.test_beam)
    assert len({(r.label, r.seed) for r in plan}) == len(plan)
    keys = {str(r.cache_key(data, torch.device("cpu"))) for r in plan}
    assert len(keys) == len(plan)


def test_base_seeds_add_the_smallest_unused_seeds():
    assert trx.base_seeds([0], 3) == [0, 1, 2] and trx.base_seeds([5, 1], 3) == [5, 1, 0]
    assert trx.base_seeds([0, 1, 2, 3], 3) == [0, 1, 2, 3]


def test_a_variant_of_one_seed_is_judged_against_the_spread_of_the_bases_seeds():
    base = [10.0, 11.0, 12.0]
    one = trx.against([13.0], base, base)
    logs = np.log(base)
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) * math.sqrt(1 + 1 / 3)
    expected = np.log(13.0) - logs.mean()
    assert one.value == pytest.approx(math.exp(expected))
    assert (one.low, one.high) == pytest.approx((math.exp(expected - half), math.exp(expected + half)))
    difference = trx.against([5.0], [1.0], base, log=False)  # two single seeds: √(1 + 1) times the base's spread
    assert difference.high - difference.value == pytest.approx(stats.t.ppf(0.975, 2) * np.std(base, ddof=1) * 2**0.5)
    assert trx.against([1.0, 2.0], [1.5, 2.5], base).method.startswith("Welch t on logs")
    assert math.isnan(trx.against([13.0], [10.0], [10.0]).low)


def test_every_variant_builds_with_its_sizes(data):
    for variant in [trx.Variant("base")] + trx.table3_variants(SMOKE):
        model = trx.RunSpec(variant, 10, 1, 0, SMOKE).build(data)
        attention = model.encoder[0].self_attention
        assert attention.heads == (variant.heads or SMOKE.heads) and attention.scale == variant.scale
        assert attention.d_k == (variant.d_k or SMOKE.d_model // SMOKE.heads)


def _trained(spec, kept: float, history) -> runs.TrainedRun:
    outputs = {"kept": {"step": 1, "valid_perplexity": kept, "valid_bleu": 1.0}}
    return runs.TrainedRun(spec, history, outputs, {}, 0, 1.0, 0.0, cached=False)


def test_table3_rows_read_each_runs_kept_evaluation_and_ratios_take_the_bases_geometric_mean():
    spec = functools.partial(trx.RunSpec, cutoff=SMOKE.short, steps=SMOKE.ablation_steps, scale=SMOKE, to_gate=True)
    last = [{"step": 3, "train_seconds": 6.0, "valid_perplexity": 99.0}]  # worse than the kept weights: not read
    base = [_trained(spec(trx.Variant("base"), seed=s), p, last) for s, p in ((0, 10.0), (1, 40.0))]
    h1 = _trained(spec(trx.Variant("h=1", heads=1), seed=0), 40.0, [{**last[0], "train_seconds": 3.0}])
    groups = trx.table3_runs(base + [h1], SMOKE)
    assert groups["base"] == base and groups["h=1"] == [h1] and groups["learned"] == []
    rows = trx.table3_rows(groups)
    assert rows["h=1"][0]["seconds per update"] == 1.0
    assert trx.perplexity_ratios(rows, "h=1") == [pytest.approx(2.0)]  # 40 over √(10 · 40) = 20


def test_a_table3_run_stops_at_the_gate_and_keeps_its_best_validation_weights(data):
    scale = dataclasses.replace(SMOKE, ablation_steps=60, ablation_eval_every=3)
    spec = trx.RunSpec(trx.Variant("base"), SMOKE.short, scale.ablation_steps, 0, scale, to_gate=True)
    stored = spec.train(data, torch.device("cpu"))
    history, kept = stored["history"], stored["outputs"]["kept"]
    verdicts = [trx.convergence_rule(scale).judge(history[: i + 1]).converged for i in range(len(history))]
    assert not any(verdicts[:-1]) and (verdicts[-1] or history[-1]["step"] == scale.ablation_steps)
    assert kept["valid_perplexity"] == min(row["valid_perplexity"] for row in history) and "valid_bleu" in kept
    model = spec.build(data)
    model.load_state_dict(stored["state_dict"])
    again = translation.validation(model.eval(), data, "cpu", SMOKE.short, scale.ablation_max_tokens)
    assert again == pytest.approx({k: kept[k] for k in ("valid_perplexity", "valid_bleu")})


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
        "d_k=4": "d_k=16",
        "ε_ls=0": "ε_ls=0",
        "learned": "learned",
        "no positions": None,
        "h=1, unscaled": None,
        "additive": None,
    }
    gpu = trx.PROFILES["gpu"]
    assert [trx.paper_row(v, gpu) for v in trx.table3_variants(gpu)[:4]] == ["h=1", "h=4", "h=16", "h=32"]


def test_convergence_is_judged_for_every_run_a_claim_names():
    def trained(spec, curve):
        history = [{"step": CPU.eval_every * (i + 1), "valid_perplexity": p} for i, p in enumerate(curve)]
        return runs.TrainedRun(spec, history, {}, {}, 0, 1.0, 0.0, cached=True)

    flat, falling = [90.0, 40.0, 30.0, 29.9, 29.9, 29.9], [90.0, 60.0, 40.0, 30.0, 20.0, 10.0]
    main = [trained(trx.RunSpec(trx.Variant("base"), 40, CPU.steps, 0, CPU), flat)]
    rnn = [trained(rnnsearch.RunSpec("RNNsearch", 40, 0, rnnsearch.PROFILES["cpu"]), [50.0, 40.0, 39.9, 39.9])]
    short = functools.partial(trx.RunSpec, cutoff=CPU.short, steps=CPU.ablation_steps, scale=CPU)
    table3 = [trained(short(trx.Variant("base"), seed=s), flat) for s in range(3)]
    table3 += [trained(short(v, seed=0), falling if v.name == "learned" else flat) for v in trx.table3_variants(CPU)]
    states = trx.convergence_states(rnn, main, main + table3, CPU)
    assert states["Transformer"][0].converged and states["RNNsearch-40"][0].converged
    assert len(states[trx.base_label(CPU)]) == 3 == len(states[f"sinusoidal ≤{CPU.short}"])
    assert not states["learned"][0].converged and not states[f"learned ≤{CPU.short}"][0].converged
    assert set(states) >= {"h=1", "ε_ls=0", "h=1, unscaled", "additive"}


def test_update_seconds_times_both_models_by_turns_on_the_same_batches(data):
    ratios = trx.update_seconds(data, SMOKE, batches=2, repeats=3)
    assert len(ratios) == 3 and all(math.isfinite(r) and r > 0 for r in ratios)


def test_the_additive_transformer_keeps_more_memory_for_the_backward_pass(data):
    ratios = trx.attention_memory(data, SMOKE, batches=2)
    assert len(ratios) == 2 and all(r > 1 for r in ratios)


def test_the_gate_judges_no_run_whose_second_half_lies_inside_the_warm_up():
    rule = trx.convergence_rule(CPU)
    flat = [{"step": 50 * i, "valid_perplexity": 300.0} for i in range(1, 7)]  # flat, but only 300 updates
    assert not rule.judge(flat).converged and "fewer than the 800" in rule.judge(flat).reason
    longer = [{"step": 100 * i, "valid_perplexity": 30.0} for i in range(1, 9)]
    assert rule.min_steps == 2 * CPU.warmup and rule.judge(longer).converged


def test_the_cost_of_additive_attention_is_judged_whether_or_not_the_runs_converged():
    costs = trx.attention_costs([1.4, 1.5, 1.45], [2.0, 2.1, 1.9, 2.2], CPU)
    assert all(q.runs == {"additive": 0, trx.base_label(CPU): 0} for q in costs)  # more training moves neither
    assert costs[0].interval.value == pytest.approx(1.45) and costs[0].interval.low > 1
    assert costs[1].interval.value == pytest.approx(2.05)
    claim = claims.Claim(
        "faster",
        "dot-product attention is faster",
        "Sec. 3.2.1",
        primary=claims.Condition("seconds per update additive / dot-product", ">", 1.0, "×"),
    )
    still_falling = [
        convergence.Rule("valid_perplexity", "min").judge(
            [{"step": s, "valid_perplexity": 100 / s} for s in (1, 2, 3, 4)]
        )
    ]
    assert not still_falling[0].converged
    judged = claim.judge(costs, {"additive": still_falling, trx.base_label(CPU): still_falling * 3})
    assert judged.verdict == "reproduced"
