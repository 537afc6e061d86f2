"""The runner on tiny notebooks: content-hash cache, outputs checked, failure report, hidden parameter cells, prose
re-rendered without a run, repository-relative paths, downloads, --only."""

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from attnmem_core.runner import NotebookFailed, chosen, content_key, main, portable, run_notebook


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
    assert executed.cells[-2].outputs[0]["text"] == "smoke\n"  # the last cell links the downloads


def test_failure_names_the_cell_and_leaves_no_executed_copy(tmp_path, core):
    nb = write_notebook(tmp_path / "02_b.ipynb", body="x = 1\nraise ValueError('bad value here')")
    out = tmp_path / "out"
    with pytest.raises(NotebookFailed) as failure:
        run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path)
    message = str(failure.value)
    assert "02_b.ipynb failed in cell" in message and "raise ValueError('bad value here')" in message
    assert "ValueError: bad value here" in message
    assert list(out.iterdir()) == []


WRITES_RESULTS = """import pathlib
folder = pathlib.Path(results_dir) / "figures"
folder.mkdir(parents=True, exist_ok=True)
(folder / f"fig-{profile}.png").write_text("figure")
(pathlib.Path(results_dir) / f"r-{profile}.json").write_text('{"profile": "%s"}' % profile)
"""


def write_results_notebook(path):
    nb = write_notebook(path, body=WRITES_RESULTS)
    notebook = nbformat.read(nb, as_version=4)
    notebook.cells[0].source = 'profile = "cpu"\nresults_dir = "results"'
    nbformat.write(notebook, nb)
    return nb


@pytest.mark.parametrize(
    "damage", ["results folder deleted", "figure deleted", "results JSON edited", "executed copy replaced"]
)
def test_a_run_whose_outputs_are_gone_or_changed_runs_again(tmp_path, core, damage):
    # before: results/ deleted and the runner re-run said "cached"; results JSON, figures and models never came back
    nb = write_results_notebook(tmp_path / "01_a.ipynb")
    out, results = tmp_path / "out", tmp_path / "results"
    params = {"profile": "smoke", "results_dir": str(results)}
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "executed"
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "cached"
    if damage == "results folder deleted":
        shutil.rmtree(results)
    elif damage == "figure deleted":
        (results / "figures" / "fig-smoke.png").unlink()
    elif damage == "results JSON edited":
        (results / "r-smoke.json").write_text('{"profile": "edited"}')
    else:
        (out / "01_a.ipynb").write_text((out / "01_a.ipynb").read_text().replace("smoke", "cpu"))
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "executed"
    assert (results / "r-smoke.json").read_text() == '{"profile": "smoke"}'
    assert (results / "figures" / "fig-smoke.png").is_file()
    assert run_notebook(nb, out, params, core=core, cwd=tmp_path) == "cached"


def test_the_stamp_lists_what_the_run_wrote_with_its_sha256(tmp_path, core):
    nb = write_results_notebook(tmp_path / "01_a.ipynb")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "other.json").write_text("{}")  # not written by this run
    run_notebook(nb, tmp_path / "out", {"profile": "smoke", "results_dir": "results"}, core=core, cwd=tmp_path)
    record = json.loads((tmp_path / "out" / "01_a.key").read_text())
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p in record["files"]) == [
        "out/01_a.ipynb",
        "out/downloads/01_a/fig-smoke.png",
        "out/downloads/01_a/r-smoke.json",
        "results/figures/fig-smoke.png",
        "results/r-smoke.json",
    ]
    assert (
        record["files"][str(tmp_path / "results" / "r-smoke.json")]
        == hashlib.sha256(b'{"profile": "smoke"}').hexdigest()
    )


def test_a_stamp_of_the_older_plain_key_format_runs_again(tmp_path, core):
    nb = write_notebook(tmp_path / "01_a.ipynb")
    out = tmp_path / "out"
    run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path)
    (out / "01_a.key").write_text(content_key(nb, {"profile": "smoke"}, core))
    assert run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path) == "executed"


