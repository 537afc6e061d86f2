"""Every chapter's `gpu` profile, trained for two updates on the CPU.

No machine this project has run on had a GPU, so the `gpu` profiles had never run. Here each
chapter's gpu configuration (its model sizes, batch shapes, seeds list, and bf16 autocast
where the profile asks for it, run by the CPU's autocast, the nearest thing to CUDA's) trains
every variant of its plan for the first seed, for two updates on a few examples of the real
data, and produces the outputs the notebook reads. What it cannot show: what only CUDA does
(its memory, its kernels).

At the paper's sizes this takes many minutes on two cores (a GRU of 1000 units decodes slowly),
so it is kept out of the default run: `pytest -m gpu_profile` runs it.
"""

import dataclasses
import math

import pytest
import torch

from attnmem_core import runs
from attnmem_core.data import associative_retrieval, bible, fashion_mnist, fine_foods
from attnmem_core.data.user_corpus import ParallelCorpus
from attnmem_core.experiments import fast_weights, han, rnnsearch, show_attend_tell, transformer
from attnmem_core.runner import REPO

CACHE = REPO / "data" / "cache"  # the data sets, fetched once as the notebook tests fetch them
CPU = torch.device("cpu")
STEPS = 2

pytestmark = pytest.mark.gpu_profile


@pytest.fixture
def cpu_bf16(monkeypatch):
    """bf16 autocast on the CPU wherever a profile asks for it (`runtime.autocast_dtype` grants it on CUDA only)."""
    for module in (rnnsearch, transformer):
        monkeypatch.setattr(module, "autocast_dtype", lambda device, bf16: torch.bfloat16 if bf16 else None)


@pytest.fixture(scope="module")
def verses(tmp_path_factory):
    """Four short verse pairs of each split (every cut-off of the profiles keeps them), tokenized with the gpu
    profile's vocabulary (sized to them)."""
    corpus = bible.load(CACHE)
    short = {
        name: frame[frame.source.str.split().str.len() <= 12].head(4).reset_index(drop=True)
        for name, frame in (("train", corpus.train), ("valid", corpus.valid), ("test", corpus.test))
    }
    return rnnsearch.prepare(
        ParallelCorpus(**short, provenance={}), rnnsearch.PROFILES["gpu"], "bpe", tmp_path_factory.mktemp("data")
    )


def finite(history: list[dict]) -> bool:
    return bool(history) and all(math.isfinite(value) for row in history for value in row.values())


def test_the_translation_profiles_ask_for_bf16_so_that_it_is_exercised_here():
    assert rnnsearch.PROFILES["gpu"].bf16 and transformer.PROFILES["gpu"].bf16


def test_rnnsearch_gpu_profile(verses, cpu_bf16):
    scale = rnnsearch.PROFILES["gpu"]
    plan = rnnsearch.plan(scale, list(scale.seeds), steps=STEPS)
    assert len(plan) == 4 * len(scale.seeds) and len({(s.label, s.seed) for s in plan}) == len(plan)
    for spec in [spec for spec in plan if spec.seed == scale.seeds[0] and spec.cutoff == scale.long]:  # each model
        stored = spec.train(verses, CPU)
        assert finite(stored["history"]) and stored["history"][-1]["step"] == STEPS
        assert len(stored["outputs"]["hypotheses"]) == len(verses.text["test"])
        assert stored["parameters"] > 10_000_000  # embeddings of 620, GRUs of 1000: the paper's sizes


def test_transformer_gpu_profile(verses, cpu_bf16):
    scale = dataclasses.replace(transformer.PROFILES["gpu"], ablation_steps=STEPS, eval_every=STEPS)
    plan = transformer.plan(scale, rnnsearch.PROFILES["gpu"].long, list(scale.seeds), steps=STEPS)
    first_seed = [spec for spec in plan if spec.seed == scale.seeds[0]]
    table3_base = [spec for spec in plan if spec.variant.name == "base" and spec.cutoff == scale.short]
    assert len(first_seed) * len(scale.seeds) + scale.base_seeds - len(scale.seeds) == len(plan)
    assert len(table3_base) == max(scale.base_seeds, len(scale.seeds))
    for spec in first_seed:
        stored = spec.train(verses, CPU)
        assert finite(stored["history"]), spec.label
        if spec.test_beam:
            assert len(stored["outputs"]["hypotheses"]) == len(verses.text["test"])


def test_han_gpu_profile():
    scale = dataclasses.replace(han.PROFILES["gpu"], limit=20, word2vec_epochs=1)
    corpus = han.prepare(fine_foods.load(CACHE), scale)
    plan = han.plan(scale, list(scale.seeds), epochs=1, learning_rate=scale.learning_rates[0])
    assert {spec.seed for spec in plan} == set(range(10))
    # every model once (from word2vec; random embeddings change only the first weights, not a shape)
    for spec in [spec for spec in plan if spec.seed == 0 and spec.embedding == "word2vec"]:
        spec = dataclasses.replace(spec, batch_size=-(-len(corpus.ids["train"]) // STEPS))  # two updates an epoch
        stored = spec.train(corpus, CPU)
        assert finite(stored["history"]) and len(stored["outputs"]["predictions"]) == len(corpus.ids["test"])


def test_show_attend_tell_gpu_profile(tmp_path):
    scale = dataclasses.replace(show_attend_tell.PROFILES["gpu"], train_scenes=64, test_scenes=8, pretrain_steps=STEPS)
    [encoder] = runs.run_all(
        [show_attend_tell.encoder_spec(scale)], fashion_mnist.load(CACHE), device=CPU, workers=1, models_dir=tmp_path
    )
    data = show_attend_tell.annotated(show_attend_tell.prepare(CACHE, scale), encoder, CPU)
    plan = show_attend_tell.plan(scale, list(scale.seeds), steps=STEPS)
    for spec in [spec for spec in plan if spec.seed == scale.seeds[0]]:
        stored = spec.train(data, CPU)
        decodings = stored["outputs"]["decodings"].values()
        assert finite(stored["history"]) and all(len(d["hypotheses"]) == len(data.test) for d in decodings), spec.label


def test_fast_weights_gpu_profile():
    scale = dataclasses.replace(fast_weights.PROFILES["gpu"], valid_size=512, test_size=512)
    plan = fast_weights.plan(scale, list(scale.seeds), steps=STEPS)
    assert {spec.seed for spec in plan} == {0, 1, 2}
    data = associative_retrieval.make_splits()
    for spec in [spec for spec in plan if spec.seed == 0]:
        stored = spec.train(data, CPU)
        assert 0 <= stored["outputs"]["test_error"] <= 1, spec.label
        assert stored["outputs"]["diverged"] != finite(stored["history"])  # the ablation without layer norm may
