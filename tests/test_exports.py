"""CSV exports keep numeric columns numeric: "missed" and "never reached" are empty cells plus a
boolean column, so pandas (and DuckDB) infer numbers, as from the parquet files."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from studies import SMALL, run_task

from harness.report.exports import csv_text


def test_infinities_become_empty_cells_with_a_flag_and_the_column_stays_numeric():
    frame = pd.DataFrame(
        {
            "detector": ["a", "b", "c"],
            "median_lead_h_x": [3.0, -np.inf, np.nan],
            "median_lead_h_x_lo": [-np.inf, -np.inf, np.nan],
            "median_reset_h_x": [1.0, np.inf, 0.0],
            "fp_rate": [0.1, 0.2, np.nan],
        }
    )
    back = pd.read_csv(io.StringIO(csv_text(frame)))
    assert back["median_lead_h_x_missed"].tolist() == [False, True, False]
    assert back["median_lead_h_x_lo_missed"].tolist() == [True, True, False]
    assert back["median_reset_h_x_not_reached"].tolist() == [False, True, False]
    assert back["median_lead_h_x"].isna().tolist() == [False, True, True]  # missed, and no events at all
    numeric = back.drop(columns="detector")
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) or numeric[c].dtype == bool for c in numeric)
    assert list(back.columns[:3]) == ["detector", "median_lead_h_x", "median_lead_h_x_missed"]


def test_a_study_writes_summary_csv_with_numeric_columns(tmp_path):
    args = [*SMALL, "seeds=2", "scenario=[ramp,steady]", "detector=[transport,utilization,cusum]",
            "executor=serial", "report.enabled=false"]  # fmt: skip
    assert run_task(tmp_path, *args) == 0
    for name in ("summary.csv", "first_alert.csv"):
        table = pd.read_csv(tmp_path / name)
        if table.empty:  # a CSV without rows carries no types
            continue
        text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        assert set(text) <= {"detector", "scenario", "target", "reference", "baseline"}, (name, text)
    summary = pd.read_csv(tmp_path / "summary.csv")
    missed = summary["median_lead_h_utilization_breach_missed"]
    assert missed.dtype == bool and summary.loc[missed, "median_lead_h_utilization_breach"].isna().all()
