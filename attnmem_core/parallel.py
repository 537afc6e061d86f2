"""Independent trainings side by side: one process per CPU core, one thread each.

The replications train many small models (seeds × variants). Such nets are bound by
per-operation overhead, not arithmetic, so a second thread in one process mostly waits
while two single-threaded processes do twice the work. Runs are submitted dearest first
(when a cost is given), so that no long run starts last and leaves a core idle.
"""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import sys
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

_context: dict = {}  # each worker's copy of what every run shares, sent once when it starts


def _start_worker(context: dict) -> None:
    torch.set_num_threads(1)
    _context.update(context)


def _call(fn: Callable, run):
    return fn(run, **_context)


def run_parallel(fn: Callable, runs: Sequence, *, workers: int, context: dict | None = None,
                 cost: Callable | None = None, desc: str = "runs") -> list:
    """[fn(run, **context) for run in runs], in `workers` processes; results keep the runs' order.

    `fn` must be importable (a module-level function, or a functools.partial of one):
    workers are spawned, which is safe with CUDA and inside Jupyter kernels.
    """
    context = context or {}
    bar = tqdm(total=len(runs), desc=desc, file=sys.stdout, ncols=100)
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results = []
            for run in runs:
                results.append(fn(run, **context))
                bar.update()
            return results
        finally:
            torch.set_num_threads(threads)
            bar.close()
    order = sorted(range(len(runs)), key=lambda i: -cost(runs[i])) if cost else range(len(runs))
    spawn = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker,
                                     initargs=(context,)) as pool:
        jobs = {i: pool.submit(_call, fn, runs[i]) for i in order}
        for _ in futures.as_completed(jobs.values()):
            bar.update()
        bar.close()
        return [jobs[i].result() for i in range(len(runs))]
