"""The trained-model cache: train once per configuration and core source, reuse after, refuse a broken file."""

import hashlib
import struct
import subprocess
import sys

import pytest
import torch

from attnmem_core import model_cache


def test_trains_once_then_reuses(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return {"state_dict": {"w": torch.ones(2)}, "history": [{"step": 1, "loss": 0.5}]}

    first, cached_first = model_cache.load_or_train(tmp_path, "m", {"seed": 0}, train)
    second, cached_second = model_cache.load_or_train(tmp_path, "m", {"seed": 0}, train)
    assert (cached_first, cached_second) == (False, True) and len(calls) == 1
    torch.testing.assert_close(second["state_dict"]["w"], torch.ones(2))
    assert second["history"] == first["history"] and second["config"] == {"seed": 0}
    model_cache.load_or_train(tmp_path, "m", {"seed": 1}, train)
    assert len(calls) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_key_covers_the_core_source(tmp_path):
    core = tmp_path / "core"
    core.mkdir()
    (core / "a.py").write_text("x = 1\n")
    before = model_cache.core_digest(core)
    (core / "a.py").write_text("x = 2\n")
    assert model_cache.core_digest(core) != before


def test_key_covers_what_the_training_module_imports_and_nothing_else(tmp_path):
    core = tmp_path / "attnmem_core"
    (core / "models").mkdir(parents=True)
    sources = {
        "__init__.py": "",
        "experiment.py": "from attnmem_core import training\nfrom attnmem_core.models import net\n",
        "training.py": "import torch\n",
        "other_chapter.py": "from attnmem_core import training\n",
        "models/__init__.py": "",
        "models/net.py": "from . import layers\n",
        "models/layers.py": "x = 1\n",
    }
    for name, text in sources.items():
        (core / name).write_text(text)
    reached = {str(f.relative_to(core)) for f in model_cache.imported_files("attnmem_core.experiment", core)}
    assert reached == set(sources) - {"other_chapter.py"}
    before = model_cache.core_digest(core, "attnmem_core.experiment")
    (core / "other_chapter.py").write_text("y = 2\n")
    assert model_cache.core_digest(core, "attnmem_core.experiment") == before
    (core / "models/layers.py").write_text("x = 2\n")  # reached through a relative import
    assert model_cache.core_digest(core, "attnmem_core.experiment") != before


@pytest.mark.parametrize("module", ["attnmem_core.experiments.convs2s", "attnmem_core.experiments.fast_weights"])
def test_the_key_reaches_every_module_python_loads(module):
    """Python's own import system is the reference: every core module that importing `module` loads is keyed."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; print(*(m.__file__ for m in list(sys.modules.values())"
            " if getattr(m, '__file__', None) and m.__name__.startswith('attnmem_core')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    keyed = {str(f) for f in model_cache.imported_files(module)}
    assert loaded and set(loaded) <= keyed


def test_a_broken_file_names_itself(tmp_path):
    path = model_cache.path_for(tmp_path, "m", {"seed": 0})
    path.write_bytes(b"not a model")
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(b'not a model').hexdigest()}  {path.name}\n")
    with pytest.raises(RuntimeError, match="delete it"):
        model_cache.load_or_train(tmp_path, "m", {"seed": 0}, dict)


def test_the_digest_is_sha256sum_format(tmp_path):
    model_cache.load_or_train(tmp_path, "m", {"seed": 0}, lambda: {"w": torch.ones(2)})
    path = model_cache.path_for(tmp_path, "m", {"seed": 0})
    check = subprocess.run(["sha256sum", "--check", path.name + ".sha256"], cwd=tmp_path, capture_output=True)
    assert check.returncode == 0, check.stdout


def flip_a_weight_to_inf(path):
    """One bit of the file flipped: the first 1.0 of the weight becomes inf, which torch loads without a word."""
    data = bytearray(path.read_bytes())
    one = data.index(struct.pack("<f", 1.0) * 8)
    data[one + 3] |= 0x40  # the top exponent bit: 0x3f800000 (1.0) becomes 0x7f800000 (inf)
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_weight_is_refused_naming_the_file_to_delete(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return {"state_dict": {"w": torch.ones(64)}}

    model_cache.load_or_train(tmp_path, "m", {"seed": 0}, train)
    path = model_cache.path_for(tmp_path, "m", {"seed": 0})
    flip_a_weight_to_inf(path)
    assert torch.isinf(torch.load(path, weights_only=True)["state_dict"]["w"]).any()  # before: reused as cached
    with pytest.raises(RuntimeError, match=f"{path} has sha256 .* the file is damaged; delete {path} to train again"):
        model_cache.load_or_train(tmp_path, "m", {"seed": 0}, train)
    path.unlink()
    payload, cached = model_cache.load_or_train(tmp_path, "m", {"seed": 0}, train)
    assert not cached and len(calls) == 2 and torch.equal(payload["state_dict"]["w"], torch.ones(64))


def test_a_model_file_without_its_digest_is_unfinished_and_trained_again(tmp_path):
    model_cache.load_or_train(tmp_path, "m", {"seed": 0}, lambda: {"w": torch.zeros(2)})
    path = model_cache.path_for(tmp_path, "m", {"seed": 0})
    path.with_name(path.name + ".sha256").unlink()  # killed between the two renames
    payload, cached = model_cache.load_or_train(tmp_path, "m", {"seed": 0}, lambda: {"w": torch.ones(2)})
    assert not cached and torch.equal(payload["w"], torch.ones(2))
    assert torch.equal(model_cache.load_or_train(tmp_path, "m", {"seed": 0}, dict)[0]["w"], torch.ones(2))
