"""Notebook 05 end to end: a papermill run in the smoke profile on the real verses, its results, and a book built
from it."""

import json
import re

from conftest import built_page

from attnmem_core.claims import VERDICTS
from attnmem_core.runner import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "05_convs2s.ipynb"


def test_smoke_run_writes_results_with_claims_probe_comparison_and_provenance(smoke_run):
    root, params, status = smoke_run
    assert status == "executed"
    record = json.loads((root / "results" / "05_convs2s-smoke.json").read_text())
    claims = {c["id"]: c for c in record["claims"]}
    assert set(claims) == {
        "positions-matter-less-for-convolutions",
        "convs2s-positions-small",
        "attention-in-every-layer",
        "convs2s-beats-rnnsearch",
    }
    assert all(c["verdict"] in VERDICTS and c["reason"] for c in claims.values())
    essay = claims["positions-matter-less-for-convolutions"]
    assert essay["primary"]["condition"] == "Transformer − ConvS2S BLEU lost without positions > 0 BLEU"
    assert set(essay["primary"]["convergence"]) == {
        "ConvS2S",
        "− source & target position",
        "Transformer",
        "Transformer − positions",
    }
    metrics = record["metrics"]
    study = metrics["study_runs"]
    assert {(r["arm"]["name"], r["seed"]) for r in study} >= {("ConvS2S", 0), ("Transformer − positions", 1)}
    assert set(metrics["comparison"]["models"]) == {"RNNsearch", "Transformer", "ConvS2S"}
    assert {p["model"] for p in metrics["probe"]} == {
        "ConvS2S",
        "− source & target position",
        "Transformer",
        "Transformer − positions",
    }
    assert all(0 <= p["encoder state"] <= 1 for p in metrics["probe"])
    assert record["provenance"]["params"]["profile"] == "smoke" and record["provenance"]["seeds"] == [0, 1]
    assert (root / "results" / "figures" / "05_position_cost-smoke.png").stat().st_size > 10_000


def test_book_builds_without_warnings_from_the_smoke_run(smoke_run):
    root, _, _ = smoke_run
    text = re.sub(r"<[^>]+>", "", built_page(root, NOTEBOOK))
    assert "Table 4" in text and "Gehring et al." in text
    assert "def forward(self, h: torch.Tensor, g: torch.Tensor, memory: dict)" in text  # the library's own source
