"""The ConvS2S chapter's pieces: the run plan and cache keys, early stopping at the convergence gate with the best
weights kept, the difference of differences, and the probe's premise."""

import dataclasses

import pytest
import torch

from attnmem_core import runs, translation
from attnmem_core.data import bible
from attnmem_core.experiments import convs2s as cs
from attnmem_core.experiments import rnnsearch
from attnmem_core.models.transformer import Transformer
from attnmem_core.runner import REPO

SMOKE, CPU = cs.PROFILES["smoke"], cs.PROFILES["cpu"]
CPU_DEVICE = torch.device("cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return rnnsearch.prepare(
        bible.load(REPO / "data" / "cache"), rnnsearch.PROFILES["smoke"], "bpe", tmp_path_factory.mktemp("tok")
    )


def test_plan_has_every_table4_and_transformer_arm_per_seed_and_table5_for_the_first_seeds():
    plan = cs.plan(CPU, [0, 1, 2], 40)
    main, study = plan[0], plan[1:]
    assert isinstance(main, cs.MainSpec) and (main.cutoff, main.seed) == (40, 0)
    arms = {}
    for spec in study:
        arms.setdefault(spec.arm.name, []).append(spec.seed)
    for arm in (*cs.TABLE4, *cs.TRANSFORMER):
        assert arms[arm.name] == [0, 1, 2]
    assert [arms[a.name] for a in cs.table5_arms(CPU)] == [[0, 1, 2]] * 2
    assert cs.table5_arms(CPU)[1].attention_layers == (CPU.layers - 1,)
    first_two = cs.plan(dataclasses.replace(CPU, table5_seeds=2), [0, 1, 2], 40)
    assert [[s.seed for s in first_two[1:] if s.arm == a] for a in cs.table5_arms(CPU)] == [[0, 1]] * 2
    assert len({s.label for s in plan}) == len(plan)  # the cache file names differ


def test_the_dearest_runs_start_first_the_main_run_then_the_transformers():
    order = sorted(cs.plan(CPU, [0, 1, 2], 40), key=lambda spec: -spec.cost())
    assert isinstance(order[0], cs.MainSpec)
    models = [spec.arm.model for spec in order[1:]]
    assert models == ["Transformer"] * 6 + ["ConvS2S"] * 18


def test_probed_runs_carry_their_probe_and_the_others_do_not(data):
    scale = cs.Scale(**{**vars(SMOKE), "steps": 2})
    target_only, both = (cs.RunSpec(arm, 0, scale).train(data, CPU_DEVICE)["outputs"] for arm in cs.TABLE4[2:4])
    assert "probe" not in target_only and set(both["probe"]) == {"encoder state", "word embedding"}
    assert all(0 <= accuracy <= 1 for accuracy in both["probe"].values())


def test_cache_keys_hold_what_decides_the_weights_and_nothing_else(data):
    spec = cs.RunSpec(cs.TABLE4[0], 0, SMOKE)
    key = spec.cache_key(data, CPU_DEVICE)
    for unrelated in ({"seeds": (7,)}, {"workers": 9}, {"main_steps": 99}, {"table5_seeds": 2}):
        assert cs.RunSpec(cs.TABLE4[0], 0, cs.Scale(**{**vars(SMOKE), **unrelated})).cache_key(data, CPU_DEVICE) == key
    for related in ({"steps": 99}, {"cutoff": 9}, {"channels": 8}, {"warmup": 5}, {"learning_rate": 1.0}):
        assert cs.RunSpec(cs.TABLE4[0], 0, cs.Scale(**{**vars(SMOKE), **related})).cache_key(data, CPU_DEVICE) != key
    main = cs.MainSpec(30, 0, SMOKE).cache_key(data, CPU_DEVICE)
    assert cs.MainSpec(30, 0, cs.Scale(**{**vars(SMOKE), "channels": 8})).cache_key(data, CPU_DEVICE) == main
    assert cs.MainSpec(30, 0, cs.Scale(**{**vars(SMOKE), "main_channels": 8})).cache_key(data, CPU_DEVICE) != main


