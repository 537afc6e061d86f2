"""Data sets shipped in Debian packages, fetched and unpacked without root.

Debian carries many public data sets inside ordinary packages (R's `modeldata` as
`r-cran-modeldata`, for one). Any user may fetch a package file with
`apt-get download NAME=VERSION` (it writes the .deb into the current folder) and unpack it
with `dpkg-deb -x`; nothing is installed. The unpacked tree lives in the cache as

    <cache>/debian/<name>_<version>/<the package's own paths>

and appears there by one rename of a finished temporary folder, so an interrupted fetch
never leaves a tree that looks complete. Every file a data set reads is checked against
the sha256 pinned in data/sources.json, which is also what lets a user without apt unpack
the same .deb by hand into that folder (data/README.md says how).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class DataSourceError(RuntimeError):
    """A data source is missing, unreachable or not the pinned one; the message names the fix."""


def package_root(cache: str | Path, name: str, version: str) -> Path:
    return Path(cache) / "debian" / f"{name}_{version}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(path: Path, expected: str, refetch: Path) -> Path:
    """`path`, after checking it exists and has the pinned sha256; `refetch` is the folder to delete to start over."""
    if not path.is_file():
        raise DataSourceError(f"{path} is missing; delete {refetch} to fetch the package again")
    found = sha256(path)
    if found != expected:
        raise DataSourceError(f"{path} has sha256 {found}, but data/sources.json pins {expected}: the file is "
                              f"corrupt or from another package version; delete {refetch} to fetch it again")
    return path


def fetch(name: str, version: str, cache: str | Path, deb_sha256: str) -> Path:
    """The unpacked package NAME=VERSION in the cache, fetched with apt-get and dpkg-deb if not there yet."""
    root = package_root(cache, name, version)
    if root.is_dir():
        return root
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DataSourceError(f"`{tool}` is not on PATH, so {name}={version} cannot be fetched here; unpack "
                                  f"{name}_{version}_all.deb by hand into {root} (see data/README.md)")
    _ensure_known(name, version)
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}.") as scratch:
        scratch = Path(scratch)
        _run(["apt-get", "download", "-q", f"{name}={version}"], cwd=scratch)
        debs = list(scratch.glob(f"{name}_*.deb"))
        if len(debs) != 1:
            raise DataSourceError(f"apt-get download {name}={version} left {[d.name for d in debs]}, not one .deb")
        verified(debs[0], deb_sha256, root)
        _run(["dpkg-deb", "-x", str(debs[0]), str(scratch / "tree")])
        try:
            os.replace(scratch / "tree", root)  # the only step that makes the tree visible
        except OSError:
            if not root.is_dir():  # else another process finished the same fetch first
                raise
    return root


def _ensure_known(name: str, version: str) -> None:
    """Make sure apt can serve NAME=VERSION: update its lists first when root, else say what to run."""
    if version in _known_versions(name):
        return
    if os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])
        if version in _known_versions(name):
            return
    elif not any(_lists_dir().glob("*Packages*")):
        raise DataSourceError(f"apt's package lists are empty, so {name}={version} cannot be found; run "
                              "`sudo apt-get update` once (as root, this code runs it itself), then try again")
    known = ", ".join(_known_versions(name)) or "none"
    raise DataSourceError(f"apt offers {name} in versions: {known}, not the pinned {version}; add a Debian release "
                          f"that has it to apt's sources, or unpack {name}_{version}_all.deb by hand into "
                          "the cache (see data/README.md)")


def _known_versions(name: str) -> list[str]:
    out = subprocess.run(["apt-cache", "madison", name], capture_output=True, text=True).stdout
    return [line.split("|")[1].strip() for line in out.splitlines() if line.count("|") >= 2]


def _lists_dir() -> Path:
    # apt-config honours APT_CONFIG and -o overrides, unlike a hard-coded /var/lib/apt/lists
    out = subprocess.run(["apt-config", "shell", "LISTS", "Dir::State::lists/d"], capture_output=True, text=True).stdout
    return Path(out.strip().removeprefix("LISTS=").strip("'\"") or "/var/lib/apt/lists")


def _run(command: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise DataSourceError(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")
