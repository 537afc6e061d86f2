"""Fault injection: damaged caches of every kind, interrupted and concurrent runs, hostile corpora.

Each fault must end in an error that names the fix, or in correct results; never in a silent misread. The suite
runs alone with `pytest -m faults`.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from attnmem_core import model_cache
from attnmem_core.data import bible, scenes, subwords, user_corpus
from attnmem_core.data.user_corpus import CorpusError
from attnmem_core.runner import REPO

pytestmark = pytest.mark.faults

SENTENCES = [
    f"{a} {b} la casa del {c}."
    for a in ("Dijo", "Vio", "Hizo")
    for b in ("el rey", "Dios", "un hombre")
    for c in ("pueblo", "padre", "profeta", "camino")
]


# ---- damaged caches -------------------------------------------------------------------------


def trained_model(folder: Path):
    def load():
        return model_cache.load_or_train(folder, "m", {"seed": 0}, lambda: {"w": torch.linspace(0, 1, 4096)})

    return model_cache.path_for(folder, "m", {"seed": 0}), load


def subword_model(folder: Path):
    path = folder / "es.model"
    return path, lambda: subwords.train_or_load("bpe", SENTENCES, 60, path, "es")


def shortlist(folder: Path):
    path = folder / "es.json"
    return path, lambda: subwords.train_or_load("word", SENTENCES, 20, path, "es")


def verse_cache(folder: Path):
    path = folder / "bible.tsv.gz"
    frame = pd.DataFrame(
        [("Gen", 1, v, f"Verse {v} of the beginning.", f"Versículo {v} del principio.") for v in range(1, 200)],
        columns=bible.COLUMNS,
    )
    bible.write_cache(frame, {"pairs": len(frame)}, path)
    return path, lambda: bible.read_cache(path)


def scene_cache(folder: Path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10
    settings = scenes.SceneSettings()
    header = {"dataset": "fault test", "split": "test", "count": 20, "seed": 0, "settings": settings.as_dict()}
    path = folder / "scenes.npz"
    scenes.write_scenes(scenes.compose(images, labels, 20, settings), header, path)
    return path, lambda: scenes.read_scenes(path, header)


CACHES = {
    "trained model": trained_model,
    "BPE model": subword_model,
    "shortlist": shortlist,
    "verse cache": verse_cache,
    "scene cache": scene_cache,
}


def flip_a_bit(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]


DAMAGES = {
    "truncated": lambda data: data[: len(data) // 2],
    "emptied": lambda data: b"",
    "one bit flipped": flip_a_bit,
    "zeroed tail": lambda data: data[:-64] + bytes(64),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("cache", CACHES)
def test_a_damaged_cache_file_is_an_error_that_names_the_file_to_delete(tmp_path, cache, damage):
    path, load = CACHES[cache](tmp_path)
    load()  # made, or trained, and saved
    load()  # read back intact
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    with pytest.raises(Exception, match="delete") as error:
        load()
    assert path.name in str(error.value)


# ---- interrupted and concurrent runs --------------------------------------------------------

NOTEBOOK_BODY = """import os, pathlib, random, time
from attnmem_core.results import write_json_atomic
random.seed(profile)
numbers = [random.random() for _ in range(5)]
if "FAULT_STARTED" in os.environ:   # the test's signal that the chapter is under way
    pathlib.Path(os.environ["FAULT_STARTED"]).touch()
time.sleep(float(os.environ.get("FAULT_SLEEP", 0)))
write_json_atomic(pathlib.Path(results_dir) / f"r-{profile}.json", {"numbers": numbers})
"""
RUNNER = """import sys
from pathlib import Path
from attnmem_core.runner import run_notebook
notebook, out, results, profile = sys.argv[1:]
print(run_notebook(Path(notebook), Path(out), {"profile": profile, "results_dir": results}), flush=True)
"""


@pytest.fixture
def notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "cpu"\nresults_dir = "results"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(NOTEBOOK_BODY)]
    path = tmp_path / "01_fault.ipynb"
    nbformat.write(nb, path)
    return path


def start_runner(notebook: Path, out: Path, results: Path, profile: str, **env) -> subprocess.Popen:
    """The runner's run_notebook in a process (and session) of its own, as `python -m attnmem_core.runner` runs it."""
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(notebook), str(out), str(results), profile],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_plain_signals,
    )


