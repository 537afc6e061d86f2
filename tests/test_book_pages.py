"""The pages built from the results: the claims ledger, the closing chapter and the stand-ins, on synthetic results
files written by the library's own Run and Claim, so their format is the one the chapters write."""

import json
import re
from pathlib import Path

import pytest

from attnmem_core import intervals
from attnmem_core.book import chapters, closing, ledger, write_pages
from attnmem_core.book.__main__ import main as readme_main
from attnmem_core.claims import Claim, Condition, of_model
from attnmem_core.convergence import Rule
from attnmem_core.results import Run, processor

RULE = Rule("valid_error", "min")
CONVERGED = RULE.judge([{"step": s, "valid_error": e} for s, e in [(1, 0.5), (2, 0.1), (3, 0.1), (4, 0.1)]])
FALLING = RULE.judge([{"step": s, "valid_error": e} for s, e in [(1, 0.6), (2, 0.4), (3, 0.3), (4, 0.2)]])


def judged(claim_id: str, low: float, high: float, state=CONVERGED, statement="A | B holds."):
    """A claim 'error < 5 %' judged on an interval low … high of one model's error."""
    claim = Claim(claim_id, statement, "1.8%", primary=Condition("m error", "<", 5.0, "%"))
    interval = intervals.Interval((low + high) / 2, low, high, "t over seeds, 3 seeds")
    return claim.judge([of_model("m error", interval, "%", "m", "lower")], {"m": [state, state]})


def write(results_dir: Path, stem: str, profile: str, *judgments) -> dict:
    path = Run(stem, params={"profile": profile}, seeds=[0, 1], device="cpu").write(
        results_dir, metrics={}, claims=list(judgments)
    )
    return json.loads(path.read_text())


@pytest.fixture
def book(tmp_path):
    """Results for chapters 3 (smoke only), 4 (cpu: two claims) and 6 (cpu); none for 5; executed 04 only."""
    results, pages = tmp_path / "results", tmp_path / "executed"
    pages.mkdir()
    write(results, "03_han", "smoke", judged("context-vector-task-bound", 6.0, 9.0))
    write(results, "04_transformer", "cpu", judged("dot-product-faster-than-additive", 1.0, 2.0), judged("x", 3, 7))
    write(results, "06_fast_weights", "cpu", judged("fast-weights-attend-to-recent-past", 3.0, 7.0, FALLING))
    (pages / "04_transformer.ipynb").write_text("{}")
    stems = ["03_han", "04_transformer", "05_convs2s", "06_fast_weights"]
    return results, pages, stems


def test_the_ledger_has_one_row_per_claim_with_counts_labels_and_links(book):
    results, pages, stems = book
    found = chapters.read(results, "cpu", stems)
    text = ledger.page(found, stems, "cpu", pages)
    table = text[text.index(f":name: {ledger.TABLE_NAME}") :]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| paper")]
    assert len(rows) == 4 == sum(len(r.claims) for r in found.values())
    assert "| reproduced | 1 |" in text and "| not reproduced | 1 |" in text and "| inconclusive | 2 |" in text
    assert "| all | 4 |" in text
    han = next(row for row in rows if "context-vector-task-bound" in row)
    assert han.startswith("| 3. Yang et al. 2016 (smoke profile) |") and han.endswith("| [ch. 3](03_han.md) |")
    assert "Chapter 3's results come from the `smoke` profile, not this book's `cpu`" in text
    assert (
        "Chapter 5 (`05_convs2s`) is not in this build's results: run `python -m attnmem_core.runner --only 05`" in text
    )
    transformer = next(row for row in rows if "dot-product-faster-than-additive" in row)
    assert transformer.endswith("| [ch. 4](04_transformer.ipynb#verdicts) |")
    assert "A \\| B holds." in transformer and "1.5 % ± 0.5" in transformer and "its one run converged" in transformer
    fast = next(row for row in rows if "fast-weights" in row)
    assert "not converged: m (2 of 2 seeds)" in fast and "**inconclusive**" in fast


