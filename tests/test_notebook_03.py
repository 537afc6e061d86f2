"""Notebook 03 end to end: a papermill run in the smoke profile on the real reviews, its results,
and a book built from it."""

import json

from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.data.fine_foods import source
from attnmem_core.runner import NOTEBOOKS, run_notebook

NOTEBOOK = NOTEBOOKS / "03_han.ipynb"


def test_smoke_run_writes_results_with_claims_data_hashes_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "03_han-smoke.json").read_text())
    assert {c["id"] for c in record["claims"]} == {
        "att-beats-pooling",
        "hierarchy-beats-flat",
        "context-dependent",
        "sentence-attention-finds-label",
        "context-vector-task-bound",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in record["claims"])
    context = next(c for c in record["claims"] if c["id"] == "context-dependent")
    assert context["primary"]["condition"] == "shift of ln α > 0 ln" and context["revision"]["first"]
    assert context["primary"]["method"].startswith("Welch t,") and context["primary"]["method"].endswith("occurrences")
    assert set(context["primary"]["convergence"]) == {"HN-ATT"}
    runs = {(r["model"], r["embedding"]) for r in record["metrics"]["runs"]}
    assert runs == {
        ("HN-ATT", "word2vec"),
        ("HN-AVE", "word2vec"),
        ("HN-MAX", "word2vec"),
        ("GRU-ATT (flat)", "word2vec"),
        ("GRU-AVE (flat)", "word2vec"),
        ("HN-ATT", "random"),
    }
    transfer = next(c for c in record["claims"] if c["id"] == "context-vector-task-bound")
    assert set(transfer["primary"]["convergence"]) == {"HN-ATT long, trained u_w", "HN-ATT long, transferred u_w"}
    assert {row["u_w"] for row in record["metrics"]["transfer"]} == {"trained", "transferred", "frozen"}
    assert record["metrics"]["learning_rate"]["chosen"] in (2e-3, 4e-3)
    assert set(record["metrics"]["baselines"]) == {
        "majority class",
        "BoW + logistic regression",
        "TF-IDF 1–2-grams + logistic regression",
    }
    assert record["metrics"]["data"]["files_sha256"] == source()["files"]
    assert record["metrics"]["data"]["source"]["version"] == source()["debian"]["version"]
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0]
    assert (root / "results" / "figures" / "03_fig3_sentiment_word_weights-smoke.png").stat().st_size > 10_000


def test_unchanged_notebook_is_not_executed_again(smoke_run):
    root, params, _ = smoke_run
    assert run_notebook(NOTEBOOK, root / "book" / "executed", params) == "cached"


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    page = built_page(root, NOTEBOOK)
    assert "Table 2" in page and "Yang <em>et al.</em>" in page and "unconfirmed" in page
    assert "rgba(31, 119, 180" in page  # the reviews rendered with their word weights
