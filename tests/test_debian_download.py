"""The data sets without apt: the pinned .deb downloaded from a Debian archive and unpacked in Python.

The archive is a local HTTP server on 127.0.0.1 serving the real package files (fetched once by apt here) under
/debian/, and under other prefixes the ways a download goes wrong: other bytes, a 404, an HTML page, a connection
that drops midway. apt is made absent by emptying PATH.
"""

import http.server
import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from attnmem_core.data import bible, deb_download, debian, fashion_mnist, fine_foods
from attnmem_core.data.__main__ import SOURCES, main, packages

PINS = {pin["package"]: pin for spec in json.loads(SOURCES.read_text()).values() for pin, _ in packages(spec)}
SMALLEST = "sword-text-sparv"  # 2.7 MB

needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None, reason="the real package files are fetched with apt")


@pytest.fixture(scope="module")
def package_files(tmp_path_factory) -> dict[str, bytes]:
    """{pool path: the pinned .deb's bytes} of every package data/sources.json pins, fetched by apt."""
    if shutil.which("apt-get") is None:
        pytest.skip("the real package files are fetched with apt")
    folder = tmp_path_factory.mktemp("debs")
    wanted = [f"{pin['package']}={pin['version']}" for pin in PINS.values()]
    subprocess.run(["apt-get", "download", "-q", *wanted], cwd=folder, check=True, capture_output=True)
    files = {}
    for pin in PINS.values():
        (deb,) = folder.glob(f"{pin['package']}_*.deb")
        assert debian.sha256(deb) == pin["deb_sha256"]
        files[deb_download.pool_path(pin["package"], pin["version"])] = deb.read_bytes()
    return files


class Archive(http.server.BaseHTTPRequestHandler):
    """/debian/<pool path>: the package; /other/: other bytes; /html/: a proxy's page; /drop/: half, then closed."""

    files: dict[str, bytes] = {}

    def do_GET(self):
        kind, _, path = self.path.lstrip("/").partition("/")
        body = self.files.get(path)
        if kind not in ("debian", "other", "html", "drop") or body is None:
            return self.send_error(404)
        if kind == "html":
            body = b"<!DOCTYPE html><html><body>Sign in to continue to the internet</body></html>"
        if kind == "other":
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if kind == "html" else "application/vnd.debian.binary-package")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "drop" else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def archive(package_files):
    """The base URL of the local archive server, stopped after this module's tests."""
    Archive.files = package_files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Archive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def without_apt(monkeypatch):
    monkeypatch.setenv("PATH", "")  # apt-get, apt-cache and dpkg-deb can no longer be found


def use_archives(monkeypatch, *urls):
    monkeypatch.setenv(deb_download.ARCHIVES_VARIABLE, " ".join(urls))


