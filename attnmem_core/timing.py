"""Timing by turns: several pieces of work, each run once per round, so that a machine whose speed drifts (another
process, a clock that throttles) slows them alike, and their ratio compares like with like."""

from __future__ import annotations

import time
from collections.abc import Callable


def by_turns(works: dict[str, Callable[[], object]], repeats: int, warmups: int = 1) -> dict[str, list[float]]:
    """Seconds of each work in each of `repeats` rounds, after `warmups` untimed rounds (a first call also pays for
    allocations and setting up kernels)."""
    for _ in range(warmups):
        for work in works.values():
            work()
    seconds = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            seconds[name].append(time.perf_counter() - start)
    return seconds
