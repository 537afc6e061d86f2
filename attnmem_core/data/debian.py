"""Data sets shipped in Debian packages, fetched and unpacked without root, with apt or without.

Debian carries many public data sets inside ordinary packages (R's `modeldata` as
`r-cran-modeldata`, for one). The package file of a pinned NAME=VERSION comes from apt
(`apt-get download`, any user, nothing installed) where apt serves that version, and
otherwise straight from a Debian archive over HTTPS (`deb_download`: macOS, Windows, Colab,
Ubuntu, whose apt offers other versions). Either way it is checked against the sha256 pinned
in data/sources.json and unpacked in Python, file for file what `dpkg-deb -x` writes. The
unpacked tree lives in the cache as

    <cache>/debian/<name>_<version>/<the package's own paths>

and appears there by one rename of a finished temporary folder, so an interrupted fetch
never leaves a tree that looks complete. Every file a data set reads is checked against
the sha256 pinned in data/sources.json, which is also what lets a user unpack the same .deb
by hand into that folder (data/README.md says how).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from debian.debfile import DebFile  # python-debian, not this module

from attnmem_core.data import deb_download


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
        raise DataSourceError(
            f"{path} has sha256 {found}, but data/sources.json pins {expected}: the file is "
            f"corrupt or from another package version; delete {refetch} to fetch it again"
        )
    return path


def fetch(name: str, version: str, cache: str | Path, deb_sha256: str) -> Path:
    """The unpacked package NAME=VERSION in the cache, fetched (from apt, else an archive) if not there yet."""
    root = package_root(cache, name, version)
    if root.is_dir():
        return root
    with _scratch_folder(root) as scratch:
        try:
            deb = _fetch_deb(name, version, deb_sha256, scratch, root)
            unpack(deb, scratch / "tree")
        except OSError as error:  # the network's failures are DownloadErrors: this is the disk
            raise DataSourceError(
                f"cannot write the package into {root.parent} ({error}); free some space there or pass another data_dir"
            ) from error
        try:
            os.replace(scratch / "tree", root)  # the only step that makes the tree visible
        except OSError:
            if not root.is_dir():  # else another process finished the same fetch first
                raise
    return root


def unpack(deb: Path, tree: Path) -> None:
    """Write the files of the package `deb` under `tree` as `dpkg-deb -x` does: same bytes, modes and times."""
    with DebFile(str(deb)) as package:
        # "tar" keeps the packaged modes; Python 3.14's default filter ("data") would rewrite folders' modes
        package.data.tgz().extractall(tree, filter="tar")


@contextmanager
def _scratch_folder(root: Path) -> Iterator[Path]:
    """A temporary folder beside `root` (so that one rename moves the tree in), deleted afterwards."""
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}.")
    except OSError as error:
        raise DataSourceError(
            f"cannot write to the cache folder {root.parent} ({error.strerror or error}); pass a "
            "data_dir you can write to (the notebooks' parameter, or --data-dir)"
        ) from None
    with scratch as folder:
        yield Path(folder)


def _fetch_deb(name: str, version: str, deb_sha256: str, scratch: Path, root: Path) -> Path:
    """The pinned package file in `scratch`: from apt if it serves the pinned version, else from an archive."""
    attempts = [(f"`apt-get download {name}={version}`", partial(_apt_download, name, version, scratch))]
    for number, url in enumerate(deb_download.urls(name, version)):
        attempts.append((url, partial(deb_download.download, url, scratch / f"download{number}.deb")))
    failures = []
    for label, get in attempts:
        try:
            deb = get()
        except (DataSourceError, deb_download.DownloadError) as failure:
            failures.append(str(failure))
            continue
        found = sha256(deb)
        if found == deb_sha256:
            return deb
        failures.append(
            f"{label} gave a .deb with sha256 {found}, but data/sources.json pins {deb_sha256} for {name} {version}"
        )
    path = deb_download.pool_path(name, version)
    raise DataSourceError(
        f"cannot fetch {name} {version}, tried:\n"
        + "".join(f"  - {failure}\n" for failure in failures)
        + f"Nothing was kept in the cache. Set {deb_download.ARCHIVES_VARIABLE} to Debian archive URLs you "
        f"can reach (a mirror, a proxy), or download {path.rsplit('/', 1)[-1]} by hand from any Debian mirror "
        f"(under {path.rsplit('/', 1)[0]}/) and unpack it into {root} (see data/README.md)"
    )


def _apt_download(name: str, version: str, scratch: Path) -> Path:
    for tool in ("apt-get", "apt-cache"):
        if shutil.which(tool) is None:
            raise DataSourceError(f"`{tool}` is not on PATH")
    _ensure_known(name, version)
    folder = scratch / "apt"
    folder.mkdir()
    _run(["apt-get", "download", "-q", f"{name}={version}"], cwd=folder)
    debs = list(folder.glob(f"{name}_*.deb"))
    if len(debs) != 1:
        raise DataSourceError(f"apt-get download {name}={version} left {[d.name for d in debs]}, not one .deb")
    return debs[0]


def _ensure_known(name: str, version: str) -> None:
    """Make sure apt can serve NAME=VERSION: update its lists first when root, else say what it lacks."""
    if version in _known_versions(name):
        return
    if os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])
        if version in _known_versions(name):
            return
    elif not any(_lists_dir().glob("*Packages*")):
        raise DataSourceError("apt's package lists are empty (`sudo apt-get update` fills them)")
    known = ", ".join(_known_versions(name)) or "none"
    raise DataSourceError(f"apt offers {name} in versions: {known}, not the pinned {version}")


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
