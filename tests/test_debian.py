"""Fetching a data set's Debian package with apt, without root: the real package, its pins, and every way it can fail.

The download path that follows apt (tests/test_debian_download.py) is pointed here at a local port nothing listens
on, so these tests never reach a real archive and each failure ends with the message for both ways.
"""

import os
import socket
from pathlib import Path

import pytest

from attnmem_core.data import debian
from attnmem_core.data.fine_foods import source

SPEC = source()
NAME, VERSION, DEB_SHA256 = (SPEC["debian"][k] for k in ("package", "version", "deb_sha256"))


@pytest.fixture(autouse=True)
def no_archive(monkeypatch):
    with socket.socket() as probe:  # a free port, closed again: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/debian"
    monkeypatch.setenv("ATTNMEM_DEBIAN_ARCHIVES", url)
    return url


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, debian.fetch(NAME, VERSION, cache, DEB_SHA256)


def test_fetch_unpacks_the_pinned_package_whose_files_match_their_pins(fetched):
    cache, root = fetched
    assert root == cache / "debian" / f"{NAME}_{VERSION}"
    for path, digest in SPEC["files"].items():
        assert debian.verified(root / path, digest, root).stat().st_size > 0
    assert [p.name for p in (cache / "debian").iterdir()] == [root.name]  # no temporary folder left behind


def test_a_second_fetch_uses_the_cache_without_apt(fetched, monkeypatch):
    cache, root = fetched
    monkeypatch.setenv("PATH", "")  # apt-get and dpkg-deb can no longer be found
    assert debian.fetch(NAME, VERSION, cache, DEB_SHA256) == root


def test_a_package_file_that_differs_from_its_pin_is_refused_and_nothing_is_cached(tmp_path, no_archive):
    with pytest.raises(
        debian.DataSourceError,
        match=f"download {NAME}={VERSION}` gave a .deb with sha256 .* but data/sources.json pins 0{{64}}",
    ) as caught:
        debian.fetch(NAME, VERSION, tmp_path, "0" * 64)
    assert f"{no_archive}/pool/main/r/{NAME}/{NAME}_{VERSION}_all.deb: cannot connect" in str(caught.value)
    assert list((tmp_path / "debian").iterdir()) == []


def test_a_corrupt_or_missing_file_names_itself_and_the_folder_to_delete(fetched, tmp_path):
    _, root = fetched
    path, digest = next(iter(SPEC["files"].items()))
    corrupt = tmp_path / "Rdata.rdx"
    corrupt.write_bytes((root / path).read_bytes()[:-1])
    with pytest.raises(debian.DataSourceError, match=f"{corrupt} has sha256 .*corrupt.*delete {tmp_path}"):
        debian.verified(corrupt, digest, tmp_path)
    with pytest.raises(debian.DataSourceError, match=f"{tmp_path / 'gone'} is missing; delete {tmp_path}"):
        debian.verified(tmp_path / "gone", digest, tmp_path)


def test_a_version_apt_does_not_offer_names_the_versions_it_does(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # as a user: no `apt-get update` to try first
    with pytest.raises(
        debian.DataSourceError,
        match=f"apt offers {NAME} in versions: {VERSION}, not the pinned 0.1-1\n"
        f"  - .*/{NAME}_0.1-1_all.deb: cannot connect",
    ):
        debian.fetch(NAME, "0.1-1", tmp_path, DEB_SHA256)
    assert not (tmp_path / "debian" / f"{NAME}_0.1-1").exists()


def test_empty_apt_lists_stop_a_user_with_a_message_naming_apt_get_update(tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    config = tmp_path / "apt.conf"
    config.write_text(f'Dir::State::lists "{lists}/";\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n')
    monkeypatch.setenv("APT_CONFIG", str(config))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(debian.DataSourceError, match="lists are empty.*`sudo apt-get update`"):
        debian.fetch(NAME, VERSION, tmp_path / "cache", DEB_SHA256)
    assert not (tmp_path / "cache" / "debian" / f"{NAME}_{VERSION}").exists()


def test_without_apt_or_an_archive_the_message_says_where_to_unpack_the_package_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    root = tmp_path / "debian" / f"{NAME}_{VERSION}"
    with pytest.raises(debian.DataSourceError) as caught:
        debian.fetch(NAME, VERSION, tmp_path, DEB_SHA256)
    assert str(caught.value).startswith(
        f"cannot fetch {NAME} {VERSION}, tried:\n  - `apt-get` is not on PATH\n  - http"
    )
    assert str(caught.value).endswith(
        f"download {NAME}_{VERSION}_all.deb by hand from any Debian mirror (under "
        f"pool/main/r/{NAME}/) and unpack it into {root} (see data/README.md)"
    )


def test_a_tree_unpacked_by_hand_is_used_as_it_is(fetched, tmp_path, monkeypatch):
    """A user without apt unpacks the .deb into the cache path; fetch then finds it (verified() checks its files)."""
    _, root = fetched
    by_hand = debian.package_root(tmp_path, NAME, VERSION)
    by_hand.parent.mkdir(parents=True)
    os.symlink(root, by_hand)
    monkeypatch.setenv("PATH", "")
    assert Path(debian.fetch(NAME, VERSION, tmp_path, DEB_SHA256)) == by_hand


def test_a_package_that_differs_from_its_pin_names_the_pin_and_no_temporary_path(tmp_path):
    """Issue 15: the message named the temporary .deb, already deleted, and asked to delete a folder never made."""
    with pytest.raises(debian.DataSourceError) as caught:
        debian.fetch(NAME, VERSION, tmp_path, "0" * 64)
    message = str(caught.value)
    assert f"sha256 {DEB_SHA256}" in message and f"pins {'0' * 64} for {NAME} {VERSION}" in message
    assert f".{NAME}_{VERSION}." not in message and "delete" not in message
