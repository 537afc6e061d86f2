"""Atomic writes: the file appears whole, with ordinary permissions, or not at all."""

import os
import stat

import pytest

from attnmem_core.atomic import atomic_write


def test_the_file_appears_whole_with_ordinary_permissions(tmp_path):
    path = tmp_path / "deep" / "out.bin"
    with atomic_write(path) as f:
        f.write(b"abc")
        assert not path.exists()  # nothing visible until the block ends
    assert path.read_bytes() == b"abc"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


def test_an_error_leaves_nothing_and_keeps_an_older_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
