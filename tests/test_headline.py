"""The headline: selection within a false-alarm budget on calibration seeds, the test-seed report,
the paired comparisons and the threshold-free view, on synthetic runs with a known ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from studies import SMALL, run_task, tdbench

from harness.analysis.calibrate import Run, Sweep, split_seeds
from harness.analysis.headline import (
    HeadlineSpec,
    build_headline,
    choose_in_budget,
    pair_sentence,
    partial_auc,
)
from harness.analysis.scoring import ScoringSpec, median_lead
from harness.analysis.statistics import StatisticsSpec, km_median, km_median_ci
from scenarios.errors import InputError
from scenarios.trace import Event

DT, WARMUP, DAYS = 0.25, 24.0, 8
TIME = DT * np.arange(1, int(DAYS * 24 / DT) + 1)
SCORING = ScoringSpec()
STATS = StatisticsSpec(n_resamples=200)
SEEDS = list(range(8))
CALIBRATION, TEST = split_seeds(SEEDS, 0.5, 0)


def events_of(seed: int) -> tuple[Event, ...]:
    """Two breaches per run, at seed-dependent times, each lasting 6 h."""
    rng = np.random.default_rng(1000 + seed)
    onsets = [
        float(np.round(rng.uniform(48, 80) / DT) * DT),
        float(np.round(rng.uniform(120, 170) / DT) * DT),
    ]
    return tuple(Event("utilization_breach", t, t + 6.0, (0,), True) for t in onsets)


def noise(seed: int) -> np.ndarray:
    """Quiet-time scores in [0, 0.5): the same for every detector built from it."""
    return np.random.default_rng(seed).uniform(0.0, 0.5, TIME.size)


def foresight(seed: int, lead_h: float) -> np.ndarray:
    """Noise plus a ramp from 0.5 at onset - lead_h to 1 at onset, held through the breach."""
    score = noise(seed)
    for event in events_of(seed):
        ramp = (event.onset_h - lead_h <= TIME) & (event.onset_h > TIME)
        score[ramp] = 0.5 + 0.5 * (TIME[ramp] - (event.onset_h - lead_h)) / lead_h
        score[(event.onset_h <= TIME) & (event.end_h >= TIME)] = 1.0
    return score


def runs_of(score_for, seeds=SEEDS) -> dict[tuple[str, int], Run]:
    return {("synthetic", s): Run(TIME, score_for(s), DT, WARMUP, events_of(s)) for s in seeds}


def headline(runs: dict, spec: HeadlineSpec | None = None):
    return build_headline(runs, CALIBRATION, TEST, SCORING, spec or HeadlineSpec(), STATS)


def test_an_earlier_copy_with_the_same_false_alarms_ranks_above():
    runs = {"late": runs_of(lambda s: foresight(s, 2.0)), "early": runs_of(lambda s: foresight(s, 6.0))}
    h = headline(runs, HeadlineSpec(references=("late",)))
    table = h.table.set_index("detector")
    assert table["feasible"].all()
    assert table.loc["early", "rank"] == 1 and table.loc["late", "rank"] == 2
    assert table.loc["early", "recall"] == table.loc["late", "recall"] == 1.0
    assert table.loc["early", "median_lead_h"] > table.loc["late", "median_lead_h"]
    assert table.loc["early", "false_per_quiet_week"] == table.loc["late", "false_per_quiet_week"]
    (pair,) = h.pairs.to_dict("records")
    assert pair["detector"] == "early" and pair["recall_diff"] == 0 and pair["lead_diff_h_lo"] > 0
    assert pair["sentence"].endswith("the seeds decide it: early warns earlier on events both detect.")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(duty=st.floats(0.05, 0.6), below=st.floats(0.05, 0.95), seed=st.integers(0, 10**6))
def test_an_always_on_detector_is_infeasible_below_its_alert_fraction(duty, below, seed):
    """Score 1 on a share ``duty`` of the steps, else 0: the threshold 1 alerts that share of quiet
    time (threshold 0 alerts all of it), so any budget below it leaves no feasible threshold."""
    rng = np.random.default_rng(seed)
    schedule = {s: (rng.random(TIME.size) < duty).astype(float) for s in SEEDS}
    runs = runs_of(lambda s: schedule[s])
    at_one = Sweep([runs[k] for k in sorted(runs) if k[1] in CALIBRATION], SCORING).curve([1.0]).iloc[0]
    alerting = at_one["quiet_alert_fraction"]
    generous = 10**6  # false episodes are not the binding limit here
    spec = HeadlineSpec(quiet_alert_fraction=below * alerting, false_per_quiet_week=generous)
    row = headline({"on": runs}, spec).table.iloc[0]
    assert not row["feasible"] and pd.isna(row["rank"])
    assert row["threshold"] == 1.0 and row["budget_use"] == pytest.approx(1 / below)  # the nearest point
    enough = HeadlineSpec(quiet_alert_fraction=alerting, false_per_quiet_week=generous)
    assert headline({"on": runs}, enough).table.iloc[0]["feasible"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), lead=st.floats(1.0, 12.0))
def test_a_data_blind_random_detector_never_outranks_one_that_sees_the_breach_coming(seed, lead):
    blind = np.random.default_rng(seed)
    random_scores = {s: blind.random(TIME.size) for s in SEEDS}
    h = headline(
        {"random": runs_of(lambda s: random_scores[s]), "seer": runs_of(lambda s: foresight(s, lead))}
    )
    table = h.table.set_index("detector")
    assert table.loc["seer", "rank"] == 1
    assert pd.isna(table.loc["random", "rank"]) or table.loc["random", "rank"] > 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), scale=st.floats(0.1, 5.0))
def test_test_seeds_never_influence_selection(seed, scale):
    """Replace every test-seed reading with noise: no chosen threshold (nor anything measured on
    the calibration seeds) moves."""
    runs = {"seer": runs_of(lambda s: foresight(s, 4.0)), "flat": runs_of(noise)}
    rng = np.random.default_rng(seed)

    def scrambled(r: Run) -> Run:
        return Run(r.time_h, scale * rng.random(r.time_h.size), r.dt_h, r.warmup_h, r.events)

    noisy = {d: {k: scrambled(r) if k[1] in TEST else r for k, r in mine.items()} for d, mine in runs.items()}
    chosen = [
        "detector",
        "threshold",
        "feasible",
        "budget_use",
        "calibration_recall",
        "calibration_median_lead_h",
    ]
    a = headline(runs).table.set_index("detector")[chosen[1:]].sort_index()
    b = headline(noisy).table.set_index("detector")[chosen[1:]].sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_test_numbers_are_the_scorers_at_the_chosen_threshold():
    runs = runs_of(lambda s: foresight(s, 3.0))
    h = headline({"seer": runs})
    row = h.table.iloc[0]
    test = [runs[k] for k in sorted(runs) if k[1] in TEST]
    point = Sweep(test, SCORING).curve([row["threshold"]]).iloc[0]
    assert row["recall"] == point["recall"] and row["median_lead_h"] == point["median_lead_h"]
    assert row["quiet_alert_fraction"] == pytest.approx(point["quiet_alert_fraction"], rel=1e-12)
    assert row["false_per_quiet_week"] == pytest.approx(168 * point["n_false"] / point["quiet_h"])
    leads = np.concatenate([r.scored_at(row["threshold"], SCORING).events["lead_h"].to_numpy() for r in test])
    assert row["median_lead_h"] == median_lead(leads)
    assert row["recall_lo"] <= row["recall"] <= row["recall_hi"]
    assert set(h.events["seed"]) == set(TEST) and set(h.cells["seed"]) == set(TEST)


def test_choose_in_budget_ties_and_nearest_point():
    curve = pd.DataFrame(
        {
            "threshold": [1.0, 2.0, 3.0, 4.0],
            "n_false": [50, 2, 2, 0],
            "quiet_h": [168.0] * 4,
            "quiet_alert_fraction": [0.5, 0.005, 0.004, 0.0],
            "n_detected": [10, 8, 8, 1],
            "median_lead_h": [24.0, 3.0, 3.0, -np.inf],
        }
    )
    spec = HeadlineSpec(quiet_alert_fraction=0.01, false_per_quiet_week=2)
    row, feasible = choose_in_budget(curve, spec)
    assert feasible and row["threshold"] == 3.0  # recall tie, lead tie: the higher threshold
    row, feasible = choose_in_budget(curve, HeadlineSpec(quiet_alert_fraction=0.001, false_per_quiet_week=1))
    assert feasible and row["threshold"] == 4.0
    tight = HeadlineSpec(quiet_alert_fraction=0.002, false_per_quiet_week=1)
    row, feasible = choose_in_budget(curve.iloc[:3], tight)
    # budget use: max(0.5 / 0.002, 50) = 250, max(2.5, 2) = 2.5, max(2, 2) = 2: the nearest is 3
    assert not feasible and row["threshold"] == 3.0 and row["budget_use"] == 2.0


def test_partial_auc_is_the_mean_best_recall_over_budgets():
    fraction, recall = np.array([0.0, 0.01, 0.03, 0.2]), np.array([0.2, 0.6, 0.9, 1.0])
    # recall 0.2 on [0, 0.01), 0.6 on [0.01, 0.03), 0.9 on [0.03, 0.05]
    assert partial_auc(fraction, recall, 0.05) == pytest.approx((0.2 * 0.01 + 0.6 * 0.02 + 0.9 * 0.02) / 0.05)
    assert partial_auc(np.array([0.0]), np.array([1.0]), 0.05) == 1.0


def test_km_median_on_censored_data_equals_the_hand_computed_value():
    times = np.array([2.0, 3, 3, 5, 7, 8, 10])
    censored = np.array([False, True, False, False, True, False, True])
    # S(2) = 6/7; S(3) = 6/7 * 5/6 = 5/7 (the censored 3 is still at risk); S(5) = 5/7 * 3/4 = 15/28;
    # 7 censored; S(8) = 15/28 * 1/2 = 15/56 <= 1/2: the median is 8 (the naive median says 5)
    assert km_median(times, censored) == 8.0 and np.median(times) == 5.0
    km = scipy_stats.ecdf(scipy_stats.CensoredData(uncensored=times[~censored], right=times[censored]))
    assert km_median(times, censored) == km.sf.quantiles[np.argmax(km.sf.probabilities <= 0.5)]
    assert km_median(np.array([1.0, 4.0, 5.0]), np.array([False, True, True])) == np.inf  # S stays 2/3
    weights = np.array([[1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0, 1], [2, 0, 0, 0, 0, 0, 1]], float)
    assert km_median(times, censored, weights).tolist() == [8.0, 5.0, 2.0]
    lo, hi = km_median_ci([(times[:4], censored[:4]), (times[4:], censored[4:]), (times, censored)], STATS)
    assert lo <= 8.0 <= hi


def test_pair_sentences_say_whether_the_seeds_decide():
    spec = HeadlineSpec()
    base = {"detector": "a", "reference": "b", "events": 20, "both_detected": 15}
    undecided = {**base, "recall_diff": -0.03, "recall_diff_lo": -0.09, "recall_diff_hi": 0.02,
                 "lead_diff_h": 1.5, "lead_diff_h_lo": -0.5, "lead_diff_h_hi": 3.5}  # fmt: skip
    assert pair_sentence(undecided, spec) == (
        "a vs b at 1% quiet alerting: recall -3 pts [-9, +2], lead +1.5 h [-0.5, +3.5]: "
        "not distinguishable with these seeds."
    )
    earlier = {**undecided, "lead_diff_h_lo": 0.5}
    assert pair_sentence(earlier, spec).endswith(
        "the seeds decide it: a warns earlier on events both detect."
    )


def test_headline_spec_rejects_bad_settings():
    with pytest.raises(InputError, match="headline.budget.quiet_alert_fraction"):
        HeadlineSpec.from_config({"budget": {"quiet_alert_fraction": 2}})
    with pytest.raises(InputError, match="headline.budget.false_per_quiet_week"):
        HeadlineSpec.from_config({"budget": {"false_per_quiet_week": -1}})
    with pytest.raises(InputError, match="headline.budget.colour"):
        HeadlineSpec.from_config({"budget": {"colour": 1}})
    with pytest.raises(InputError, match="headline.target"):
        HeadlineSpec.from_config({"target": "meltdown"})
    with pytest.raises(InputError, match="headline.colour"):
        HeadlineSpec.from_config({"colour": 1})


REQUIRED = ["rank", "detector", "threshold", "feasible", "recall", "recall_lo", "recall_hi", "median_lead_h",
            "median_lead_h_lo", "median_lead_h_hi", "quiet_alert_fraction", "false_per_quiet_week", "fp_rate",
            "partial_auc"]  # fmt: skip


def test_the_study_prints_the_headline_first_and_writes_headline_csv(tmp_path, capsys):
    out = tmp_path / "study"
    args = [*SMALL, "seeds=2", "scenario=[ramp,steady]", "detector=[transport,utilization]",
            "executor=serial", "report.enabled=false", "statistics.n_resamples=100"]  # fmt: skip
    assert run_task(out, *args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Headline\n")
    assert printed.index("# Headline") < printed.index("# Scorecard as shipped")
    assert printed.index("# Scorecard as shipped") < printed.index("# Scorecard at the headline's thresholds")
    table = pd.read_csv(out / "headline.csv")
    assert [c for c in table.columns if c in REQUIRED] == REQUIRED
    assert set(table["detector"]) == {"transport", "utilization"}
    ranked = table[table["feasible"]]
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert (ranked["budget_use"] <= 1).all() and table.loc[~table["feasible"], "rank"].isna().all()


def test_a_single_seed_study_says_why_there_is_no_headline(tmp_path, capsys):
    out = tmp_path / "study"
    args = [
        *SMALL,
        "seeds=1",
        "scenario=[spike]",
        "detector=[utilization]",
        "executor=serial",
        "report.enabled=false",
    ]
    assert run_task(out, *args) == 0
    printed = capsys.readouterr().out
    (line,) = [t for t in printed.splitlines() if t.startswith("No headline")]
    assert "at least 2 seeds" in line and "this study has 1" in line
    assert "# Scorecard as shipped" in printed and "headline's thresholds" not in printed
    assert not (out / "headline.csv").exists() and not (out / "scores.parquet").exists()


def test_a_bad_headline_setting_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    done = tdbench("headline.budget.quiet_alert_fraction=2", f"hydra.run.dir={out}", cwd=tmp_path)
    _, stderr = done.communicate(timeout=300)
    assert done.returncode == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("tdbench: error: headline.budget.quiet_alert_fraction: must be a number in [0, 1]")
    assert not out.exists()
