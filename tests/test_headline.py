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

from detectors.utilization import UtilizationDetector
from harness.analysis.calibrate import Run, Sweep
from harness.analysis.headline import HeadlineSpec, build_headline, make_folds
from harness.analysis.headline.amoc import partial_auc
from harness.analysis.headline.folds import choose_in_budget
from harness.analysis.headline.inference import PAIR_COLUMNS, PairInput, oriented, pair_sentence, pair_table
from harness.analysis.headline.spec import budget_use
from harness.analysis.scoring import ScoringSpec, median_lead
from harness.analysis.statistics import StatisticsSpec, km_median, km_median_ci
from scenarios.errors import InputError
from scenarios.trace import Event

DT, WARMUP, DAYS = 0.25, 24.0, 8
TIME = DT * np.arange(1, int(DAYS * 24 / DT) + 1)
SCORING = ScoringSpec()
STATS = StatisticsSpec(n_resamples=200)
SEEDS = list(range(8))
SPLIT = make_folds(SEEDS, 1, 0.5, 0)  # one calibration/test split
CALIBRATION, TEST = SPLIT[0].calibration, SPLIT[0].test


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


def headline(runs: dict, spec: HeadlineSpec | None = None, folds=SPLIT, **kwargs):
    return build_headline(runs, folds, SCORING, spec or HeadlineSpec(), STATS, **kwargs)


def test_an_earlier_copy_with_the_same_false_alarms_ranks_above():
    runs = {"late": runs_of(lambda s: foresight(s, 1.0)), "early": runs_of(lambda s: foresight(s, 6.0))}
    h = headline(runs, HeadlineSpec(references=("late",)))
    table = h.table.set_index("detector")
    assert table["feasible"].all()
    assert table.loc["early", "rank"] == 1 and table.loc["late", "rank"] == 2
    assert table.loc["early", "detected"] == table.loc["late", "detected"] == 1.0
    # late's ramp starts 1 h ahead (< min_lead_h): only noise crossings in its window warn early
    assert table.loc["early", "warned"] == 1.0 and table.loc["late", "warned"] < 0.5
    assert table.loc["early", "median_lead_h"] > table.loc["late", "median_lead_h"]
    (pair,) = h.pairs.to_dict("records")
    assert pair["detector"] == "early" and pair["warned_diff"] > 0.5 and pair["warned_p_holm"] < 0.05
    assert pair["sentence"].endswith("decided at family-wise 5%: early warns more events ahead.")
    assert h.answer.startswith(
        "At quiet alerting <= 1% and <= 1 false episode(s) per quiet week, warned >= 2 h"
    )
    assert "early 100% [100, 100%], late" in h.answer and h.answer.endswith("early ahead of late.")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    spec = HeadlineSpec(budget={"quiet_alert_fraction": below * alerting, "false_per_quiet_week": generous})
    row = headline({"on": runs}, spec).table.iloc[0]
    assert not row["feasible"] and pd.isna(row["rank"])
    assert row["threshold_fold_median"] == 1.0 and row["budget_use"] == pytest.approx(1 / below)  # nearest
    enough = HeadlineSpec(budget={"quiet_alert_fraction": alerting, "false_per_quiet_week": generous})
    assert headline({"on": runs}, enough).table.iloc[0]["feasible"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), lead=st.floats(3.0, 12.0))
def test_a_data_blind_random_detector_never_outranks_one_that_sees_the_breach_coming(seed, lead):
    blind = np.random.default_rng(seed)
    random_scores = {s: blind.random(TIME.size) for s in SEEDS}
    h = headline(
        {"random": runs_of(lambda s: random_scores[s]), "seer": runs_of(lambda s: foresight(s, lead))}
    )
    table = h.table.set_index("detector")
    assert table.loc["seer", "rank"] == 1
    assert pd.isna(table.loc["random", "rank"]) or table.loc["random", "rank"] > 1


