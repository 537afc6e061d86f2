import json
import subprocess
from importlib import metadata

import pytest
import torch

from attnmem_core import intervals, results
from attnmem_core.claims import Claim, Condition, of_model
from attnmem_core.convergence import Convergence
from attnmem_core.results import (
    REPO_ROOT,
    Run,
    git_state,
    package_versions,
    processor,
    repository_relative,
    write_json_atomic,
)


def test_results_file_carries_provenance_and_computed_verdicts(tmp_path):
    run = Run("06_test", params={"profile": "smoke", "steps": 3}, seeds=[0, 1], device="cpu (2 threads)")
    claim = Claim("fw-r20", "FW solves R=20", "1.81%", primary=Condition("fw error", "<", 5.0, "%"))
    error = of_model("fw error", intervals.mean([1.0, 1.2]), "%", "fw", "lower")
    converged = Convergence(True, "valid_error did not improve over the last half of its 30,000 updates", 30_000, 0.0)
    judgment = claim.judge([error], {"fw": [converged, converged]})
    path = run.write(tmp_path, metrics={"fw": [0.01, 0.02]}, claims=[judgment])
    assert path.name == "06_test-smoke.json"
    record = json.loads(path.read_text())
    prov = record["provenance"]
    assert record["claims"][0]["verdict"] == "reproduced" and record["claims"][0]["primary"]["quantity"] == "fw error"
    assert len(prov["commit"]) == 40 and isinstance(prov["dirty"], bool)
    assert prov["packages"]["torch"] and prov["seeds"] == [0, 1] and prov["params"]["steps"] == 3
    assert prov["device"] == "cpu (2 threads)" and prov["wall_seconds"] >= 0 and prov["ended"] >= prov["started"]
    assert prov["cpu"] == processor()


def test_the_cpu_is_named_with_the_instructions_torch_uses_on_it(monkeypatch, tmp_path):
    # the same seeds gave other numbers on another machine: the provenance must say which CPU made them
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t: fpu\n"
    )
    monkeypatch.setattr(results, "CPUINFO", cpuinfo)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert processor() == "Intel(R) Xeon(R) Gold 6338, AVX2"
    monkeypatch.setattr(results, "CPUINFO", tmp_path / "absent")  # macOS, Windows: the platform module's name
    monkeypatch.setattr(results.platform, "processor", lambda: "arm")
    assert processor() == "arm, AVX2"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "r.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_card_shows_profile_seeds_device_date_commit():
    card = Run("x", params={"profile": "cpu"}, seeds=[0], device="cpu").card()
    assert set(card) == {"profile", "seeds", "device", "date", "commit"} and card["profile"] == "cpu"


def test_results_file_is_readable_by_others(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "r.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_provenance_lists_every_installed_distribution():
    # before: a fixed list of 13 left out sentencepiece, sacremoses, pysword, torchvision, sacrebleu, jupyter-book
    versions = package_versions()
    assert len(versions) == len({d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"]})
    for name in ("sentencepiece", "sacremoses", "pysword", "torchvision", "sacrebleu", "jupyter-book", "Sphinx"):
        assert versions[name] == metadata.version(name)
    assert list(versions) == sorted(versions, key=str.lower)


def test_an_untracked_file_makes_the_checkout_dirty(tmp_path):
    # before: a new untracked .py file in the library gave dirty: false (while the model-cache key saw it)
    def git(*args):
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "core.py").write_text("x = 1\n")
    git("add", "core.py")
    git("commit", "-qm", "one")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "new.py").write_text("y = 2\n")
    assert git_state(tmp_path)["dirty"] is True


def test_paths_inside_the_repository_are_recorded_relative_to_it(tmp_path):
    params = {
        "results_dir": str(REPO_ROOT / "results"),
        "data_dir": "/elsewhere/cache",
        "scale": {"x": [str(REPO_ROOT)]},
    }
    assert repository_relative(params) == {
        "results_dir": "results",
        "data_dir": "/elsewhere/cache",
        "scale": {"x": ["."]},
    }
    run = Run("06_test", params={"profile": "smoke", **params}, seeds=[0], device="cpu")
    recorded = json.loads(run.write(tmp_path, metrics={}, claims=[]).read_text())["provenance"]["params"]
    assert recorded["results_dir"] == "results" and str(REPO_ROOT) not in json.dumps(recorded)
