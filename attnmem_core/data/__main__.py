"""Fetch the data sets ahead of time, to work offline or to fill one cache for many workers.

    python -m attnmem_core.data fetch                       # every data set in data/sources.json
    python -m attnmem_core.data fetch bible_en_es --data-dir /shared/attnmem-cache

Each data set's Debian packages are fetched as the notebooks fetch them (`debian.fetch`: apt
where it serves the pinned version, else a download from a Debian archive, with a progress
bar) and every file the data set reads is checked against its sha256 pin. What is already in
the cache is only checked. Derived caches (the Bible's verse pairs, the scenes) are built by
the notebooks on their first run, offline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from attnmem_core.data import debian

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "data" / "sources.json"


def packages(spec: dict) -> list[tuple[dict, dict[Path, str]]]:
    """(Debian pin, {path in the unpacked package: sha256}) of each package the data set `spec` reads."""
    # a data set pins one package at its top level, or one per part (the Bible: source and target)
    parts = [part for part in spec.values() if isinstance(part, dict) and "debian" in part] or [spec]
    prefix = spec.get("sword_root", "")
    return [(part["debian"], {Path(prefix, path): digest for path, digest in part["files"].items()}) for part in parts]


def fetch(name: str, spec: dict, data_dir: Path) -> None:
    for pin, files in packages(spec):
        package, version = pin["package"], pin["version"]
        was_cached = debian.package_root(data_dir, package, version).is_dir()
        root = debian.fetch(package, version, data_dir, pin["deb_sha256"])
        for path, digest in files.items():
            debian.verified(root / path, digest, root)
        size = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        state = "already in the cache" if was_cached else "fetched"
        print(
            f"{name}: {package} {version} {state}, {len(files)} files match their pins, {size / 1e6:.1f} MB in {root}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    sources = json.loads(SOURCES.read_text())
    parser = argparse.ArgumentParser(prog="python -m attnmem_core.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetching = commands.add_parser("fetch", help="fetch and check data sets (all of them when none is named)")
    fetching.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(sources)}")
    fetching.add_argument("--data-dir", type=Path, default=REPO / "data" / "cache")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in sources]
    if unknown:
        fetching.error(f"unknown data set {', '.join(unknown)}; data/sources.json has {', '.join(sources)}")
    try:
        for name in args.names or list(sources):
            fetch(name, sources[name], args.data_dir)
    except debian.DataSourceError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
