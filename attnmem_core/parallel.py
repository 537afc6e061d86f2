"""Independent trainings side by side on Dask: a local cluster by default, or any Dask scheduler.

The replications train many small models (seeds × variants). Such nets are bound by
per-operation overhead, not arithmetic, so a second thread in one process mostly waits
while two single-threaded processes do twice the work: every run gets one torch thread.
By default the runs go to a `LocalCluster` of single-threaded worker processes on this
machine, started by the first call and kept for the next ones. Given a scheduler's address
(or $ATTNMEM_SCHEDULER) they go to that cluster instead: workers started by hand with
`dask worker`, or by dask-jobqueue on SLURM.

What all runs share (`context`, e.g. the data) goes to each worker once, not with every
run. Runs are submitted dearest first (when a cost is given), so that no long run starts
last and leaves a worker idle. Each run's result (weights, history) comes back here, so
workers need no shared file system. A worker lost mid-run has its runs done again on
another; since each run seeds itself and has one thread, the results do not change.
Before any run, every worker must import the same attnmem_core source and torch version.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import dask
import distributed.comm
import torch
from distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

from attnmem_core.config import SCHEDULER_ENV, check_scheduler
from attnmem_core.model_cache import core_digest

CONNECT_TIMEOUT_S = 5
# Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap threshold: every
# large tensor then costs an mmap and its page faults, and our trainings ran 1.8 times slower. We leave it unset.
NANNY_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_local: dict = {}  # this process's local cluster (`local_client`): its key, the cluster and its client


def run_parallel(
    fn: Callable,
    runs: Sequence,
    *,
    workers: int,
    context: dict | None = None,
    cost: Callable | None = None,
    desc: str = "runs",
    scheduler: str | None = None,
    gpu: bool = False,
) -> list:
    """[fn(run, **context) for run in runs] on Dask; results keep the runs' order.

    `scheduler`: a Dask scheduler's address; None falls back to $ATTNMEM_SCHEDULER, else to a
    local cluster of `workers` processes (`workers <= 1`: in this process, one thread).
    `gpu`: every run takes one unit of its worker's `GPU` resource (the local cluster gives
    each worker one; remote GPU workers declare theirs with `--resources GPU=1`).
    `fn` must be importable on the workers: a module-level function, or a functools.partial of one.
    """
    address = scheduler_address(scheduler)
    if not runs:  # everything cached: no cluster to start, and no empty progress bar on the page
        return []
    context = context or {}
    if address is None and workers <= 1:
        return _run_in_process(fn, runs, context, desc)
    with connect(address, workers=workers, gpu=gpu) as client:
        check_workers(client, gpu=gpu)
        return _run_on(client, fn, runs, context, cost, desc, gpu)


def scheduler_address(scheduler: str | None) -> str | None:
    """The address to use: `scheduler`, else $ATTNMEM_SCHEDULER, else None (a local cluster)."""
    if scheduler is not None:
        return check_scheduler(scheduler)
    return check_scheduler(os.environ.get(SCHEDULER_ENV), name=SCHEDULER_ENV)


@contextlib.contextmanager
def connect(address: str | None, *, workers: int = 1, gpu: bool = False) -> Iterator[Client]:
    """A client of the scheduler at `address`, or of this process's local cluster of `workers` single-threaded
    processes (`local_client`), closed if the work fails or is interrupted: its workers would go on with it."""
    if address is None:
        try:
            yield local_client(workers, gpu)
        except BaseException:
            close_local_cluster()
            raise
        return
    try:
        _shake_hands(address)
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except Exception as error:  # refused, silent, or not speaking Dask's protocol: each its own exception
        raise ConnectionError(
            f"no Dask scheduler answered at {address} within {CONNECT_TIMEOUT_S} s ({error or type(error).__name__}); "
            "start one with `dask scheduler` and give the address it prints, or leave the scheduler unset for a "
            "local cluster"
        ) from None
    with client:
        yield client


def local_client(workers: int, gpu: bool = False) -> Client:
    """A client of this process's local cluster, started on first use and kept for the calls after it.

    A start costs seconds (two workers importing torch: 4 s here, and each worker's first run ~1 s more), paid
    by every call before: chapter 3 makes three. The cluster is started anew when the worker count, the GPU
    slots or the library's source differ from its own (its workers imported the source once; an edited library
    needs new ones), and closed when this process exits.
    """
    key = (workers, gpu, core_digest())
    if _local.get("key") != key:
        close_local_cluster()
        # no memory limit, as the process pool before it had none; no dashboard. The scheduler's HTTP server starts
        # anyway, on the dashboard's port 8787 unless told otherwise: a free local port instead, so that a second
        # notebook's cluster (or another program) holding 8787 costs no warning
        with dask.config.set({NANNY_MALLOC_TRIM: None}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.ERROR,
                resources={"GPU": 1} if gpu else None,
            )
        _local.update(key=key, cluster=cluster, client=Client(cluster, set_as_default=False))
    return _local["client"]


def close_local_cluster() -> None:
    """Close this process's local cluster, if one runs."""
    if _local:
        _local["client"].close()
        _local["cluster"].close()
        _local.clear()


