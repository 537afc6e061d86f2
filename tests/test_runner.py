"""The runner on tiny notebooks: content-hash cache, failure report, hidden parameter cells."""
import nbformat
import pytest

from attnmem_core.runner import NotebookFailed, content_key, run_notebook


def write_notebook(path, body="print(profile)"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "cpu"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def core(tmp_path):
    core = tmp_path / "core"
    core.mkdir()
    (core / "mod.py").write_text("x = 1\n")
    return core


def test_key_changes_with_notebook_params_and_core(tmp_path, core):
    nb = write_notebook(tmp_path / "01_a.ipynb")
    key = content_key(nb, {"profile": "smoke"}, core)
    assert content_key(nb, {"profile": "smoke"}, core) == key
    assert content_key(nb, {"profile": "cpu"}, core) != key
    (core / "mod.py").write_text("x = 2\n")
    assert content_key(nb, {"profile": "smoke"}, core) != key
    (core / "mod.py").write_text("x = 1\n")
    write_notebook(nb, body="print(profile, 1)")
    assert content_key(nb, {"profile": "smoke"}, core) != key
    write_notebook(nb)
    sources = tmp_path / "sources.json"
    sources.write_text('{"pin": 1}')
    pinned = content_key(nb, {"profile": "smoke"}, core, sources)
    assert pinned != key
    sources.write_text('{"pin": 2}')
    assert content_key(nb, {"profile": "smoke"}, core, sources) != pinned


def test_second_run_is_cached_until_something_changes(tmp_path, core):
    nb = write_notebook(tmp_path / "01_a.ipynb")
    out = tmp_path / "out"
    params = {"profile": "smoke"}
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "executed"
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "cached"
    (core / "mod.py").write_text("x = 3\n")
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "executed"

    executed = nbformat.read(out / "01_a.ipynb", as_version=4)
    hidden = [c for c in executed.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert {t for c in hidden for t in c.metadata["tags"]} >= {"parameters", "injected-parameters"}
    assert executed.cells[-1].outputs[0]["text"] == "smoke\n"


def test_failure_names_the_cell_and_leaves_no_executed_copy(tmp_path, core):
    nb = write_notebook(tmp_path / "02_b.ipynb", body="x = 1\nraise ValueError('bad value here')")
    out = tmp_path / "out"
    with pytest.raises(NotebookFailed) as failure:
        run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path)
    message = str(failure.value)
    assert "02_b.ipynb failed in cell" in message and "raise ValueError('bad value here')" in message
    assert "ValueError: bad value here" in message
    assert list(out.iterdir()) == []