def test_arms_build_the_models_they_name(data):
    conv = cs.RunSpec(cs.TABLE4[3], 0, SMOKE).build(data)
    assert conv.P_x is None and conv.P_y is None and conv.attention_layers == list(range(SMOKE.layers))
    first = cs.RunSpec(cs.table5_arms(SMOKE)[0], 0, SMOKE).build(data)
    assert first.attention_layers == [0] and first.P_x is not None
    transformer = cs.RunSpec(cs.TRANSFORMER[1], 0, SMOKE).build(data)
    assert isinstance(transformer, Transformer) and type(transformer.position_x).__name__ == "NoEncoding"


def test_a_study_run_stops_at_the_gate_and_keeps_its_best_weights(data):
    scale = cs.Scale(**{**vars(SMOKE), "steps": 400, "eval_every": 4})
    spec = cs.RunSpec(cs.TABLE4[0], 0, scale)
    payload = spec.train(data, CPU_DEVICE)
    history = payload["history"]
    assert history[-1]["step"] < scale.steps and cs.CONVERGENCE.judge(history).converged
    assert cs.CONVERGENCE.judge(history[:-1]).converged is False  # it stopped at the first evaluation that could
    run = runs.TrainedRun(spec, history, payload["outputs"], payload["state_dict"], 0, 1.0, 0.0, cached=False)
    kept = translation.perplexity(run.model(data), *translation.split_pairs(data, "valid", scale.cutoff), "cpu", 600)
    assert kept == pytest.approx(translation.best_perplexity(run.history), rel=1e-5)
    assert len(payload["outputs"]["hypotheses"]) == len(cs.test_references(data, scale))


def _run(arm, seed, hypotheses):
    return runs.TrainedRun(cs.RunSpec(arm, seed, SMOKE), [], {"hypotheses": hypotheses}, {}, 0, 1.0, 0.0, cached=False)


def test_the_essays_quantity_is_the_per_seed_difference_of_the_two_position_costs(data):
    references = cs.test_references(data, SMOKE)
    perfect, half, empty = references, [r if i % 2 else "" for i, r in enumerate(references)], [""] * len(references)
    outcomes = []
    for seed in (0, 1):
        outcomes += [
            _run(cs.TABLE4[0], seed, perfect),
            _run(cs.TABLE4[3], seed, perfect),  # ConvS2S loses nothing without positions
            _run(cs.TRANSFORMER[0], seed, perfect),
            _run(cs.TRANSFORMER[1], seed, half if seed else empty),  # the Transformer loses a lot
        ]
    conv = cs.position_cost(outcomes, data, "ConvS2S", "− source & target position")
    transformer = cs.position_cost(outcomes, data, "Transformer", "Transformer − positions")
    assert conv == [0.0, 0.0] and transformer[0] == pytest.approx(100.0) and 0 < transformer[1] < 99


def test_a_position_free_transformer_encoder_gives_a_token_the_same_state_wherever_it_stands():
    """The probe's premise: self-attention without positions is permutation-equivariant, so its encoder states
    carry no index; ConvS2S's (tested in test_convs2s) are not."""
    torch.manual_seed(0)
    model = Transformer(30, 30, layers=2, d_model=16, d_ff=32, heads=2, positional="none").eval()
    source = torch.randint(4, 30, (1, 7))
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    with torch.no_grad():
        z = model.encode(source)["h"]
        torch.testing.assert_close(model.encode(source[:, perm])["h"], z[:, perm])


def test_chance_is_the_share_of_test_tokens_at_the_most_frequent_training_index(data):
    lengths = [len(x) + 1 for x in translation.split_pairs(data, "test", SMOKE.cutoff)[0]]
    assert cs.chance(data, SMOKE) == pytest.approx(len(lengths) / sum(lengths))  # index 0: every verse has one