def test_folds_partition_the_seeds_and_each_fold_chooses_on_the_others_only():
    folds = make_folds(SEEDS, 3, 0.5, 7)
    tests = [s for f in folds for s in f.test]
    assert sorted(tests) == SEEDS  # every seed reported once
    assert all(not set(f.calibration) & set(f.test) for f in folds)
    assert all(sorted({*f.calibration, *f.test}) == SEEDS for f in folds)
    assert [f.test for f in make_folds(SEEDS, 3, 0.5, 7)] == [f.test for f in folds]  # deterministic
    assert len(make_folds([0, 1, 2], 5, 0.5, 0)) == 3  # at most one fold per seed
    with pytest.raises(InputError, match="seeds"):
        make_folds([4], 5, 0.5, 0)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), scale=st.floats(0.6, 5.0))
def test_no_seed_scores_a_threshold_it_helped_choose(seed, scale):
    """Replace the readings of one fold's seeds by noise: the threshold that fold is scored at does
    not move (it was chosen on the other folds), while the other folds' thresholds may."""
    folds = make_folds(SEEDS, 4, 0.5, 0)
    runs = {"seer": runs_of(lambda s: foresight(s, 4.0))}
    rng = np.random.default_rng(seed)
    clean = headline(runs, folds=folds).cells
    for fold in folds:
        noisy = {
            k: Run(r.time_h, scale * rng.random(r.time_h.size), r.dt_h, r.warmup_h, r.events)
            if k[1] in fold.test
            else r
            for k, r in runs["seer"].items()
        }
        cells = headline({"seer": noisy}, folds=folds).cells
        at = lambda c, j=fold.index: set(c.loc[c["fold"] == j, "threshold"])  # noqa: E731
        assert at(cells) == at(clean)
        assert set(cells.loc[cells["fold"] == fold.index, "seed"]) == set(fold.test)


def test_the_test_numbers_are_the_scorers_at_each_folds_threshold():
    runs = runs_of(lambda s: foresight(s, 3.0))
    folds = make_folds(SEEDS, 4, 0.5, 0)
    h = headline({"seer": runs}, folds=folds)
    row = h.table.iloc[0]
    scored = []
    for fold in folds:
        (threshold,) = set(h.cells.loc[h.cells["fold"] == fold.index, "threshold"])
        scored += [runs[k].scored_at(threshold, SCORING).events for k in sorted(runs) if k[1] in fold.test]
    leads = np.concatenate([e["lead_h"].to_numpy() for e in scored])
    assert row["median_lead_h"] == median_lead(leads)
    assert row["warned_pooled"] == np.mean(np.nan_to_num(leads, nan=-np.inf) >= 2.0)
    assert row["warned_lo"] <= row["warned"] <= row["warned_hi"]
    assert set(h.events["seed"]) == set(SEEDS) and h.test_seeds == SEEDS


def ladder_run(seed: int) -> Run:
    """Four breaches, alerted 5 h ahead, 1 h ahead, 0.5 h late and never."""
    onsets = [48.0, 100.0, 150.0, 185.0]  # windows (H = 24 h) apart: quiet time between them
    events = tuple(Event("utilization_breach", t, t + 3.0, (0,), True) for t in onsets)
    score = np.zeros(TIME.size)
    for t, start in zip(onsets, (-5.0, -1.0, 0.5, None), strict=True):
        if start is not None:
            score[(t + start <= TIME) & (t + 3.0 >= TIME)] = 1.0
    return Run(TIME, score, DT, WARMUP, events)


def test_warned_before_onset_and_detected_on_a_hand_built_event_set():
    runs = {("ladder", s): ladder_run(s) for s in SEEDS}
    row = headline({"ladder": runs}).table.iloc[0]
    assert row["feasible"] and row["quiet_alert_fraction"] == 0.0
    assert (row["warned"], row["before_onset"], row["detected"]) == (0.25, 0.5, 0.75)
    assert row["warned_pooled"] == 0.25 and row["events"] == 4 * len(TEST)
    assert row["median_lead_h"] == 0.25  # leads 5, 1, -0.5 and a miss, four of each: (1 - 0.5) / 2


