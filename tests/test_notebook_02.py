"""Notebook 02 end to end: a papermill run in the smoke profile on the real verses, its results,
and a book built from it."""

import json

from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.data.bible import source
from attnmem_core.runner import NOTEBOOKS, run_notebook

NOTEBOOK = NOTEBOOKS / "02_rnnsearch.ipynb"


def test_smoke_run_writes_results_with_claims_data_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "02_rnnsearch-smoke.json").read_text())
    assert {c["id"] for c in record["claims"]} == {
        "search-beats-encdec",
        "long-sentences",
        "short-search-beats-long-encdec",
        "monotonic-alignments",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in record["claims"])
    search = next(c for c in record["claims"] if c["id"] == "search-beats-encdec")
    assert search["primary"]["condition"] == "RNNsearch-30 − RNNencdec-30 BLEU > 0 BLEU"
    assert search["primary"]["method"] == "paired bootstrap over test items, 1,000 resamples, 1 seed"
    assert set(search["primary"]["convergence"]) == {"RNNsearch-30", "RNNencdec-30"}
    longer = next(c for c in record["claims"] if c["id"] == "long-sentences")
    assert longer["primary"]["condition"] == "relative BLEU RNNsearch-30 − RNNencdec-30 > 0 ratio"
    aligned = next(c for c in record["claims"] if c["id"] == "monotonic-alignments")
    assert aligned["primary"]["quantity"] == "reordered pairs followed, RNNsearch − diagonal"
    assert record["metrics"]["diagonal"]["median backward jump"] == 0.0
    assert {r["model"] for r in record["metrics"]["runs"]} == {
        "RNNsearch-15",
        "RNNsearch-30",
        "RNNencdec-15",
        "RNNencdec-30",
    }
    assert all(r["bleu"]["signature"].startswith("nrefs:1") for r in record["metrics"]["runs"])
    data = record["metrics"]["data"]
    assert data["sizes"] == {"train": 28650, "valid": 669, "test": 1518}
    assert {side: data[side]["version"] for side in ("source", "target")} == {
        side: source()[side]["debian"]["version"] for side in ("source", "target")
    }
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0]
    for figure in ("02_lengths", "02_fig2_bleu_by_length", "02_fig3_alignments"):
        assert (root / "results" / "figures" / f"{figure}-smoke.png").stat().st_size > 10_000
    assert len(list((root / "results" / "models").glob("*.pt"))) == 4  # the cache the later chapters reuse


def test_unchanged_notebook_is_not_executed_again(smoke_run):
    root, params, _ = smoke_run
    assert run_notebook(NOTEBOOK, root / "book" / "executed", params) == "cached"


def test_trained_models_are_reused(smoke_run, tmp_path):
    root, params, _ = smoke_run
    rerun = {**params, "results_dir": str(root / "results")}
    run_notebook(NOTEBOOK, tmp_path / "executed", rerun, force=True)
    record = json.loads((root / "results" / "02_rnnsearch-smoke.json").read_text())
    assert all(r["cached"] for r in record["metrics"]["runs"])


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    page = built_page(root, NOTEBOOK)
    assert "Table 1" in page and "Bahdanau <em>et al.</em>" in page and "Apertium" in page
