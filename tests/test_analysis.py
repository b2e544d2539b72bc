"""The false-positive analysis and the first-alert comparison with the utilization module."""

from __future__ import annotations

import numpy as np
import pandas as pd

import detectors
import scenarios
from harness.analysis.alerts import false_alarm_analysis, first_alert_comparison
from harness.analysis.calibrate import Run, operating_curve
from harness.analysis.scoring import ScoringSpec
from harness.analysis.statistics import StatisticsSpec

SPEC = StatisticsSpec(n_resamples=200)


def test_false_alarm_analysis_pools_the_exact_sweep():
    runs = {}
    for scenario in ("spike", "steady"):
        for seed in range(3):
            trace = scenarios.simulate(scenario, seed, n_units=4, warmup_days=1, scenario_days=2)
            runs[(scenario, seed)] = Run.from_trace(trace, detectors.make("transport").run(trace).score)
    grid = np.array([0.8, 1.0, 1.2])
    table = false_alarm_analysis(runs, ScoringSpec(), grid, "utilization_breach", SPEC, "transport")
    assert set(table["scenario"]) == {"spike", "steady", "ALL"} and len(table) == 9
    pooled = operating_curve(list(runs.values()), ScoringSpec(), "utilization_breach", grid)
    mine = table[table["scenario"] == "ALL"].reset_index(drop=True)
    assert mine["false_episodes"].tolist() == pooled["n_false"].tolist()
    assert mine["episodes"].tolist() == pooled["n_episodes"].tolist()
    np.testing.assert_allclose(mine["not_followed_share"], pooled["fp_rate"])
    shown = mine.dropna(subset=["not_followed_lo"])
    assert len(shown) and (shown.not_followed_lo <= shown.not_followed_hi).all()


def test_first_alert_comparison_pairs_runs():
    cells, episodes = [], []
    firsts = {"transport": [10.0, 11.0, 12.0, None], "utilization": [13.0, 15.0, 12.5, 20.0]}
    for detector, starts in firsts.items():
        for seed, start in enumerate(starts):
            key = f"{detector}{seed}"
            cells.append({"key": key, "scenario": "ramp", "seed": seed, "detector": detector, "status": "ok"})
            if start is not None:
                episodes += [{"key": key, "start_h": start}, {"key": key, "start_h": start + 30}]
    table = first_alert_comparison(pd.DataFrame(cells), pd.DataFrame(episodes), "utilization", SPEC)
    row = table.set_index("scenario").loc["ramp"]
    assert row["detector"] == "transport" and row["runs"] == 4 and row["both_alerted"] == 3
    assert row["only_baseline"] == 1 and row["only_detector"] == 0
    assert row["median_diff_h"] == 3.0 and row["detector_first_share"] == 1.0  # diffs 3, 4, 0.5
    assert row["diff_lo"] <= 3.0 <= row["diff_hi"]
    assert table.set_index("scenario").loc["ALL", "both_alerted"] == 3
