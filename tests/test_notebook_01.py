"""Notebook 01 end to end: a papermill run in the smoke profile on the real scenes, its results, and a book built
from it."""

import json

import pytest
from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.data.fashion_mnist import source
from attnmem_core.experiments import show_attend_tell as cx
from attnmem_core.runner import NOTEBOOKS, NotebookFailed, run_notebook

NOTEBOOK = NOTEBOOKS / "01_show_attend_tell.ipynb"


def test_smoke_run_writes_results_with_claims_data_hashes_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "01_show_attend_tell-smoke.json").read_text())
    assert {c["id"] for c in record["claims"]} == {
        "attention-helps-busy-scenes",
        "hard-matches-soft",
        "attention-follows-object",
        "regulariser-helps",
        "attention-knows-where",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in record["claims"])
    hard = next(c for c in record["claims"] if c["id"] == "hard-matches-soft")
    assert hard["primary"]["condition"] == "hard − soft BLEU-4 > -2 BLEU" and hard["revision"]["first"]
    assert set(hard["primary"]["convergence"]) == {"hard", "soft"}
    readings = {"hard (expected context)", "hard (sampled locations)"}
    assert {r: len(c) for r, c in record["metrics"]["convergence"].items()} == {m: 1 for m in {*cx.MODELS, *readings}}
    assert {r["model"] for r in record["metrics"]["runs"]} == {*cx.MODELS, *readings}
    assert all(0 <= r["BLEU-4"] <= 100 and 0 <= r["item recall"] <= 1 for r in record["metrics"]["runs"])
    assert record["metrics"]["data"]["files_sha256"] == source()["files"]
    assert record["metrics"]["data"]["source"]["version"] == source()["debian"]["version"]
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0]
    for figure in ("01_fig2_word_maps", "01_bleu_by_items"):
        assert (root / "results" / "figures" / f"{figure}-smoke.png").stat().st_size > 10_000
    assert len(list((root / "results" / "models").glob("sat-*.pt"))) == 1 + len(cx.MODELS)  # encoder, captioners


def test_unchanged_notebook_is_not_executed_again(smoke_run):
    root, params, _ = smoke_run
    assert run_notebook(NOTEBOOK, root / "book" / "executed", params) == "cached"


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    page = built_page(root, NOTEBOOK)
    assert "Table 1" in page and "Xu <em>et al.</em>" in page and "70.7 / 49.2 / 34.4 / 24.3" in page


def test_a_bad_step_count_fails_at_once_and_writes_nothing(tmp_path):
    params = {"profile": "smoke", "steps": 0, "data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "r")}
    with pytest.raises(NotebookFailed, match="whole number >= 1"):
        run_notebook(NOTEBOOK, tmp_path / "out", params)
    assert not (tmp_path / "r").exists() and not (tmp_path / "data").exists()