def test_the_closing_chapter_weighs_each_statement_or_names_it_absent(book):
    results, pages, stems = book
    text = closing.page(chapters.read(results, "cpu", stems), pages)
    sections = text.split("\n## ")[1:]
    assert [s.splitlines()[0] for s in sections] == [s.text for s in closing.STATEMENTS]
    by_claim = {s.claim: section for s, section in zip(closing.STATEMENTS, sections)}
    assert "**Verdict: reproduced**" in by_claim["dot-product-faster-than-additive"]
    assert "(04_transformer.ipynb#verdicts)" in by_claim["dot-product-faster-than-additive"]
    assert "**Verdict: not reproduced**" in by_claim["context-vector-task-bound"]
    assert "Ours (from the `smoke` profile, not this book's)" in by_claim["context-vector-task-bound"]
    assert "**Verdict: inconclusive**" in by_claim["fast-weights-attend-to-recent-past"]
    absent = by_claim["positions-matter-less-for-convolutions"]
    assert "**not in this build's results**: run chapter 5 (`python -m attnmem_core.runner --only 05`)" in absent
    assert "Verdict" not in absent
    assert "Of the 4 statements: 1 reproduced, 1 not reproduced, 1 inconclusive, 1 not in this build's results." in text


def test_a_claim_missing_from_a_chapters_results_is_absent_not_made_up(tmp_path):
    write(tmp_path, "06_fast_weights", "cpu", judged("some-other-claim", 1.0, 2.0))
    text = closing.page(chapters.read(tmp_path, "cpu", ["06_fast_weights"]), tmp_path)
    assert text.count("**not in this build's results**") == 4 and "Verdict" not in text


def test_the_book_profiles_file_wins_over_a_newer_one_of_another_profile(tmp_path):
    write(tmp_path, "06_fast_weights", "cpu", judged("a", 1.0, 2.0))
    write(tmp_path, "06_fast_weights", "smoke", judged("b", 1.0, 2.0))
    found = chapters.read(tmp_path, "cpu", ["06_fast_weights"])["06_fast_weights"]
    assert (found.profile, found.other_profile, [c["id"] for c in found.claims]) == ("cpu", False, ["a"])


def test_an_unreadable_results_file_is_named_with_the_fix(tmp_path):
    (tmp_path / "06_fast_weights-cpu.json").write_text('{"claims": [')
    with pytest.raises(ValueError, match=r"06_fast_weights-cpu.json is not a readable results file .*; delete it"):
        chapters.read(tmp_path, "cpu", ["06_fast_weights"])


def test_write_pages_stands_in_for_a_toc_chapter_until_its_notebook_is_executed(book, tmp_path):
    results, pages, _ = book
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: executed/04_transformer\n      - file: executed/05_convs2s\n      - file: executed/ledger\n"
    )
    notebooks = [Path("replications/04_transformer.ipynb"), Path("replications/06_fast_weights.ipynb")]
    written = write_pages(pages, results, "cpu", notebooks, toc=toc, sources=Path("data/sources.json"))
    assert sorted(p.name for p in written) == ["05_convs2s.md", "closing.md", "ledger.md", "reproduce.md"]
    assert "`python -m attnmem_core.runner --only 05`" in (pages / "05_convs2s.md").read_text()
    assert not (pages / "04_transformer.md").exists() and not (pages / "06_fast_weights.md").exists()
    reproduce = (pages / "reproduce.md").read_text()
    assert re.search(r"\| 04_transformer \| \d+ s \|", reproduce) and "| 05_convs2s | not run |" in reproduce
    assert f"| cpu | {processor()} |" in reproduce  # the runs' CPU: another one gives other numbers from the seeds
    (pages / "05_convs2s.ipynb").write_text("{}")
    written = write_pages(pages, results, "cpu", notebooks, toc=toc, sources=Path("data/sources.json"))
    assert not (pages / "05_convs2s.md").exists() and "05_convs2s.md" not in [p.name for p in written]


def test_the_readme_summary_is_regenerated_from_the_results(book, tmp_path):
    results, _, _ = book
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- verdicts: generated -->\nold text\n<!-- /verdicts -->\n\n## next\n")
    assert readme_main(["readme", "--results-dir", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old text" not in text and text.endswith("<!-- /verdicts -->\n\n## next\n")
    counts = "**1 reproduced**, **0 partially**, **1 not reproduced**, **2 inconclusive**"
    assert f"judges 4 claims of 3 papers: {counts}" in text
    assert "Counted from another profile's results: chapter 3 (`smoke`)." in text
    assert "Chapters without results, not counted: 1, 2" in text  # and 5, once its notebook is in
    readme.write_text("# no block\n")
    with pytest.raises(SystemExit):
        readme_main(["readme", "--results-dir", str(results), "--readme", str(readme)])
