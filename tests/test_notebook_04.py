"""Notebook 04 end to end: a papermill run in the smoke profile on the real verses, its results,
and a book built from it."""

import json

from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.runner import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "04_transformer.ipynb"


def test_smoke_run_writes_results_with_claims_costs_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "04_transformer-smoke.json").read_text())
    assert {c["id"] for c in record["claims"]} == {
        "transformer-beats-rnnsearch-cheaper",
        "single-head-worse",
        "learned-equals-sinusoidal",
        "scaling-matters",
        "sinusoids-extrapolate",
        "label-smoothing-trades-perplexity-for-bleu",
        "dot-product-faster-than-additive",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in record["claims"])
    scaling = next(c for c in record["claims"] if c["id"] == "scaling-matters")
    assert scaling["primary"]["condition"] == "perplexity h=1, unscaled / h=1 > 1.02 ×"
    assert [i["quantity"] for i in scaling["illustrations"]] == [
        "Jacobian norm unscaled / scaled at d_k = d_model, random vectors"
    ]
    table3 = next(c for c in record["claims"] if c["id"] == "single-head-worse")
    assert set(table3["primary"]["convergence"]) == {"h=1", "base ≤8"}
    assert len(table3["primary"]["convergence"]["base ≤8"]) == 3  # the base from three seeds
    faster = next(c for c in record["claims"] if c["id"] == "dot-product-faster-than-additive")
    assert faster["primary"]["condition"] == "seconds per update additive / dot-product > 1 ×"
    assert faster["supporting"][0]["value"] > 1  # additive scores keep more for the backward pass
    metrics = record["metrics"]
    runs = metrics["transformer_runs"]
    assert {r["variant"] for r in runs} >= {
        "base",
        "h=1",
        "learned",
        "no positions",
        "h=1, unscaled",
        "ε_ls=0",
        "additive",
    }
    assert all(r["test_bleu"] is not None for r in runs if r["variant"] == "base")  # main and extrapolation runs
    cost = metrics["costs"][0]
    assert cost["rnn_flops"] > 0 and cost["flops"]["Transformer"] > 0 and 0 <= cost["bootstrap"]["p_value"] <= 1
    assert metrics["data"]["sizes"] == {"train": 28650, "valid": 669, "test": 1518}
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0]
    for figure in ("04_cost", "04_additive_cost", "04_scaling", "04_extrapolation", "04_attention_heads"):
        assert (root / "results" / "figures" / f"{figure}-smoke.png").stat().st_size > 10_000


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    page = built_page(root, NOTEBOOK)
    assert "Table 3" in page and "Vaswani <em>et al.</em>" in page and "Apertium" in page
