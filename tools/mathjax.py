"""Serve MathJax from the book itself, so equations render on a machine without internet.

    python tools/mathjax.py            # what `make book` runs before the build; a no-op once in place

Fetches the npm package mathjax@3.2.2 with npm (`npm pack`: the registry's own tarball), checks it against the
pinned sha256, and unpacks the combined TeX/MathML-to-HTML component with the fonts and the parts it loads on
demand into `_vendor/mathjax/`, which Jupyter Book copies into the built book (`mathjax_path` in `_config.yml`).
The speech-rule engine (`sre/`, 4 MB) is left out: it is loaded only when a reader turns on speech in MathJax's menu.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE, VERSION = "mathjax", "3.2.2"
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"  # of mathjax-3.2.2.tgz on npm
PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2/", "input/tex/extensions/", "ui/", "a11y/")
TARGET = Path(__file__).resolve().parent.parent / "_vendor" / "mathjax"


def fetch() -> bytes:
    if shutil.which("npm") is None:
        sys.exit("tools/mathjax.py needs npm to fetch mathjax@3.2.2 (Debian: apt-get install npm)")
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", scratch, "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = (Path(scratch) / f"{PACKAGE}-{VERSION}.tgz").read_bytes()
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != SHA256:
        sys.exit(f"{PACKAGE}-{VERSION}.tgz has sha256 {digest}, not the pinned {SHA256}; nothing was unpacked")
    return tarball


def unpack(tarball: bytes, target: Path = TARGET) -> None:
    """The chosen parts of package/es5/ into `target`, whole or not at all, stamped with the version."""
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".mathjax."))
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/es5/")
            if member.isfile() and name != member.name and name.startswith(PARTS):
                path = scratch / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
    (scratch / "VERSION").write_text(f"{PACKAGE}@{VERSION} {SHA256}\n")
    if not in_place(target):
        shutil.rmtree(target, ignore_errors=True)
    try:
        scratch.rename(target)
    except OSError:  # another process (a parallel test) put it in place meanwhile
        shutil.rmtree(scratch)
        if not in_place(target):
            raise


def in_place(target: Path = TARGET) -> bool:
    stamp = target / "VERSION"
    return stamp.is_file() and stamp.read_text().split()[:2] == [f"{PACKAGE}@{VERSION}", SHA256]


def main() -> int:
    if in_place():
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    unpack(fetch())
    print(f"MathJax {VERSION} in {TARGET.relative_to(TARGET.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
