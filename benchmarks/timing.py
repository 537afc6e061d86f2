"""Timing for the benchmarks: medians over repeated passes, each after a warm-up pass."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from attnmem_core.timing import by_turns


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def median_rate(work: Callable[[], object], amount: float, repeats: int) -> float:
    """amount / seconds of one pass of `work`, the median of `repeats` passes after a warm-up pass."""
    work()
    return statistics.median(amount / timed(work) for _ in range(repeats))


def alternating_medians(works: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per work, the works run in turn `repeats` times (after a warm-up each), so that a machine
    whose speed drifts slows them alike."""
    return {name: statistics.median(t) for name, t in by_turns(works, repeats).items()}