def _plain_signals() -> None:
    """SIGINT as a shell would hand it to a fresh runner: an earlier test of this process may have left it ignored
    or blocked (both pass through exec), and the runner would then sleep through the test's interrupt."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(runner: subprocess.Popen) -> str:
    stdout, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 0, stderr[-3000:]
    return stdout.strip()


def wait_for(path: Path, runner: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert runner.poll() is None, runner.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the notebook never started"
        time.sleep(0.1)


def expected_results(profile: str) -> dict:
    """What the notebook writes when nothing goes wrong."""
    random.seed(profile)
    return {"numbers": [random.random() for _ in range(5)]}


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_runner_interrupted_during_a_chapter_leaves_nothing_that_looks_done(tmp_path, notebook, signal_number):
    out, results, started = tmp_path / "out", tmp_path / "results", tmp_path / "started"
    runner = start_runner(notebook, out, results, "smoke", FAULT_STARTED=str(started), FAULT_SLEEP="120")
    try:
        wait_for(started, runner)
        os.kill(runner.pid, signal_number)
        _, stderr = runner.communicate(timeout=180)  # a clean-clone run beside other work once took over 60 s
        assert runner.returncode != 0, stderr[-5000:]
    finally:
        try:
            os.killpg(runner.pid, signal.SIGKILL)  # the kernel it started, should it outlive it
        except ProcessLookupError:
            pass
    assert not (out / notebook.name).exists() and not (out / "01_fault.key").exists()
    assert not (results / "r-smoke.json").exists()
    if signal_number == signal.SIGINT:
        assert list(out.iterdir()) == []  # the scratch copy is removed too
    assert finish(start_runner(notebook, out, results, "smoke")) == "executed"
    assert json.loads((results / "r-smoke.json").read_text()) == expected_results("smoke")
    assert finish(start_runner(notebook, out, results, "smoke")) == "cached"


def test_two_runners_at_once_on_one_folder_both_finish_and_neither_is_misread(tmp_path, notebook):
    # before: both executed into one fixed scratch name, so one of them failed or published the other's notebook
    out, results = tmp_path / "out", tmp_path / "results"
    runners = {profile: start_runner(notebook, out, results, profile, FAULT_SLEEP="3") for profile in ("smoke", "cpu")}
    assert {profile: finish(runner) for profile, runner in runners.items()} == {"smoke": "executed", "cpu": "executed"}
    assert sorted(p.name for p in results.iterdir()) == ["r-cpu.json", "r-smoke.json"]
    assert sorted(p.name for p in out.iterdir()) == ["01_fault.ipynb", "01_fault.key", "downloads"]
    assert all(json.loads((results / f"r-{p}.json").read_text()) == expected_results(p) for p in ("smoke", "cpu"))
    # one executed copy and one stamp per folder: a runner reuses them only if both are its own
    finish(start_runner(notebook, out, results, "smoke"))
    assert finish(start_runner(notebook, out, results, "cpu")) == "executed"
    assert finish(start_runner(notebook, out, results, "cpu")) == "cached"
    assert 'profile = "cpu"' in nbformat.read(out / notebook.name, as_version=4).cells[1].source


def test_a_damaged_runner_stamp_means_the_chapter_runs_again(tmp_path, notebook):
    out, results = tmp_path / "out", tmp_path / "results"
    assert finish(start_runner(notebook, out, results, "smoke")) == "executed"
    stamp = out / "01_fault.key"
    stamp.write_text(stamp.read_text()[:40])
    assert finish(start_runner(notebook, out, results, "smoke")) == "executed"
    assert json.loads(stamp.read_text())["files"]


# ---- hostile corpora ------------------------------------------------------------------------

HOSTILE = {
    "a file separator in a line": ("Two\x1cmore.", "line 2, column 4, holds the control character U\\+001C"),
    "a line separator in a line": ("Two\u2028more.", "line 2, column 4, holds the control character U\\+2028"),
    "a NUL byte": ("Two\x00.", "line 2, column 4, holds the control character U\\+0000"),
    "invalid UTF-8": (b"Two \xff\xfe.", "is not UTF-8 text \\(byte 9\\); convert it"),
    "a huge line": (" ".join(["word"] * 200_000), "line 2, has a side of 999,999 characters"),
    "an extra line": ("Two.\nThree.", "has 3 lines but .* has 2"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_corpus_is_refused_naming_the_file_and_line(tmp_path, case):
    line, message = HOSTILE[case]
    source = tmp_path / "test.en"
    source.write_bytes(b"One.\n" + (line if isinstance(line, bytes) else line.encode()) + b"\n")
    (tmp_path / "test.es").write_text("Uno.\nDos.\n", encoding="utf-8")
    (tmp_path / "train.tsv").write_text("Go.\tVe.\n", encoding="utf-8")
    files = {
        "train": str(tmp_path / "train.tsv"),
        "valid": str(tmp_path / "train.tsv"),
        "test": [str(source), str(tmp_path / "test.es")],
    }
    started = time.perf_counter()
    with pytest.raises(CorpusError, match=f"{source}.*{message}"):
        user_corpus.load(files)
    assert time.perf_counter() - started < 5
