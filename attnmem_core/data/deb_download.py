"""A pinned Debian package file downloaded over HTTPS, for machines where apt cannot serve it.

Every file of the Debian archive lives at a path built from its package's name and version:

    pool/main/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb

(<prefix> is the source name's first letter, or its first four for lib*). The data packages
pinned in data/sources.json are all `Architecture: all` and built by a source package of
the same name, so `pool_path` needs only the name and version; tests check the result
against the `Filename:` apt itself reports.

The archives tried, in order, are the Debian snapshot archive as of Debian 12's release,
which keeps every version ever published, and a regular mirror, which keeps those of the
releases it carries. The environment variable ATTNMEM_DEBIAN_ARCHIVES replaces both with
its own space-separated base URLs (a local mirror, a proxy, a test server).

`download` writes the response to a given file and stops on anything that is not a whole
Debian package: an HTTP error, a dropped connection, fewer bytes than announced, an HTML page
in its place. The caller keeps that file in a scratch folder it deletes, and checks the
sha256 against its pin (`attnmem_core.data.debian.fetch`).
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

ARCHIVES_VARIABLE = "ATTNMEM_DEBIAN_ARCHIVES"
# Debian 12 "bookworm" was released on 2023-06-10; all four pinned packages were in it that day
SNAPSHOT = "https://snapshot.debian.org/archive/debian/20230610T000000Z"
MIRROR = "https://deb.debian.org/debian"
DEB_MAGIC = b"!<arch>\n"  # a .deb is an ar archive
TIMEOUT_S = 60


class DownloadError(RuntimeError):
    """A package file could not be downloaded whole from one URL; the message names the URL and what it got."""


def pool_path(name: str, version: str) -> str:
    """The package file's path in a Debian archive: pool/main/r/r-cran-modeldata/r-cran-modeldata_1.1.0-1_all.deb."""
    prefix = name[:4] if name.startswith("lib") else name[0]
    file_version = version.split(":", 1)[-1]  # file names leave out the epoch
    return f"pool/main/{prefix}/{name}/{name}_{file_version}_all.deb"


def archives() -> list[str]:
    """The archive base URLs to try, in order: $ATTNMEM_DEBIAN_ARCHIVES, or the snapshot archive then a mirror."""
    chosen = os.environ.get(ARCHIVES_VARIABLE, "").split()
    return [url.rstrip("/") for url in chosen] or [SNAPSHOT, MIRROR]


def urls(name: str, version: str) -> list[str]:
    path = urllib.parse.quote(pool_path(name, version))
    return [f"{base}/{path}" for base in archives()]


def download(url: str, destination: Path) -> Path:
    """`destination`, holding the package file at `url` (progress bar); DownloadError unless it came whole.

    Only the network's failures become a DownloadError; a failure to write `destination` (a full disk) stays the
    OSError it is, for the caller to name its folder.
    """
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "attnmem (python urllib)"})
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: cannot connect ({error.reason})") from None
    except (http.client.HTTPException, OSError) as error:
        raise DownloadError(f"{url}: no answer ({type(error).__name__}: {error})") from None
    except ValueError as error:  # not a URL at all: a typo in the variable
        raise DownloadError(
            f"{url}: {error}; {ARCHIVES_VARIABLE} takes base URLs such as https://mirror.example.org/debian"
        ) from None
    expected, received = response.length, 0  # length is None when the server does not say
    bar = tqdm(total=expected, desc=url.rsplit("/", 1)[-1], unit="B", unit_scale=True, file=sys.stdout, mininterval=1.0)
    with response, bar, open(destination, "wb") as out:
        while block := _read(response, url, received, expected):
            if received == 0 and not block.startswith(DEB_MAGIC):
                raise DownloadError(
                    f"{url} answered with {response.headers.get_content_type()} starting "
                    f"{block[:60]!r}, not a Debian package: a proxy, captive portal or mirror error "
                    "page in its place?"
                )
            out.write(block)
            received += len(block)
            bar.update(len(block))
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: the connection broke after {received:,} of {expected:,} bytes")
    if received == 0:
        raise DownloadError(f"{url} answered with an empty body, not a Debian package")
    return destination


def _read(response, url: str, received: int, expected: int | None) -> bytes:
    try:
        return response.read(1 << 16)
    except (http.client.HTTPException, OSError) as error:
        size = "an unannounced number of" if expected is None else f"{expected:,}"
        raise DownloadError(
            f"{url}: the connection broke after {received:,} of {size} bytes ({type(error).__name__})"
        ) from None
