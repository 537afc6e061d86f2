"""Tables for the book: our numbers beside the paper's, and the claims with their verdicts."""
from __future__ import annotations

import statistics

import pandas as pd

from attnmem_core.claims import Claim


def mean_spread(values, scale: float = 1.0, digits: int = 2) -> str:
    """'1.81' for one value, '1.81 ± 0.40' (sample standard deviation) for several."""
    values = [v * scale for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([{
        "claim": c.id,
        "the paper says": c.statement,
        "paper": c.paper_number,
        "rule (fixed before the run)": c.rule_text(),
        "ours": "; ".join(f"{k} = {mean_spread(v, digits=4)}" for k, v in c.measured.items()),
        "verdict": c.verdict,
    } for c in claims]).set_index("claim")
