"""Results files: metrics and claims, with the provenance a reader needs to trust them.

Every run writes one JSON: what was measured, the claims with their verdicts, and where
the numbers came from — git commit and dirty flag (any change, untracked files included:
a new module changes what runs), the name and version of every installed distribution
(the tokenizers, the BLEU scorer and the book toolchain change numbers and pages as much as
torch does), the CPU and the vector instructions torch's kernels use on it, device, parameters,
seeds, start and end times, wall seconds. A parameter that is a path inside the repository is
recorded relative to it, so a shared results file does not carry the builder's home. The file
is written atomically (a temporary file in the same folder, then a rename), so a crash never
leaves half a result behind.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

from attnmem_core.atomic import atomic_write

REPO_ROOT = Path(__file__).resolve().parent.parent
CPUINFO = Path("/proc/cpuinfo")


def git_state(root: Path = REPO_ROOT) -> dict:
    """The commit and whether the working tree differs from it, untracked files included; None outside a checkout."""

    def git(*args):
        run = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
        return run.stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str]:
    """{name: version} of every installed distribution, sorted by name; the first on sys.path where two have one
    name, as Python imports it."""
    versions = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name and name not in versions:
            versions[name] = distribution.version
    return dict(sorted(versions.items(), key=lambda item: item[0].lower()))


def processor() -> str:
    """The CPU's model name and the vector instructions torch's kernels chose on it, e.g. "Intel(R) Xeon(R)
    Processor, AVX512". A seed's numbers repeat run after run on one machine, but kernels for other instructions
    round differently, and a few roundings change a training's path."""
    name = platform.processor() or platform.machine()
    if CPUINFO.exists():  # Linux, where platform.processor() names the architecture only
        fields = (line.partition(":") for line in CPUINFO.read_text().splitlines())
        name = next((value.strip() for key, _, value in fields if key.strip() == "model name"), name)
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}"


def repository_relative(value, root: Path = REPO_ROOT):
    """`value` with every absolute path string inside `root` made relative to it, through dicts and lists."""
    if isinstance(value, dict):
        return {key: repository_relative(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [repository_relative(item, root) for item in value]
    if isinstance(value, str) and os.path.isabs(value):  # normalised, links kept: data/cache may link elsewhere
        path = Path(os.path.normpath(value))
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else value
    return value


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Run:
    """One notebook run: started when made, written once by `write`.

    >>> run = Run("06_fast_weights", params={...}, seeds=[0], device="cpu (2 threads)")
    >>> ...train...
    >>> run.write(results_dir, metrics={...}, claims=[...])
    """

    def __init__(self, name: str, *, params: dict, seeds: list[int], device: str):
        self.name, self.params, self.seeds, self.device = name, params, seeds, device
        self.started, self._clock = now(), time.perf_counter()
        self.git = git_state()

    def card(self) -> dict:
        """What the book shows above each chapter's results."""
        return {
            "profile": self.params.get("profile"),
            "seeds": self.seeds,
            "device": self.device,
            "date": self.started,
            "commit": (self.git["commit"] or "not a git checkout")[:12] + (" (dirty)" if self.git["dirty"] else ""),
        }

    def record(self, metrics: dict, claims: list) -> dict:
        return {
            "name": self.name,
            "metrics": metrics,
            "claims": [c.to_dict() for c in claims],
            "provenance": {
                **self.git,
                "packages": package_versions(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu": processor(),
                "device": self.device,
                "params": repository_relative(self.params),
                "seeds": self.seeds,
                "started": self.started,
                "ended": now(),
                "wall_seconds": round(time.perf_counter() - self._clock, 2),
            },
        }

    def write(self, results_dir: str | Path, *, metrics: dict, claims: list) -> Path:
        path = Path(results_dir) / f"{self.name}-{self.params.get('profile')}.json"
        write_json_atomic(path, self.record(metrics, claims))
        return path


def write_json_atomic(path: Path, data) -> None:
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2, allow_nan=True)
