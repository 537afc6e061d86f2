"""run_parallel on a real Dask cluster: a scheduler and two single-threaded workers on 127.0.0.1.

Tiny fast-weights trainings must give exactly the in-process results, in the runs' order, also
when a worker is killed mid-run; an unreachable scheduler or a worker with another torch must
stop everything before any training. The test that kills a worker comes last in this file.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from distributed import Client, get_worker

from attnmem_core import parallel, runs
from attnmem_core.config import SCHEDULER_ENV
from attnmem_core.data.associative_retrieval import make_splits
from attnmem_core.experiments import fast_weights as fw
from attnmem_core.parallel import run_parallel
from attnmem_core.runner import main as run_book

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TINY = fw.Scale(steps=20, eval_every=10, seeds=(0,), workers=2, valid_size=64, test_size=64)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*args: str) -> subprocess.Popen:
    # the workers import this checkout's attnmem_core, and this module for started_at
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.Popen(
        [str(BIN / "dask"), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def cluster():
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0")]
    try:
        # no nanny: a killed worker stays dead, as when its machine goes away
        worker = ("worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--memory-limit", "0")
        processes += [start(*worker, "--name", name) for name in ("first", "second")]
        with Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            yield SimpleNamespace(address=address, client=client, workers=processes[1:])
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trained(specs: list[fw.RunSpec], folder: Path, **where) -> list[dict]:
    """Chapter 6's runs through the run machinery, each without its wall-clock times (they differ every run)."""
    return [
        {
            "spec": r.spec,
            "outputs": r.outputs,
            "history": [{k: v for k, v in row.items() if "seconds" not in k} for row in r.history],
        }
        for r in runs.run_all(specs, make_splits(), device="cpu", workers=1, models_dir=folder, **where)
    ]


def tiny_runs(steps: int = TINY.steps) -> list[fw.RunSpec]:
    scale = fw.Scale(**{**TINY.__dict__, "steps": steps, "eval_every": steps})
    return [
        fw.spec(scale, "fw", "fw", 20, 1, lam=0.9),
        fw.spec(scale, "irnn", "irnn", 20, 0),
        fw.spec(scale, "alstm", "alstm", 20, 2),
    ]


def started_at(run, pause: float = 1.0) -> tuple:
    start = time.time()
    time.sleep(pause)
    return run, start, os.getpid()


def keys_held_by_the_worker(run, base: int) -> list[str]:
    return [str(key) for key in get_worker().data]


def leave_a_mark(run, directory: Path) -> None:
    (directory / str(run)).touch()


def test_remote_runs_equal_the_in_process_runs_in_their_order(cluster, tmp_path):
    specs = tiny_runs()
    remote = trained(specs, tmp_path / "remote", scheduler=cluster.address)
    assert remote == trained(specs, tmp_path / "here") and [r["spec"] for r in remote] == specs


def test_environment_names_the_scheduler_and_runs_go_dearest_first(cluster, monkeypatch):
    address = cluster.address
    monkeypatch.setenv(SCHEDULER_ENV, address.removeprefix("tcp://"))
    results = run_parallel(started_at, [1, 4, 2, 3], workers=1, cost=lambda run: run)
    assert [run for run, _, _ in results] == [1, 4, 2, 3]
    assert os.getpid() not in {pid for _, _, pid in results} and len({pid for _, _, pid in results}) == 2
    began = {run: start for run, start, _ in results}
    assert max(began[4], began[3]) < min(began[2], began[1])


def test_a_failing_run_raises_its_own_error_and_the_context_stays_this_calls_own(cluster):
    address = cluster.address
    with pytest.raises(ValueError, match="invalid literal for int"):
        run_parallel(int, ["7", "x"], workers=1, context={"base": 8}, scheduler=address)
    held = run_parallel(keys_held_by_the_worker, [1, 2], workers=1, context={"base": 8}, scheduler=address)
    assert all("base" not in keys and any(key.startswith("int-") for key in keys) for keys in held)


def test_unreachable_scheduler_fails_within_seconds_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=f"no Dask scheduler answered at {address} .*`dask scheduler`"):
        run_parallel(int, ["1", "2"], workers=2, scheduler=address)
    assert time.perf_counter() - start < parallel.CONNECT_TIMEOUT_S + 5


def test_a_port_that_accepts_but_never_answers_fails_within_seconds_naming_it(monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as silent:  # e.g. another program's port: the connection is made, no handshake comes back
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        start = time.perf_counter()
        with pytest.raises(ConnectionError, match=f"no Dask scheduler answered at {address} within 2 s"):
            run_parallel(int, ["1", "2"], workers=1, scheduler=address)
    assert time.perf_counter() - start < 2 + 3


def test_the_runner_checks_the_scheduler_and_hands_it_to_the_notebooks(cluster, monkeypatch):
    address = cluster.address
    monkeypatch.setenv(SCHEDULER_ENV, "")  # restored after the test, whatever the runner sets
    with pytest.raises(SystemExit) as exit:  # the scheduler is checked first, then --only, before any notebook
        run_book(["--scheduler", address.removeprefix("tcp://"), "--only", "no-such-notebook"])
    assert exit.value.code == 2 and os.environ[SCHEDULER_ENV] == address


def test_the_runner_refuses_an_unreachable_scheduler_before_any_notebook(monkeypatch, capsys):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as exit:
        run_book(["--scheduler", address])
    assert exit.value.code == 2 and f"no Dask scheduler answered at {address} within 1 s" in capsys.readouterr().err


def test_workers_with_another_torch_are_refused_before_any_run(cluster, monkeypatch, tmp_path):
    address = cluster.address
    monkeypatch.setattr(torch, "__version__", "1.0.0+cpu")  # this client's torch; the workers keep theirs
    with pytest.raises(
        RuntimeError,
        match=rf"worker tcp://127.0.0.1:\d+ of {address} has torch 2[.\d]+, "
        r"this client 1.0.0; give every worker the client's torch",
    ):
        run_parallel(leave_a_mark, [1, 2], workers=1, context={"directory": tmp_path}, scheduler=address)
    assert not any(tmp_path.iterdir())


def test_gpu_runs_need_a_worker_with_a_gpu_resource(cluster):
    address = cluster.address
    with pytest.raises(RuntimeError, match=f"no worker of {address} has a GPU resource; .* --resources GPU=1"):
        run_parallel(int, ["1", "2"], workers=1, scheduler=address, gpu=True)


def test_a_worker_killed_mid_run_has_its_runs_done_again_with_the_same_results(cluster, tmp_path):
    address, client, workers = cluster.address, cluster.client, cluster.workers
    specs = tiny_runs(steps=60)
    in_process = trained(specs, tmp_path / "here")
    victim = next(w for w, info in client.scheduler_info(n_workers=-1)["workers"].items() if info["name"] == "second")
    killed, finished = threading.Event(), threading.Event()

    def kill_the_second_worker_once_it_trains():
        while not finished.is_set():
            if client.call_stack().get(victim):
                os.killpg(workers[1].pid, signal.SIGKILL)
                return killed.set()
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_second_worker_once_it_trains, daemon=True)
    killer.start()
    try:
        remote = trained(specs, tmp_path / "remote", scheduler=address)
    finally:
        finished.set()
        killer.join()
    assert killed.is_set() and workers[1].wait(timeout=10) == -signal.SIGKILL
    assert remote == in_process
