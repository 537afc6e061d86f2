"""run_parallel in this process and on its embedded local cluster; scheduler addresses and worker checks.

The tests against a separate scheduler with its own workers are in test_dask_cluster.py.
"""

import os
import re
import socket

import pytest
import torch

from attnmem_core.config import SCHEDULER_ENV, check_scheduler
from attnmem_core.parallel import check_identities, close_local_cluster, identity, local_client, run_parallel


def parse_in_a_worker(run: str, base: int) -> dict:
    return {
        "number": int(run, base),
        "threads": torch.get_num_threads(),
        "process": os.getpid(),
        "malloc trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
    }


def test_local_cluster_keeps_the_runs_order_with_one_torch_thread_per_worker_process_and_a_gpu_slot_each():
    results = run_parallel(
        parse_in_a_worker, ["11", "7", "100", "5"], workers=2, context={"base": 8}, cost=len, gpu=True
    )
    assert [result["number"] for result in results] == [9, 7, 64, 5]
    assert {result["threads"] for result in results} == {1}
    assert os.getpid() not in {result["process"] for result in results}
    # glibc's adaptive allocator kept (Dask's nanny would set a trim threshold that slows training 1.8 times)
    assert {result["malloc trim"] for result in results} == {os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def test_the_local_cluster_is_kept_between_calls_and_started_anew_for_an_edited_library(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    client = local_client(2)
    workers = set(client.run(os.getpid).values())
    results = run_parallel(parse_in_a_worker, ["1", "2", "3"], workers=2, context={"base": 10})
    assert {result["process"] for result in results} <= workers
    assert local_client(2) is client
    monkeypatch.setattr("attnmem_core.parallel.core_digest", lambda: "an edited library")
    edited = local_client(2)
    assert client.status == "closed"
    assert not workers & set(edited.run(os.getpid).values())  # new workers, which import the edited source
    assert local_client(3) is not edited  # another worker count, another cluster


def fail_on_three(run: int) -> int:
    if run == 3:
        raise ValueError("run 3 failed")
    return run


def test_the_local_cluster_takes_no_fixed_port_and_serves_http_on_this_machine_only(recwarn):
    close_local_cluster()
    with socket.socket() as holder:  # 8787 held, as by another notebook's cluster (or held already)
        try:
            holder.bind(("127.0.0.1", 8787))
            holder.listen()
        except OSError:
            pass
        client = local_client(1)
        bound = client.run_on_scheduler(
            lambda dask_scheduler: [s.getsockname() for s in dask_scheduler.http_server._sockets.values()]
        )
    assert bound and all(host == "127.0.0.1" and port != 8787 for host, port in bound)
    assert not [w for w in recwarn if "already in use" in str(w.message)]


def test_a_failed_call_stops_the_kept_cluster_so_that_no_run_of_it_goes_on(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    client = local_client(2)
    with pytest.raises(ValueError, match="run 3 failed"):
        run_parallel(fail_on_three, [1, 2, 3, 4, 5, 6], workers=2)
    assert client.status == "closed"  # an interrupt takes the same way out
    assert run_parallel(fail_on_three, [1, 2], workers=2) == [1, 2]


def test_one_worker_runs_in_process_single_threaded_and_restores_threads(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    threads = torch.get_num_threads()
    assert run_parallel(lambda run: (run, torch.get_num_threads()), [1, 2], workers=1) == [(1, 1), (2, 1)]
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("workers", [1, 2])
def test_no_runs_print_nothing_and_start_no_cluster(workers, monkeypatch, capsys):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setattr("attnmem_core.parallel.connect", lambda *a, **k: pytest.fail("a cluster was started"))
    assert run_parallel(int, [], workers=workers) == []
    assert capsys.readouterr().out == ""  # a cached chapter showed an empty progress bar, "runs: 0it"
    monkeypatch.setenv(SCHEDULER_ENV, "head-node")
    with pytest.raises(ValueError, match=f"{SCHEDULER_ENV}='head-node'"):
        run_parallel(int, [], workers=workers)


@pytest.mark.parametrize(
    "given, address",
    [
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("tls://head-node.cluster:8786", "tls://head-node.cluster:8786"),
        ("tcp://[::1]:8786", "tcp://[::1]:8786"),
        (None, None),
        ("", None),
    ],
)
def test_scheduler_addresses_get_their_scheme(given, address):
    assert check_scheduler(given) == address


@pytest.mark.parametrize(
    "bad", ["127.0.0.1", "tcp://127.0.0.1:0", "tcp://head:65536", "udp://head:8786", "a b:1", 8786]
)
def test_malformed_addresses_are_refused_naming_the_form(bad):
    with pytest.raises(ValueError, match=re.escape(f"scheduler={bad!r} is not a Dask scheduler address; give tcp://")):
        check_scheduler(bad)


def test_the_dashboard_address_is_not_taken_for_the_scheduler():
    with pytest.raises(ValueError, match="looks like the Dask dashboard's web address; give tcp://HOST:PORT"):
        check_scheduler("http://127.0.0.1:8787/status")


def test_a_malformed_address_in_the_environment_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "head-node")
    with pytest.raises(ValueError, match=f"{SCHEDULER_ENV}='head-node' is not a Dask scheduler address"):
        run_parallel(int, ["1"], workers=1)


def test_a_worker_without_the_project_is_named_with_the_fix():
    found = {"tcp://10.0.0.2:4000": identity(), "tcp://10.0.0.3:4000": Exception("No module named 'attnmem_core'")}
    message = (
        "worker tcp://10.0.0.3:4000 of tcp://head:8786 cannot load attnmem_core (No module named 'attnmem_core'); "
        "install this project in the workers' environment (pip install -e .)"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        check_identities("tcp://head:8786", found, identity())


def test_a_worker_with_another_library_source_is_named_with_both_digests():
    ours = identity()
    found = {"tcp://10.0.0.2:4000": {**ours, "attnmem_core source": "0" * 16}}
    message = (
        f"worker tcp://10.0.0.2:4000 of tcp://head:8786 has attnmem_core source {'0' * 16}, "
        f"this client {ours['attnmem_core source']}; give every worker the client's attnmem_core source"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        check_identities("tcp://head:8786", found, ours)
    check_identities("tcp://head:8786", {"tcp://10.0.0.2:4000": ours}, ours)