def test_flags_circular_and_over_budget_on_the_scored_seeds():
    """A detector clean on the calibration seeds that alerts in quiet time on the test seeds is used
    over its budget where it is reported; the circular flag comes from the caller."""

    def score(seed: int) -> np.ndarray:
        s = foresight(seed, 4.0)
        if seed in TEST:
            s[(TIME > WARMUP) & (TIME % 24 < 6)] = 0.99  # six quiet hours a day
        return s

    h = headline(
        {"leaky": runs_of(score), "seer": runs_of(lambda s: foresight(s, 4.0))}, circular=frozenset({"seer"})
    )
    table = h.table.set_index("detector")
    assert table.loc["leaky", "over_budget_test"] and table.loc["leaky", "budget_use_test"] > 1
    assert not table.loc["seer", "over_budget_test"] and table.loc["seer", "circular"]
    assert not table.loc["leaky", "circular"]
    assert "seer (circular)" in h.answer and "leaky (over budget on the scored seeds)" in h.answer
    assert UtilizationDetector(basis="busy").defines == ("utilization_breach",)
    assert UtilizationDetector().defines == ()


def test_each_unordered_pair_once_and_the_family_adjusted_together():
    rng = np.random.default_rng(3)
    den = rng.integers(1, 4, size=(6, 2)).astype(float)
    inputs = {
        name: PairInput(den, np.minimum(den, rng.integers(0, 4, size=(6, 2))), rng.normal(3, 1, 6), False)
        for name in "abcd"
    }
    table = pair_table(list("abcd"), inputs, HeadlineSpec(references=("a", "b")), STATS)
    assert list(table.columns) == PAIR_COLUMNS
    pairs = [frozenset(p) for p in zip(table["detector"], table["reference"], strict=True)]
    assert len(pairs) == len(set(pairs)) == 5  # a-b, c-a, d-a, c-b, d-b
    flipped = oriented(table, "a", "c")  # stored as c vs a
    stored = table[(table["detector"] == "c") & (table["reference"] == "a")].iloc[0]
    assert (flipped["detector"], flipped["warned_diff"]) == ("a", -stored["warned_diff"])
    assert (flipped["lead_diff_h_lo"], flipped["lead_diff_h_hi"]) == (
        -stored["lead_diff_h_hi"],
        -stored["lead_diff_h_lo"],
    )
    assert oriented(table, "c", "d") is None
    p = np.concatenate([table["warned_p"], table["lead_p"]])
    adjusted = np.concatenate([table["warned_p_holm"], table["lead_p_holm"]])
    assert (adjusted >= p).all() and adjusted.min() == pytest.approx(min(1.0, 10 * p.min()))


def test_choose_in_budget_ties_and_nearest_point():
    curve = pd.DataFrame(
        {
            "threshold": [1.0, 2.0, 3.0, 4.0],
            "n_false": [50, 2, 2, 0],
            "quiet_h": [168.0] * 4,
            "quiet_alert_fraction": [0.5, 0.005, 0.004, 0.0],
            "warned": [1.0, 0.8, 0.8, 0.1],
            "median_lead_h": [24.0, 3.0, 3.0, -np.inf],
        }
    )
    at = lambda spec, c=curve: c.assign(budget_use=budget_use(c, spec))  # noqa: E731
    spec = HeadlineSpec(budget={"quiet_alert_fraction": 0.01, "false_per_quiet_week": 2})
    row, feasible = choose_in_budget(at(spec), spec)
    assert feasible and row["threshold"] == 3.0  # warned tie, lead tie: the higher threshold
    strict = HeadlineSpec(budget={"quiet_alert_fraction": 0.001, "false_per_quiet_week": 1})
    row, feasible = choose_in_budget(at(strict), strict)
    assert feasible and row["threshold"] == 4.0
    tight = HeadlineSpec(budget={"quiet_alert_fraction": 0.002, "false_per_quiet_week": 1})
    row, feasible = choose_in_budget(at(tight, curve.iloc[:3]), tight)
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


