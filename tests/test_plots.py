"""Every figure function draws a readable PNG from a small study's tables, edge cases included."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from studies import SMALL_STUDY, run_task

from harness.analysis.scoring import ScoringSpec
from harness.report import figures
from harness.report.figures.coverage import coverage_curve
from harness.report.palette import palette
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
                "quiet_alert_fraction": np.clip(1.6 - threshold - shift, 0, 1) / 1.2,
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
    assert palette(["b", "a", "c"]) == palette(["c", "b", "a"])


def test_a_default_detector_keeps_its_colour_in_every_run():
    from harness.report.palette import FIXED, PALETTE

    studies = [["transport"], ["transport", "utilization", "mine"], ["burnout", "random", "transport", "z"]]
    assert {palette(names)["transport"] for names in studies} == {FIXED["transport"]}
    assert len(set(FIXED.values())) == len(FIXED) and set(FIXED.values()) <= set(PALETTE)
    assert not set(palette(["a", "b", "c"]).values()) & set(FIXED.values())  # others never look default


def test_palette_has_sixteen_colours_apart_for_colour_blind_viewers():
    """Every pair of the 16 colours stays >= 10 CIELAB units apart for normal vision and the three
    dichromacies (Machado et al. 2009 simulations), and every colour reads as a line on white."""
    from harness.report.figures.style import lightness
    from harness.report.palette import PALETTE

    machado = {
        "normal": np.eye(3),
        "deuteranopia": [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.01182, 0.04294, 0.968881],
        ],
        "protanopia": [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ],
        "tritanopia": [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.3039],
        ],
    }
    srgb = np.array([mpl_rgb(c) for c in PALETTE])
    assert len(set(PALETTE)) == 16
    assert (lightness(srgb) <= 72).all()
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    for name, matrix in machado.items():
        lab = cielab(np.clip(linear @ np.asarray(matrix).T, 0, 1))
        distance = np.linalg.norm(lab[:, None] - lab[None, :], axis=-1) + np.eye(16) * 1e9
        assert distance.min() >= 10.0, name


def mpl_rgb(color: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def cielab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear-light sRGB colours."""
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def test_alert_shading_is_equally_visible_in_every_colour():
    from matplotlib.colors import to_rgb

    from harness.report.figures.style import SHADE_LIGHTNESS, lightness, shade_alpha
    from harness.report.palette import PALETTE

    for color in PALETTE:
        alpha = shade_alpha(color)
        shaded = lightness(alpha * np.array(to_rgb(color)) + (1 - alpha))
        assert SHADE_LIGHTNESS - 2 <= shaded <= SHADE_LIGHTNESS, color


def test_timeline_axes_in_hours_or_dates_with_score_labels(tables, tmp_path, monkeypatch):
    module = sys.modules["harness.report.figures.timeline"]
    drawn = []
    monkeypatch.setattr(module, "save", lambda fig, path: drawn.append(fig) or Path(path))
    timeline = tables["timeline"]
    seed = int(timeline.loc[timeline["scenario"] == "ramp", "seed"].iloc[0])
    kwargs = {
        "events": of_run(tables["events"], "ramp", seed),
        "episodes": of_run(tables["episodes"], "ramp", seed),
        "marks": of_run(tables["timeline_marks"], "ramp", seed),
        "thresholds": score_thresholds(timeline, ScoringSpec()),
        "title": "ramp",
        "score_labels": {"transport": "Pe of the stress layer (dimensionless)"},
    }
    figures.timeline(of_run(timeline, "ramp", seed), tmp_path / "h.png", **kwargs)
    figures.timeline(of_run(timeline, "ramp", seed), tmp_path / "d.png", origin="2025-01-31T06:00", **kwargs)
    hours, dates = drawn
    assert hours.axes[-1].get_xlabel() == "time since run start (h)"
    assert np.allclose(np.diff(hours.axes[-1].get_xticks()) % 24, 0)  # whole days, in hours
    texts = {ax.texts[0].get_text(): [x.get_text() for x in ax.texts] for ax in hours.axes[1:]}
    assert any(text.startswith("Pe of the stress") for text in texts["transport"])  # in the key
    assert "score" in texts["utilization"]  # no label given: "score"
    assert dates.axes[-1].get_xlabel() == "date (time_h 0 = 2025-01-31 06:00:00)"
    dates.canvas.draw()
    at_zero = [t.get_text() for t in dates.axes[-1].get_xticklabels() if t.get_position()[0] == 0]
    assert at_zero == ["31 Jan\n06:00"]


def test_lead_coverage_beside_the_false_alarm_cost(tables, tmp_path):
    rates = pd.DataFrame(
        {"detector": ["transport", "utilization"], "quiet_alert_fraction": [0.8, 0.05], "fp_rate": [0.6, 0.2]}
    )
    check_png(figures.lead_coverage(tables["events"], tmp_path / "coverage.png", false_alarms=rates))


def test_lead_coverage_at_the_headline_marks_infeasible_detectors(tables, tmp_path, monkeypatch):
    module = sys.modules["harness.report.figures.coverage"]
    drawn = []
    monkeypatch.setattr(module, "save", lambda fig, path: drawn.append(fig) or Path(path))
    rates = pd.DataFrame(  # the headline's order: utilization ranked, transport infeasible
        {
            "detector": ["utilization", "transport"],
            "quiet_alert_fraction": [0.004, 0.03],
            "fp_rate": [0.1, 0.3],
        }
    )
    events = tables["events"][tables["events"]["detector"].isin(["transport", "utilization"])]
    figures.lead_coverage(
        events, tmp_path / "c.png", false_alarms=rates, infeasible=["transport"], budget=0.01, title="At"
    )
    (fig,) = drawn
    panel, cost = fig.axes[0], fig.axes[-1]
    colors = palette(events["detector"])
    styles = {
        line.get_color(): line.get_linestyle() for line in panel.get_lines() if line.get_color() != "black"
    }
    assert styles[colors["transport"]] == "--" and styles[colors["utilization"]] == "-"
    assert [t.get_text() for t in cost.get_yticklabels()] == ["utilization", "transport\n(infeasible)"]
    assert [bar.get_hatch() for bar in cost.patches] == [None, "///"]
    assert any(np.allclose(line.get_xdata(), 1.0) for line in cost.get_lines())  # the budget, in %
    assert fig.texts[0].get_text().startswith("At (W(-1 h) is the recall)")