def fetch_smallest(cache):
    pin = PINS[SMALLEST]
    return debian.fetch(SMALLEST, pin["version"], cache, pin["deb_sha256"])


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root (root too): its type, permission bits, mtime, and bytes or link target."""
    entries = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        content = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else None
        entries[str(path.relative_to(root))] = (
            stat.S_IFMT(info.st_mode),
            stat.S_IMODE(info.st_mode),
            int(info.st_mtime),
            content,
        )
    return entries


def test_the_default_archives_are_the_snapshot_of_debian_12_then_a_mirror(monkeypatch):
    monkeypatch.delenv(deb_download.ARCHIVES_VARIABLE, raising=False)
    assert deb_download.urls("r-cran-modeldata", "1.1.0-1") == [
        "https://snapshot.debian.org/archive/debian/20230610T000000Z/pool/main/r/r-cran-modeldata/"
        "r-cran-modeldata_1.1.0-1_all.deb",
        "https://deb.debian.org/debian/pool/main/r/r-cran-modeldata/r-cran-modeldata_1.1.0-1_all.deb",
    ]
    assert deb_download.pool_path("libfoo", "2:1.0~rc1-1") == "pool/main/libf/libfoo/libfoo_1.0~rc1-1_all.deb"


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="compares with what apt reports")
def test_every_pool_path_is_the_filename_apt_reports():
    wanted = [f"{name}={pin['version']}" for name, pin in PINS.items()]
    shown = subprocess.run(["apt-cache", "show", *wanted], capture_output=True, text=True, check=True).stdout
    filenames = [line.removeprefix("Filename: ") for line in shown.splitlines() if line.startswith("Filename: ")]
    assert filenames == [deb_download.pool_path(name, pin["version"]) for name, pin in PINS.items()]


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="compares with dpkg-deb")
def test_unpacking_in_python_writes_the_tree_dpkg_deb_writes(package_files, tmp_path):
    pin = PINS[SMALLEST]
    deb = tmp_path / "package.deb"
    deb.write_bytes(package_files[deb_download.pool_path(SMALLEST, pin["version"])])
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "dpkg")], check=True)
    debian.unpack(deb, tmp_path / "python")
    by_dpkg = tree(tmp_path / "dpkg")
    assert len(by_dpkg) == 20 and tree(tmp_path / "python") == by_dpkg


def test_without_apt_the_pinned_package_is_downloaded_checked_and_unpacked(archive, without_apt, monkeypatch, tmp_path):
    use_archives(monkeypatch, f"{archive}/missing", f"{archive}/debian")  # the first archive lacks it: the next
    root = fetch_smallest(tmp_path)
    spec = bible.source()["target"]
    for path, digest in spec["files"].items():
        debian.verified(root / bible.source()["sword_root"] / path, digest, root)
    assert [entry.name for entry in (tmp_path / "debian").iterdir()] == [root.name]


def test_where_apt_offers_other_versions_the_package_is_downloaded(archive, monkeypatch, tmp_path):
    """Ubuntu's apt knows the package, in another version; a user cannot run `apt-get update`."""
    use_archives(monkeypatch, f"{archive}/debian")
    monkeypatch.setattr(debian, "_known_versions", lambda name: ["2.60-2ubuntu1"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert fetch_smallest(tmp_path).is_dir()


def test_a_download_with_other_bytes_names_the_url_and_the_pin_and_leaves_nothing(
    archive, without_apt, monkeypatch, tmp_path
):
    use_archives(monkeypatch, f"{archive}/other")
    pin = PINS[SMALLEST]
    url = f"{archive}/other/{deb_download.pool_path(SMALLEST, pin['version'])}"
    with pytest.raises(
        debian.DataSourceError,
        match=f"  - {url} gave a .deb with sha256 [0-9a-f]{{64}}, but "
        f"data/sources.json pins {pin['deb_sha256']} for {SMALLEST} {pin['version']}\n",
    ):
        fetch_smallest(tmp_path)
    assert list((tmp_path / "debian").iterdir()) == []


def test_a_404_names_the_url_and_how_to_fetch_the_package_by_hand(archive, without_apt, monkeypatch, tmp_path):
    use_archives(monkeypatch, f"{archive}/missing")
    pin = PINS[SMALLEST]
    path = deb_download.pool_path(SMALLEST, pin["version"])
    with pytest.raises(debian.DataSourceError) as caught:
        fetch_smallest(tmp_path)
    message = str(caught.value)
    assert f"  - {archive}/missing/{path}: HTTP 404 Not Found\n" in message
    assert message.endswith(
        f"download {SMALLEST}_{pin['version']}_all.deb by hand from any Debian mirror (under "
        f"pool/main/s/{SMALLEST}/) and unpack it into {tmp_path}/debian/{SMALLEST}_{pin['version']} "
        "(see data/README.md)"
    )


def test_a_connection_that_drops_midway_leaves_nothing_in_the_cache(archive, without_apt, monkeypatch, tmp_path):
    use_archives(monkeypatch, f"{archive}/drop")
    size = len(Archive.files[deb_download.pool_path(SMALLEST, PINS[SMALLEST]["version"])])
    with pytest.raises(debian.DataSourceError, match=f"the connection broke after {size // 2:,} of {size:,} bytes"):
        fetch_smallest(tmp_path)
    assert list((tmp_path / "debian").iterdir()) == []  # neither a tree nor the scratch folder with the half file


def test_an_html_page_in_place_of_the_package_is_named_as_such(archive, without_apt, monkeypatch, tmp_path):
    use_archives(monkeypatch, f"{archive}/html")
    with pytest.raises(
        debian.DataSourceError,
        match=r"answered with text/html starting b'<!DOCTYPE html>.*not a "
        "Debian package: a proxy, captive portal or mirror error page in its place\\?",
    ):
        fetch_smallest(tmp_path)
    assert list((tmp_path / "debian").iterdir()) == []


def test_an_archive_that_is_not_a_url_is_named_with_the_form_it_takes(without_apt, monkeypatch, tmp_path):
    use_archives(monkeypatch, "mirror.example.org/debian")
    with pytest.raises(
        debian.DataSourceError,
        match="  - mirror.example.org/debian/pool/.*: unknown url type: .*; "
        "ATTNMEM_DEBIAN_ARCHIVES takes base URLs such as https://mirror.example.org/debian\n",
    ):
        fetch_smallest(tmp_path)


def test_a_cache_folder_that_cannot_be_written_is_named(archive, monkeypatch, tmp_path):
    use_archives(monkeypatch, f"{archive}/debian")
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(
        debian.DataSourceError,
        match=f"cannot write to the cache folder {tmp_path}/cache/debian "
        r"\(.*\); pass a data_dir you can write to",
    ):
        fetch_smallest(tmp_path / "cache")


def test_without_apt_every_data_set_loads_from_the_archive(archive, without_apt, monkeypatch, tmp_path):
    """Chapters 1-4's data through the download path; the Bible only to its verified SWORD modules."""
    use_archives(monkeypatch, f"{archive}/debian")
    foods = fine_foods.load(tmp_path)
    assert (len(foods.train), len(foods.valid), len(foods.test)) == (3500, 500, 1000)
    fashion = fashion_mnist.load(tmp_path)
    assert fashion.train_images.shape == (60000, 28, 28) and fashion.test_labels.shape == (10000,)
    roots = bible.sword_roots(tmp_path)
    assert [len(list(roots[side].rglob("*.bz?"))) for side in bible.SIDES] == [6, 6]
    assert sorted(entry.name for entry in (tmp_path / "debian").iterdir()) == sorted(
        f"{name}_{pin['version']}" for name, pin in PINS.items()
    )


def test_the_prefetch_command_fetches_checks_and_then_finds_the_cache(
    archive, without_apt, monkeypatch, tmp_path, capsys
):
    use_archives(monkeypatch, f"{archive}/debian")
    assert main(["fetch", "bible_en_es", "--data-dir", str(tmp_path)]) == 0
    assert main(["fetch", "bible_en_es", "--data-dir", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("bible_en_es:")]
    assert [line.split(" MB")[0] for line in lines] == [
        "bible_en_es: sword-text-web 426.0-1 fetched, 7 files match their pins, 4.3",
        "bible_en_es: sword-text-sparv 2.60-1 fetched, 7 files match their pins, 3.0",
        "bible_en_es: sword-text-web 426.0-1 already in the cache, 7 files match their pins, 4.3",
        "bible_en_es: sword-text-sparv 2.60-1 already in the cache, 7 files match their pins, 3.0",
    ]


def test_the_prefetch_command_names_the_data_sets_it_knows(capsys):
    with pytest.raises(SystemExit):
        main(["fetch", "wmt14"])
    assert "unknown data set wmt14; data/sources.json has small_fine_foods, bible_en_es, fashion_mnist" in (
        capsys.readouterr().err
    )


def test_the_prefetch_command_reports_a_failure_and_exits_non_zero(archive, without_apt, monkeypatch, tmp_path, capsys):
    use_archives(monkeypatch, f"{archive}/missing")
    assert main(["fetch", "small_fine_foods", "--data-dir", str(tmp_path)]) == 1
    assert "cannot fetch r-cran-modeldata 1.1.0-1, tried:" in capsys.readouterr().err
