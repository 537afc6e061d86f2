"""Scratch books for the notebook tests: the real book's configuration and sources, one chapter."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attnmem_core.claims import VERDICTS
from attnmem_core.runner import EXECUTED, REPO, run_notebook

# Independent tests that each start a notebook kernel: 54 of them take 11 minutes on one core, so they are spread
# over the workers one by one, while every other module stays whole on one worker (its module fixtures, a smoke
# notebook among them, are built once).
SPREAD = {"test_notebook_parameters"}


def pytest_itemcollected(item):
    """Under pytest-xdist's --dist=loadgroup, each module of tests is one group, but for the modules in SPREAD. Set
    as each test is collected: pytest-xdist reads the groups in its own pytest_collection_modifyitems."""
    if item.module.__name__ not in SPREAD:
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def vendored_mathjax(root: Path) -> None:
    """The book's own MathJax (tools/mathjax.py fetches the pinned package once) into the scratch book at `root`."""
    subprocess.run([sys.executable, str(REPO / "tools" / "mathjax.py")], check=True)
    shutil.copytree(REPO / "_vendor", root / "_vendor", dirs_exist_ok=True)


def smoke_book(root: Path, notebook: Path) -> tuple[dict, str]:
    """Execute `notebook` in the smoke profile into a scratch book at `root` that holds it alone."""
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    vendored_mathjax(root)
    (root / "_toc.yml").write_text(
        f"format: jb-book\nroot: index\nchapters:\n  - file: book/executed/{notebook.stem}\n  - file: book/references\n"
    )
    (root / "index.md").write_text(f"# {notebook.stem} alone\n\nA scratch book for the tests.\n")
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns(EXECUTED.name, "intro.md"))
    # the data sets are fetched once into the shared cache (the Bible's extraction takes minutes), as the data tests do
    params = {
        "profile": "smoke",
        "device": "cpu",
        "data_dir": str(REPO / "data" / "cache"),
        "results_dir": str(root / "results"),
    }
    return params, run_notebook(notebook, root / "book" / "executed", params)


def build_book(root: Path) -> None:
    """Build the scratch book with warnings as errors."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run(
        [str(jupyter_book), "build", str(root), "--warningiserror", "--quiet"], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]


def built_page(root: Path, notebook: Path) -> str:
    """Build the scratch book and return the chapter's page, checked for what every chapter shows: the parameter
    cells hidden, the run card with the smoke profile, and at least one verdict."""
    build_book(root)
    page = (root / "_build" / "html" / "book" / "executed" / f"{notebook.stem}.html").read_text()
    assert 'profile = "cpu"' not in page and "smoke" in page
    assert any(v in page for v in VERDICTS)
    return page


@pytest.fixture(scope="module")
def smoke_run(request, tmp_path_factory):
    """The test module's NOTEBOOK executed into its own scratch book: (root, params, status)."""
    root = tmp_path_factory.mktemp("book")
    params, status = smoke_book(root, request.module.NOTEBOOK)
    return root, params, status
