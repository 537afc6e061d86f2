"""Notebook parameters, checked before any work starts.

Every replication notebook takes `profile`, `seeds`, `device`, `scheduler`, `data_dir` and
`results_dir` from papermill. A bad value must stop the notebook at once with a message
that names the allowed values, so that nothing is trained and nothing is written. That
includes a misspelt parameter name (papermill only warns of `-p step 100` and the run goes
on with the default) and a folder that cannot be written (found after the training, when
the first figure is saved, it would waste the run).
"""

from __future__ import annotations

import ast
import difflib
import numbers
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

PROFILES = ("smoke", "cpu", "gpu")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
SCHEDULER_ENV = "ATTNMEM_SCHEDULER"  # the scheduler address when neither the runner nor the notebook names one
SCHEDULER_ADDRESS = re.compile(r"(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")


def check_choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_profile(profile) -> str:
    return check_choice("profile", profile, PROFILES)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(name: str, value, *, minimum: int = 0) -> int | None:
    """A step or item count: None (the profile decides) or a whole number >= minimum."""
    if value is None:
        return None
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name}={value!r} must be a whole number >= {minimum}, or None for the profile's default")
    return int(value)


def check_seeds(seeds, default: list[int]) -> list[int]:
    """Seeds as papermill passes them: None (the profile's), an int, a list, or '0,1,2'."""
    if seeds is None:
        return list(default)
    if isinstance(seeds, str):
        parts = [p.strip() for p in seeds.split(",") if p.strip()]
        if not parts or not all(p.lstrip("-").isdigit() for p in parts):
            raise ValueError(f"seeds={seeds!r}: give whole numbers, e.g. 0 or [0, 1, 2] or '0,1,2'")
        seeds = [int(p) for p in parts]
    elif _is_int(seeds):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        raise ValueError(f"seeds={seeds!r}: give non-negative whole numbers, e.g. 0 or [0, 1, 2] or '0,1,2'")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} repeats a seed; each run needs its own")
    return [int(s) for s in seeds]


def check_device(device) -> str:
    """'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    ok = device in ("auto", "cpu", "cuda", "mps") or (
        isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit()
    )
    if not ok:
        raise ValueError(f"device={device!r} is not allowed; choose one of {', '.join(map(repr, DEVICES))}")
    return device


def check_scheduler(scheduler, name: str = "scheduler") -> str | None:
    """A Dask scheduler address, 'tcp://HOST:PORT' (the scheme may be left out), or None for a local cluster.

    Returns the address with its scheme, as dask.distributed connects to it.
    """
    if scheduler is None or scheduler == "":
        return None
    fix = "give tcp://HOST:PORT as `dask scheduler` prints it (e.g. tcp://127.0.0.1:8786), or None for a local cluster"
    if isinstance(scheduler, str) and scheduler.startswith(("http://", "https://")):
        raise ValueError(f"{name}={scheduler!r} looks like the Dask dashboard's web address; {fix}")
    match = SCHEDULER_ADDRESS.fullmatch(scheduler) if isinstance(scheduler, str) else None
    if match is None or not 0 < int(match[3]) < 65536:
        raise ValueError(f"{name}={scheduler!r} is not a Dask scheduler address; {fix}")
    return scheduler if match[1] else f"tcp://{scheduler}"


def check_parameter_names(cells: Sequence[str]) -> None:
    """Refuse a parameter that papermill injected but the notebook does not declare.

    `cells`: the sources of the cells run so far, IPython's `In` (call it from the cell after the parameters).
    papermill's injected cell starts with "# Parameters"; the notebook's own parameters cell is the one before it.
    """
    injected = [i for i, source in enumerate(cells) if source.startswith("# Parameters\n")]
    if not injected:
        return  # run by hand: nothing injected
    declared, given = _assigned(cells[injected[-1] - 1]), _assigned(cells[injected[-1]])
    for name in given:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{name!r} is not a parameter of this notebook{hint}; it takes {', '.join(declared)}")


def _assigned(source: str) -> list[str]:
    """The names a cell assigns at its top level, in order."""
    names = []
    for statement in ast.parse(source).body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        names += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in names]
    return names


def check_folder(name: str, value) -> str:
    """A folder the run writes to (`data_dir`, `results_dir`), write-tested before any work.

    The folder, or the nearest folder above it that exists (where it will be made), must take a file; nothing is
    left behind, so a bad value of another parameter still stops the run with nothing written.
    """
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(f"{name}={value!r} must be the path of a folder")
    path = Path(value)
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        raise ValueError(
            f"{name}={value!r} is not a folder ({existing} is a file); pass a folder (it is made if missing)"
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".write-test."):
            pass
    except OSError as error:
        raise ValueError(
            f"{name}={value!r} cannot be written ({error.strerror}: {existing}); pass a folder you can write to"
        ) from None
    return value
