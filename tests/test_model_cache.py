"""The trained-model cache: train once per configuration and core source, reuse after, refuse a broken file."""
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
    assert not list(tmp_path.glob(".*"))   # no temporary file left behind


def test_key_covers_the_core_source(tmp_path):
    core = tmp_path / "core"
    core.mkdir()
    (core / "a.py").write_text("x = 1\n")
    before = model_cache.core_digest(core)
    (core / "a.py").write_text("x = 2\n")
    assert model_cache.core_digest(core) != before


def test_a_broken_file_names_itself(tmp_path):
    path = model_cache.path_for(tmp_path, "m", {"seed": 0})
    path.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="delete it"):
        model_cache.load_or_train(tmp_path, "m", {"seed": 0}, dict)
