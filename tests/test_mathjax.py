"""tools/mathjax.py's unpack: whole or not at all, and safe when two processes (parallel tests) unpack at once."""

import importlib.util
import io
import tarfile

from conftest import REPO

spec = importlib.util.spec_from_file_location("mathjax", REPO / "tools" / "mathjax.py")
mathjax = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mathjax)


def package(files: dict[str, bytes]) -> bytes:
    """An npm tarball holding `files` under package/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(f"package/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


TARBALL = package({"es5/tex-mml-chtml.js": b"mathjax", "es5/sre/speech.js": b"left out", "README.md": b"not es5"})


def test_unpacks_the_chosen_parts_and_stamps_the_version(tmp_path):
    target = tmp_path / "mathjax"
    mathjax.unpack(TARBALL, target)
    assert sorted(p.name for p in target.iterdir()) == ["VERSION", "tex-mml-chtml.js"]
    assert mathjax.in_place(target)


def test_an_unpack_that_finds_the_package_in_place_keeps_it_and_leaves_no_scratch(tmp_path):
    """What the second of two concurrent unpacks meets: the first has renamed its copy into place."""
    target = tmp_path / "mathjax"
    mathjax.unpack(TARBALL, target)
    first = (target / "tex-mml-chtml.js").stat().st_ino
    mathjax.unpack(TARBALL, target)
    assert (target / "tex-mml-chtml.js").stat().st_ino == first
    assert [p.name for p in tmp_path.iterdir()] == ["mathjax"]


def test_a_stale_copy_is_replaced(tmp_path):
    target = tmp_path / "mathjax"
    target.mkdir()
    (target / "VERSION").write_text("mathjax@3.2.1 0000\n")
    mathjax.unpack(TARBALL, target)
    assert mathjax.in_place(target) and (target / "tex-mml-chtml.js").read_bytes() == b"mathjax"
