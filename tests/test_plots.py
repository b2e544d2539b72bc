"""Every figure function draws a readable PNG from a small study's tables, edge cases included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from studies import SMALL_STUDY, run_task

from harness.analysis.scoring import ScoringSpec
from harness.report import figures
from harness.report.figures.coverage import coverage_curve
from harness.report.timelines import score_thresholds


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("study")
    assert run_task(out, *SMALL_STUDY, "report.enabled=true") == 0
    names = ("cells", "events", "episodes", "overhead", "timeline", "timeline_marks")
    tables = {name: pd.read_parquet(out / f"{name}.parquet") for name in names}
    scan = tmp_path_factory.mktemp("scan")
    assert run_task(scan, *SMALL_STUDY, "task=overhead", "overhead.units=[2,8]") == 0
    return {**tables, "overhead_scan": pd.read_parquet(scan / "overhead_scan.parquet")}


def check_png(path: Path, min_width: int = 600) -> None:
    """A real PNG, large enough to read at 100%, and not blank."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    height, width = image.shape[:2]
    assert width >= min_width and height >= 300
    assert image[..., :3].std() > 0.05  # something was drawn


def of_run(frame: pd.DataFrame, scenario: str, seed: int) -> pd.DataFrame:
    return frame[(frame["scenario"] == scenario) & (frame["seed"] == seed)]


def test_timeline(tables, tmp_path):
    timeline, marks = tables["timeline"], tables["timeline_marks"]
    thresholds = score_thresholds(timeline, ScoringSpec())
    assert set(thresholds["detector"]) == {"transport", "utilization", "utilization_busy"}
    assert (
        thresholds.set_index("detector").loc["utilization", "threshold"] == 0.8
    )  # its ORANGE band starts there
    seed = int(timeline.loc[timeline["scenario"] == "ramp", "seed"].iloc[0])
    path = figures.timeline(
        of_run(timeline, "ramp", seed),
        tmp_path / "timeline.png",
        events=of_run(tables["events"], "ramp", seed),
        episodes=of_run(tables["episodes"], "ramp", seed),
        marks=of_run(marks, "ramp", seed),
        thresholds=thresholds,
        title="ramp",
    )
    check_png(path, min_width=1200)


def test_timeline_with_a_configured_threshold(tables, tmp_path):
    timeline = tables["timeline"]
    thresholds = score_thresholds(timeline, ScoringSpec(thresholds={"transport": 1.3}))
    row = thresholds.set_index("detector").loc["transport"]
    assert (row["threshold"], row["source"]) == (1.3, "scoring.thresholds")
    seed = int(timeline.loc[timeline["scenario"] == "steady", "seed"].iloc[0])
    empty = tables["events"].iloc[:0]
    path = figures.timeline(
        of_run(timeline, "steady", seed),
        tmp_path / "t.png",
        events=empty,
        episodes=tables["episodes"].iloc[:0],
        marks=of_run(tables["timeline_marks"], "steady", seed),
        thresholds=thresholds,
        title="steady, no events",
    )
    check_png(path)


@pytest.mark.parametrize("target", ["utilization_breach", "unit_saturation"])
def test_lead_times(tables, tmp_path, target):
    check_png(
        figures.lead_times(
            tables["events"], tmp_path / "lead.png", target=target, scenarios=["ramp", "recovery"]
        )
    )


def test_lead_times_without_events(tables, tmp_path):
    check_png(figures.lead_times(tables["events"].iloc[:0], tmp_path / "lead.png", target="unit_saturation"))


def test_lead_coverage(tables, tmp_path):
    check_png(figures.lead_coverage(tables["events"], tmp_path / "coverage.png"))


def test_coverage_counts_missed_events_in_the_denominator():
    lead = np.array([np.nan, np.nan, 2.0, 10.0])
    assert coverage_curve(lead, np.array([-1.0, 2.0, 5.0, 10.0, 11.0])).tolist() == [
        0.5,
        0.5,
        0.25,
        0.25,
        0.0,
    ]


def test_overhead(tables, tmp_path):
    scan = tables["overhead_scan"]
    assert sorted(scan["n_units"].unique()) == [2, 8] and (scan["error"] == "").all()
    check_png(figures.overhead(scan, tables["overhead"], tmp_path / "overhead.png"))
    check_png(figures.overhead(None, tables["overhead"], tmp_path / "overhead_cells_only.png"))


def test_recovery(tables, tmp_path):
    marks = tables["timeline_marks"]
    relief = marks[marks["mark"] == "relief"].iloc[0]
    seed = int(relief["seed"])
    path = figures.recovery(
        of_run(tables["timeline"], "recovery", seed),
        tmp_path / "recovery.png",
        relief_h=float(relief["time_h"]),
        events=of_run(tables["events"], "recovery", seed),
        thresholds=score_thresholds(tables["timeline"], ScoringSpec()),
        reset_events=tables["events"][tables["events"]["scenario"] == "recovery"],
    )
    check_png(path, min_width=1000)


def operating_curve(split: bool) -> pd.DataFrame:
    rows = []
    for detector, shift in (("transport", 0.0), ("utilization", 0.1)):
        threshold = np.linspace(0.4, 1.6, 40)
        fp = np.clip(1.2 - threshold - shift, 0, 1)
        lead = np.where(threshold > 1.3, -np.inf, 24 - 15 * threshold)
        fp[-3:] = np.nan  # no alerts at the top thresholds: FP rate undefined
        frame = pd.DataFrame(
            {
                "detector": detector,
                "threshold": threshold,
                "recall": 1 - fp / 2,
                "fp_rate": fp,
                "median_lead_h": lead,
            }
        )
        rows += [frame.assign(split=s) for s in ("calibration", "test")] if split else [frame]
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("split", [False, True])
def test_operating_curves(tmp_path, split):
    chosen = pd.DataFrame({"detector": ["transport", "utilization"], "threshold": [0.9, 1.05]})
    check_png(figures.operating_curves(operating_curve(split), tmp_path / "op.png", chosen=chosen))
    check_png(figures.operating_curves(operating_curve(split), tmp_path / "op_plain.png"))


def test_operating_curves_need_their_columns(tmp_path):
    with pytest.raises(ValueError, match="median_lead_h"):
        figures.operating_curves(operating_curve(False).drop(columns="median_lead_h"), tmp_path / "op.png")


def test_palette_is_stable_across_figures():
    assert figures.palette(["b", "a", "c"]) == figures.palette(["c", "b", "a"])