def test_pair_sentences_say_whether_the_family_decides():
    spec = HeadlineSpec()
    undecided = {"detector": "a", "reference": "b", "events": 20, "over_budget": [],
                 "warned_diff": -0.03, "warned_diff_lo": -0.09, "warned_diff_hi": 0.02,
                 "warned_p_holm": 0.4, "lead_diff_h": 1.5, "lead_diff_h_lo": -0.5, "lead_diff_h_hi": 3.5,
                 "lead_p_holm": 0.2}  # fmt: skip
    assert pair_sentence(undecided, spec) == (
        "a vs b: warned -3 pts [-9, +2] (Holm p 0.4), median lead +1.5 h [-0.5, +3.5] (Holm p 0.2): "
        "not distinguishable."
    )
    earlier = {**undecided, "lead_p_holm": 0.01, "over_budget": ["b"]}
    assert pair_sentence(earlier, spec).startswith("a vs b (b over budget on the scored seeds): ")
    assert pair_sentence(earlier, spec).endswith("decided at family-wise 5%: a warns earlier.")


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
    with pytest.raises(InputError, match="headline.min_lead_h"):
        HeadlineSpec.from_config({"min_lead_h": -1})
    with pytest.raises(InputError, match="headline.folds"):
        HeadlineSpec.from_config({"folds": 0})


REQUIRED = ["rank", "detector", "threshold", "threshold_fold_median", "threshold_fold_min",
            "threshold_fold_max", "feasible", "circular", "warned", "warned_lo", "warned_hi", "warned_pooled",
            "before_onset",
            "detected", "median_lead_h", "median_lead_h_lo", "median_lead_h_hi", "warned_unit_saturation",
            "quiet_alert_fraction", "false_per_quiet_week", "budget_use_test", "budget_use_test_lo",
            "budget_use_test_hi", "over_budget_test", "arl0_h", "arl0_h_lo", "arl0_h_hi", "fp_rate",
            "partial_auc"]  # fmt: skip


def test_the_study_prints_the_headline_first_and_writes_headline_csv(tmp_path, capsys):
    out = tmp_path / "study"
    args = [*SMALL, "seeds=2", "scenario=[ramp,steady]", "detector=[transport,utilization]",
            "executor=serial", "report.enabled=false", "statistics.n_resamples=100"]  # fmt: skip
    assert run_task(out, *args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "At quiet alerting <= 1% and <= 1 false episode(s) per quiet week, warned >= 2 h"
    )
    answer, _, rest = printed.partition("\n\n")  # the answer's sentence (wrapped), then the headline
    assert "warned >= 2 h" in answer and rest.startswith("# Headline")
    assert printed.index("# Headline") < printed.index("# Scorecard as shipped")
    assert printed.index("# Scorecard as shipped") < printed.index("# Scorecard at the headline's thresholds")
    table = pd.read_csv(out / "headline.csv")
    assert [c for c in table.columns if c in REQUIRED] == REQUIRED
    assert set(table["detector"]) == {"transport", "utilization"}
    ranked = table[table["feasible"]]
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert (ranked["budget_use"] <= 1).all() and table.loc[~table["feasible"], "rank"].isna().all()
    text = (out / "headline.csv").read_text()
    assert "inf" not in text and "missed" not in text  # numeric columns stay numeric: empty when missing
    for name in REQUIRED[2:]:
        assert pd.api.types.is_numeric_dtype(table[name]) or pd.api.types.is_bool_dtype(table[name]), name
    pairs, scenarios = pd.read_csv(out / "headline_pairs.csv"), pd.read_csv(out / "headline_scenarios.csv")
    assert len(pairs) == (1 if table["feasible"].all() else 0)  # transport vs utilization, once
    assert {"warned_p_holm", "lead_p_holm", "sentence"} <= set(pairs.columns)
    assert scenarios.set_index("scenario")["chance_breaches"].to_dict() == {"ramp": False, "steady": True}


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
    expected = "tdbench: error: headline.budget.quiet_alert_fraction: must be a number >= 0 and <= 1"
    assert line.startswith(expected)
    assert not out.exists()
