"""The scorecard with bootstrap CIs, the extended summary, and the study's statistics tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.scorecard import build_scorecard, render_scorecard
from harness.analysis.statistics import StatisticsSpec
from harness.analysis.summary import summarize
from harness.config import Criteria
from harness.report.screen import fit

TDBENCH = str(Path(sys.executable).parent / "tdbench")
SPEC = StatisticsSpec(n_resamples=400)
SEEDS = range(4)
FAMILIES = {"a": "utilization", "b": "spc", "c": "seismic"}  # three of the existing modules


def synthetic_study() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Detector a catches every ramp event 5 h early and misses spike; b the reverse, 1 h early;
    c catches both. FP: a 1 of 2 episodes on odd seeds, b none, c 1 of 4 on odd seeds.
    Overhead: a 1 ms, b 60 ms, c 2 ms."""
    cells, events, overhead = [], [], []
    for seed in SEEDS:
        for scenario, n_events in (("ramp", 2), ("spike", 1)):
            for detector in "abc":
                key = f"{detector}{scenario}{seed}"
                false = {"a": seed % 2, "b": 0, "c": seed % 2}[detector]
                episodes = {"a": 2, "b": 1, "c": 4}[detector]
                cells.append(
                    {
                        "key": key,
                        "scenario": scenario,
                        "seed": seed,
                        "detector": detector,
                        "status": "ok",
                        "n_episodes": episodes,
                        "n_false": false,
                        "quiet_h": 10.0,
                        "alert_quiet_h": 1.0,
                        "null_control": False,
                    }  # fmt: skip
                )
                overhead.append(
                    {
                        "key": key,
                        "detector": detector,
                        "seed": seed,
                        "wall_p99_ms": {"a": 1.0, "b": 60.0, "c": 2.0}[detector],
                    }
                )
                caught = detector == "c" or (detector == "a") == (scenario == "ramp")
                lead = {"a": 5.0, "b": 1.0, "c": 3.0}[detector] if caught else np.nan
                for k in range(n_events):
                    events.append(
                        {
                            "key": key,
                            "scenario": scenario,
                            "seed": seed,
                            "detector": detector,
                            "target": "utilization_breach",
                            "onset_h": 100.0 + k,
                            "detected": caught,
                            "lead_h": lead,
                            "reset_h": 0.0,
                            "reset_censored": False,
                            "jaccard": np.nan,
                        }  # fmt: skip
                    )
    return pd.DataFrame(cells), pd.DataFrame(events), pd.DataFrame(overhead)


def test_scorecard_values_verdicts_and_intervals():
    cells, events, overhead = synthetic_study()
    card = build_scorecard(cells, events, overhead, Criteria(), families=FAMILIES, stats=SPEC).set_index(
        "detector"
    )
    assert card.loc["a", "lead_h"] == 5.0 and card.loc["a", "lead_pass"]  # 2 of 3 events caught, 5 h
    assert card.loc["b", "lead_h"] == -np.inf and not card.loc["b", "lead_pass"]  # 1 of 3: "missed"
    assert card.loc["b", "lead_lo"] == card.loc["b", "lead_hi"] == -np.inf  # every seed alike
    assert card.loc["a", "fp_rate"] == 2 / 8 and not card.loc["a", "fp_pass"]
    assert card.loc["a", "fp_lo"] <= 0.25 <= card.loc["a", "fp_hi"]
    assert card.loc["b", "fp_rate"] == 0 and card.loc["b", "fp_pass"] and card.loc["b", "fp_hi"] == 0
    # a and b each catch a scenario nobody else catches... but c catches both
    assert card["unique_n"].tolist() == [0, 0, 0]
    assert not card.loc["b", "overhead_pass"] and card.loc["b", "overhead_lo"] == 60.0
    without_c = cells["detector"] != "c"
    card2 = build_scorecard(
        cells[without_c],
        events[events.detector != "c"],
        overhead[overhead.detector != "c"],
        Criteria(),
        families=FAMILIES,
        stats=SPEC,
    ).set_index("detector")
    assert card2.loc["a", "unique_scenarios"] == "ramp" and card2.loc["b", "unique_scenarios"] == "spike"
    assert (card2["unique_lo"] == 1).all() and (card2["unique_hi"] == 1).all()
    assert card2["passed"].tolist() == [3, 2]  # a: lead, unique, overhead; b: FP and unique
    text = render_scorecard(card.reset_index(), Criteria(), stats=SPEC)
    assert "| a | 5.00 h [" in text and "PASS" in text and "FAIL" in text and "intervals over seeds" in text


def with_copy(tables, source: str, name: str, **changes):
    """The study's tables plus a copy of detector ``source``'s rows as detector ``name``."""
    out = []
    for frame in tables:
        copy = frame[frame["detector"] == source].assign(detector=name, key=lambda f: name + f["key"])
        if "detected" in frame:
            copy = copy.assign(**changes)
        out.append(pd.concat([frame, copy], ignore_index=True))
    return out


def unique_of(tables, families) -> dict[str, str]:
    card = build_scorecard(*tables, Criteria(), families=families, stats=SPEC)
    return card.set_index("detector")["unique_scenarios"].to_dict()