atexit.register(close_local_cluster)


def _shake_hands(address: str) -> None:
    """Dask's handshake with `address`, within the time limit: Client() alone would wait forever on a server that
    accepts the connection but is not Dask's (the dashboard's port, say)."""

    async def handshake():
        comm = await asyncio.wait_for(distributed.comm.connect(address, timeout=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S)
        await comm.close()

    with ThreadPoolExecutor(1) as thread:  # an event loop of its own: a notebook's kernel runs one in this thread
        thread.submit(asyncio.run, handshake()).result()


def identity() -> dict:
    """What must match between the client and every worker for the runs to give the same numbers."""
    return {
        "torch": torch.__version__.split("+")[0],  # a CUDA and a CPU build of one version are alike
        "attnmem_core source": core_digest()[:16],
    }


def check_workers(client: Client, *, gpu: bool = False) -> None:
    """Every worker imports attnmem_core and has this client's torch version and library source; a GPU if asked."""
    address = client.scheduler.address
    found = client.run(identity, on_error="return")
    if not found:
        raise RuntimeError(
            f"the Dask scheduler at {address} has no workers; start some with `dask worker {address} --nthreads 1`"
        )
    check_identities(address, found, identity())
    if gpu and not any(w["resources"].get("GPU") for w in client.scheduler_info(n_workers=-1)["workers"].values()):
        raise RuntimeError(
            f"GPU runs were asked for, but no worker of {address} has a GPU resource; start one "
            f"worker per GPU with `dask worker {address} --nthreads 1 --resources GPU=1`"
        )


def check_identities(address: str, found: dict, ours: dict) -> None:
    """`found`: each worker's identity(), or the exception it raised."""
    for worker, theirs in sorted(found.items()):
        if isinstance(theirs, Exception):
            raise RuntimeError(
                f"worker {worker} of {address} cannot load attnmem_core ({theirs}); install this "
                "project in the workers' environment (pip install -e .) or start them with "
                "PYTHONPATH set to its checkout"
            )
        for name, value in ours.items():
            if theirs[name] != value:
                raise RuntimeError(
                    f"worker {worker} of {address} has {name} {theirs[name]}, this client {value}; "
                    f"give every worker the client's {name} (the same numbers need it)"
                )


def _call(fn: Callable, run, context: dict):
    torch.set_num_threads(1)  # one run per worker thread; see the module docstring
    return fn(run, **context)


def _run_on(
    client: Client, fn: Callable, runs: Sequence, context: dict, cost: Callable | None, desc: str, gpu: bool
) -> list:
    # a list, not the dict: a dict's keys would become the data's keys on the scheduler, shared with other clients
    values = client.scatter(list(context.values()), broadcast=True, hash=False) if context else []
    shared = dict(zip(context, values))
    order = sorted(range(len(runs)), key=lambda i: -cost(runs[i])) if cost else range(len(runs))
    batch = uuid.uuid4().hex  # keys unique to this call; the dashboard groups them under `desc`
    jobs = {
        i: client.submit(
            _call,
            fn,
            runs[i],
            shared,
            key=f"{desc}-{batch}-{i}",
            priority=len(runs) - rank,
            resources={"GPU": 1} if gpu else None,
            pure=False,
        )
        for rank, i in enumerate(order)
    }
    with tqdm(total=len(runs), desc=desc, file=sys.stdout, ncols=100) as bar:
        for job in as_completed(jobs.values(), loop=client.loop):
            if job.status == "error":
                job.result()  # raises the run's own exception, with its traceback from the worker
            bar.update()
    return client.gather([jobs[i] for i in range(len(runs))])


def _run_in_process(fn: Callable, runs: Sequence, context: dict, desc: str) -> list:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = []
        for run in tqdm(runs, desc=desc, file=sys.stdout, ncols=100):
            results.append(fn(run, **context))
        return results
    finally:
        torch.set_num_threads(threads)
