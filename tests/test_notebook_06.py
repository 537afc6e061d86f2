"""Notebook 06 end to end: a papermill run in the smoke profile, its results, and a book built from it."""

import json

from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.runner import NOTEBOOKS, run_notebook

NOTEBOOK = NOTEBOOKS / "06_fast_weights.ipynb"


def test_smoke_run_writes_results_with_claims_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "06_fast_weights-smoke.json").read_text())
    assert {c["id"] for c in record["claims"]} == {
        "fw-solves-R20",
        "fw-best-R50",
        "near-zero-R100",
        "fast-weights-attend-to-recent-past",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in record["claims"])
    r20 = next(c for c in record["claims"] if c["id"] == "fw-solves-R20")
    assert r20["primary"]["condition"] == "fw@20 error < 5 %"
    assert r20["primary"]["method"] == "Wilson over 256 test items, 1 seed"
    assert set(r20["primary"]["convergence"]) == {"fw@20"} and len(r20["supporting"]) == 3
    assert set(record["metrics"]["test_error"]) >= {
        f"{m}@{r}" for m in ("irnn", "lstm", "alstm", "fw") for r in (20, 50, 100)
    }
    assert len(record["metrics"]["data_sha256"]["test"]) == 64
    grid = record["metrics"]["grid"]
    assert grid["mode"] == "all" and grid["steps"] == 20 and grid["chosen"].startswith("grid η=")
    assert grid["verdict"] in {"reproduced", "not reproduced", "inconclusive (not converged)"} and grid["reason"]
    assert f"{grid['chosen']}@20" in record["metrics"]["test_error"]
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0]
    attention = next(c for c in record["claims"] if c["id"] == "fast-weights-attend-to-recent-past")
    assert attention["primary"]["condition"] == "fw@50 queried-pair preference > 0 pp"
    for figure in ("06_fig2_valid_nll_R50", "06_query_attention_R50"):
        assert (root / "results" / "figures" / f"{figure}-smoke.png").stat().st_size > 10_000


def test_unchanged_notebook_is_not_executed_again(smoke_run):
    root, params, _ = smoke_run
    assert run_notebook(NOTEBOOK, root / "book" / "executed", params) == "cached"


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    page = built_page(root, NOTEBOOK)
    assert "Table 1" in page and "Culurciello, 2017" in page  # a resolved {cite}
