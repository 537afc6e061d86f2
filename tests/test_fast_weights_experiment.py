import pandas as pd
import pytest

from attnmem_core.experiments import fast_weights as fw


def test_plan_covers_table1_both_lambdas_and_the_ablations():
    planned = fw.plan(fw.PROFILES["cpu"], seeds=[0, 1], steps=7)
    assert len(planned) == 2 * (3 * 5 + 2)
    assert {s.steps for _, s in planned} == {7}
    keys = {(v, s.hidden, s.seed) for v, s in planned}
    assert ("alstm", 100, 1) in keys and ("fw λ=0.95", 50, 0) in keys and ("fw S=3", 20, 1) in keys
    lams = {v: s.fast_weights.get("lam") for v, s in planned if v.startswith("fw")}
    assert lams["fw"] == 0.9 and lams["fw λ=0.95"] == 0.95
    assert dict(planned)["fw no layer norm"].fast_weights["layer_norm"] is False


def test_parallel_runs_keep_the_plans_order_and_repeat_from_their_seeds():
    scale = fw.Scale(steps=3, eval_every=3, seeds=(0,), workers=2, valid_size=64, test_size=64)
    runs = [fw.spec(scale, "alstm", 20, 0), fw.spec(scale, "irnn", 20, 0), fw.spec(scale, "fw", 20, 1, lam=0.9)]
    parallel = fw.run_all(runs, device="cpu", workers=2)
    assert [r["label"] for r in parallel] == [r.label for r in runs]
    again = fw.run_one(runs[2])
    assert again["test_error"] == parallel[2]["test_error"] and again["test_nll"] == pytest.approx(parallel[2]["test_nll"])


def test_table1_puts_the_paper_beside_our_mean_and_spread():
    frame = pd.DataFrame([{"variant": v, "R": r, "seed": s, "test_error": e, "test_nll": 0.0, "diverged": False, "seconds": 1.0}
                          for v in ("irnn", "lstm", "alstm", "fw", "fw λ=0.95") for r in (20, 50, 100)
                          for s, e in ((0, 0.1), (1, 0.3))])
    table = fw.table1(frame)
    assert table.loc["Fast weights", "R=20 paper"] == "1.81" and table.loc["IRNN", "R=100 paper"] == "0.34"
    assert table.loc["Fast weights λ=0.95", "R=50 ours"] == "20.00 ± 14.14"
    assert fw.errors(frame)["fw@20"] == [0.1, 0.3]