def test_unique_detection_is_judged_against_the_existing_modules_only():
    tables = [frame[frame["detector"] != "c"] for frame in synthetic_study()]
    assert unique_of(tables, FAMILIES) == {"a": "ramp", "b": "spike"}
    # a new detector (not one of the four modules) that catches everything changes nobody's verdict
    more = with_copy(tables, "a", "t", detected=True, lead_h=4.0)
    assert unique_of(more, {**FAMILIES, "t": "transport"}) == {"a": "ramp", "b": "spike", "t": ""}
    # a second variant of a's module that catches what b catches: b loses, a keeps its own
    variant = with_copy(tables, "b", "a2")
    assert unique_of(variant, {**FAMILIES, "a2": "utilization"}) == {"a": "ramp", "a2": "", "b": ""}
    # events of a null control are chance breaches: catching them alone is no unique detection
    card = build_scorecard(
        *tables, Criteria(), families=FAMILIES, stats=SPEC, null_controls=frozenset({"ramp"})
    )
    assert card.set_index("detector")["unique_scenarios"].to_dict() == {"a": "", "b": "spike"}


def test_scorecard_names_only_the_lead_scenarios_that_ran_and_skips_absent_intervals():
    cells, events, overhead = synthetic_study()
    ramp = cells["scenario"] == "ramp"
    one_seed = (cells["seed"] == 0) & ramp
    card = build_scorecard(
        cells[one_seed], events[(events.seed == 0) & (events.scenario == "ramp")],
        overhead[overhead.seed == 0], Criteria(), families=FAMILIES, stats=SPEC,
    )  # fmt: skip
    text = render_scorecard(card, Criteria(), stats=SPEC)
    assert "utilization_breach; ramp)" in text and "spike" not in text.splitlines()[0]
    assert "Brackets" not in text and "No confidence intervals" in text


def test_verdict_is_marked_when_the_interval_crosses_the_bar():
    cells, events, overhead = synthetic_study()
    card = build_scorecard(
        cells, events, overhead, Criteria(fp_rate=0.2), families=FAMILIES, stats=SPEC
    ).set_index("detector")
    assert card.loc["c", "fp_rate"] == 0.125 and card.loc["c", "fp_lo"] < 0.2 <= card.loc["c", "fp_hi"]
    text = render_scorecard(card.reset_index(), Criteria(fp_rate=0.2), stats=SPEC)
    row = next(line for line in text.splitlines() if line.startswith("| c |"))
    assert "PASS\u2020" in row.split("|")[3]


def test_summary_adds_intervals_and_paired_tests():
    cells, events, _ = synthetic_study()
    cells = cells.assign(null_control=cells["scenario"] == "spike")
    summary = summarize(cells, events, StatisticsSpec(n_resamples=200)).set_index(["detector", "scenario"])
    row = summary.loc[("a", "ALL")]
    assert row["recall_utilization_breach"] == 2 / 3
    assert row["recall_utilization_breach_lo"] == row["recall_utilization_breach_hi"] == 2 / 3
    assert (
        row["lead_coverage_2h_utilization_breach"] == 2 / 3
        and row["lead_coverage_8h_utilization_breach"] == 0
    )
    assert row["null_control_runs"] == 4 and row["null_alarm_rate"] == 1.0


def tdbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TDBENCH, *args], capture_output=True, text=True, timeout=600)


def test_study_prints_and_writes_the_scorecard_with_intervals(tmp_path):
    out = tmp_path / "study"
    done = tdbench(
        "seeds=3", "scenario=[ramp,steady]", "detector=[transport,utilization]", "org.n_units=4",
        "org.warmup_days=1", "org.scenario_days=3", "executor=serial", "progress=false",
        "statistics.n_resamples=200", f"hydra.run.dir={out}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    card = (out / "scorecard.md").read_text()
    table = [line for line in card.splitlines() if line.startswith("| transport |")]
    shown = [line for line in fit(card, "scorecard.md").splitlines() if line.startswith("| transport |")]
    assert table and " [" in table[0] and shown[0] in done.stdout  # printed as it fits 100 columns
    summary = pd.read_csv(out / "summary.csv")
    for metric in ("fp_rate", "recall_utilization_breach", "median_lead_h_utilization_breach"):
        lo, hi = summary[f"{metric}_lo"], summary[f"{metric}_hi"]
        both = lo.notna() & hi.notna()
        assert both.any() and (lo[both] <= hi[both]).all()
    assert not (out / "wilcoxon.csv").exists()  # no event-level tests: the headline's pairs are by seed
    firsts = pd.read_csv(out / "first_alert.csv")
    assert set(firsts["scenario"]) == {"ramp", "steady", "ALL"} and set(firsts["baseline"]) == {"utilization"}


def test_bad_statistics_setting_exits_2(tmp_path):
    out = tmp_path / "never"
    done = tdbench("statistics.method=magic", f"hydra.run.dir={out}")
    assert done.returncode == 2 and done.stderr.startswith("tdbench: error: statistics.method")
    assert not out.exists()