def add_markdown(path, text, position=1):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(position, nbformat.v4.new_markdown_cell(text))
    nbformat.write(nb, path)


def test_a_prose_edit_re_renders_around_the_last_outputs_without_running(tmp_path, core):
    nb = write_notebook(tmp_path / "01_a.ipynb", body="import time\nprint(time.time_ns())")
    add_markdown(nb, "# Before")
    out = tmp_path / "out"
    assert run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path) == "executed"
    first = nbformat.read(out / "01_a.ipynb", as_version=4)
    key = content_key(nb, {"profile": "smoke"}, core)

    edited = nbformat.read(nb, as_version=4)
    edited.cells[1].source = "# After, a new sentence"
    edited.cells[2].metadata["mystnb"] = {"figure": {"name": "fig-a", "caption": "A caption."}}
    edited.cells.append(nbformat.v4.new_markdown_cell("A closing paragraph."))
    nbformat.write(edited, nb)
    assert content_key(nb, {"profile": "smoke"}, core) == key
    assert run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path) == "re-rendered"
    again = nbformat.read(out / "01_a.ipynb", as_version=4)
    assert [c.source for c in again.cells if c.cell_type == "markdown"][:2] == [
        "# After, a new sentence",
        "A closing paragraph.",
    ]
    body, first_body = (next(c for c in reversed(n.cells) if c.cell_type == "code") for n in (again, first))
    assert body.outputs == first_body.outputs  # the time printed by the first run, not a new one
    assert body.metadata["mystnb"]["figure"]["caption"] == "A caption."
    injected = [c for c in again.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    assert run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path) == "cached"
    write_notebook(nb, body="import time\nprint(time.time_ns(), 2)")
    assert run_notebook(nb, out, {"profile": "smoke"}, core=core, cwd=tmp_path) == "executed"


def test_executed_copies_record_paths_relative_to_the_repository(tmp_path, core):
    nb = write_results_notebook(tmp_path / "01_a.ipynb")
    notebook = nbformat.read(nb, as_version=4)
    notebook.cells[1].source += "\nprint(pathlib.Path(results_dir).resolve())"
    nbformat.write(notebook, nb)
    out = tmp_path / "out"
    run_notebook(nb, out, {"profile": "smoke", "results_dir": str(tmp_path / "results")}, core=core, cwd=tmp_path)
    text = (out / "01_a.ipynb").read_text()
    assert str(tmp_path) not in text and '"results\\n"' in text


def test_the_run_s_results_and_figures_are_linked_for_download_at_the_end(tmp_path, core):
    nb = write_results_notebook(tmp_path / "01_a.ipynb")
    out = tmp_path / "out"
    run_notebook(nb, out, {"profile": "smoke", "results_dir": "results"}, core=core, cwd=tmp_path)
    last = nbformat.read(out / "01_a.ipynb", as_version=4).cells[-1]
    assert last.source.startswith("## Downloads")
    assert "{download}`fig-smoke.png <downloads/01_a/fig-smoke.png>`" in last.source
    assert "{download}`r-smoke.json <downloads/01_a/r-smoke.json>`" in last.source
    assert (out / "downloads" / "01_a" / "r-smoke.json").read_text() == '{"profile": "smoke"}'


def test_only_with_no_match_fails_listing_the_chapters(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--profile", "smoke", "--only", "99", "nothing"])
    error = capsys.readouterr().err
    assert (
        exit.value.code == 2 and "--only 99 nothing matches no notebook; the chapters are: 01_show_attend_tell" in error
    )
    assert chosen([Path("01_a.ipynb"), Path("02_b.ipynb")], ["02"]) == [Path("02_b.ipynb")]


def test_portable_paths_are_relative_inside_the_repository_only(tmp_path):
    assert portable(tmp_path / "results" / ".." / "data", root=tmp_path) == "data"
    assert portable(Path("/elsewhere/cache"), root=tmp_path) == "/elsewhere/cache"
