"""Nested tuning: search spaces, the headline's rule across configurations, task=tune (one
simulation per job, test seeds only reported, the oracle apart) and headline.tune=true in a study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from studies import SMALL, run_task

import detectors
import scenarios
from detectors.seismic import SeismicDetector
from harness import cli
from harness.analysis.calibrate import Run
from harness.analysis.headline import HeadlineSpec, build_headline
from harness.analysis.headline.folds import choose as headline_choose
from harness.analysis.headline.folds import run_sweeps
from harness.analysis.scoring import ScoringSpec
from harness.analysis.tuning import (
    ORACLE_LABEL,
    SHIPPED,
    TUNED,
    Folded,
    choose,
    configurations,
    fold_picks,
    report,
    select,
)
from harness.run.files import file_mode
from harness.tasks import tune as tune_task
from scenarios.errors import InputError

SPEC = {"_target_": "detectors.seismic.SeismicDetector", "nsta": 5, "nlta": 30, "sample_h": 1.0}


def test_configurations_are_the_shipped_one_then_every_combination():
    search = {"windows": [{"nsta": 2, "nlta": 10}, {"nsta": 5, "nlta": 30}], "sample_h": [1.0, 2.0]}
    configs = configurations(SPEC, search, SeismicDetector, "detector.seismic.search")
    assert [label for label, _ in configs] == [
        "shipped",  # nsta=5, nlta=30, sample_h=1.0 is the shipped configuration: listed once
        "nsta=2, nlta=10, sample_h=1.0",
        "nsta=2, nlta=10, sample_h=2.0",
        "nsta=5, nlta=30, sample_h=2.0",
    ]
    assert configs[2][1] == {**SPEC, "nsta": 2, "nlta": 10, "sample_h": 2.0}


@pytest.mark.parametrize(
    ("search", "field", "words"),
    [
        ({"colour": [1, 2]}, "detector.seismic.search.colour", "not a parameter"),
        ({"windows": [{"nsta": 2, "width": 3}]}, "detector.seismic.search.windows", "'width' is not"),
        ({"sample_h": []}, "detector.seismic.search.sample_h", "non-empty list"),
        ({"sample_h": 2.0}, "detector.seismic.search.sample_h", "non-empty list"),
        ([], "detector.seismic.search", "must map"),
        # values are checked against the parameter's own declaration
        ({"sample_h": [1.0, 0.0]}, "detector.seismic.search.sample_h", "a number of hours > 0; got 0.0"),
        ({"sample_h": [float("nan")]}, "detector.seismic.search.sample_h", "a number of hours > 0; got nan"),
        ({"sample_h": [float("inf")]}, "detector.seismic.search.sample_h", "got inf"),
        ({"sample_h": [True]}, "detector.seismic.search.sample_h", "got True"),
        ({"sample_h": ["2"]}, "detector.seismic.search.sample_h", "got '2'"),
        ({"nsta": [2.5]}, "detector.seismic.search.nsta", "an integer >= 1; got 2.5"),
        ({"method": ["fast"]}, "detector.seismic.search.method", "one of recursive, classic; got 'fast'"),
        ({"windows": [{"nsta": 0, "nlta": 10}]}, "detector.seismic.search.windows.nsta", ">= 1; got 0"),
    ],
)
def test_bad_search_spaces_are_named(search, field, words):
    with pytest.raises(InputError, match=words) as error:
        configurations(SPEC, search, SeismicDetector, "detector.seismic.search")
    assert error.value.field == field


class OldStyle(detectors.Detector):
    """A plugin written before declarations: its own ``__init__`` names its parameters."""

    name = "old_style"

    def __init__(self, limit: float = 1.0) -> None:
        self.limit = limit

    def step(self, obs):  # pragma: no cover - never stepped
        raise AssertionError


def test_a_search_space_of_an_old_style_plugin_is_checked_by_name_only():
    spec = {"_target_": f"{__name__}.OldStyle", "limit": 1.0}
    assert [label for label, _ in configurations(spec, {"limit": [-1.0]}, OldStyle, "d.search")] == [
        "shipped",
        "limit=-1.0",
    ]
    with pytest.raises(InputError, match="'width' is not a parameter; allowed: limit"):
        configurations(spec, {"width": [1]}, OldStyle, "d.search")


def curve(rows) -> pd.DataFrame:
    """Operating-curve rows (threshold, detected of 10 events, false episodes, quiet alert fraction,
    median lead) over ten quiet weeks."""
    frame = pd.DataFrame(
        rows, columns=["threshold", "n_detected", "n_false", "quiet_alert_fraction", "median_lead_h"]
    )
    share = frame["n_detected"] / 10  # every detection 2 h or more ahead here
    return frame.assign(recall=share, warned=share, quiet_h=168.0 * 10, fp_rate=0.0)


def test_choose_across_configurations_is_the_headline_rule():
    spec = HeadlineSpec()  # 1% quiet alerting, 1 false episode per quiet week
    curves = {
        "shipped": curve([(1.0, 6, 2, 0.005, 4.0), (0.5, 9, 40, 0.2, 9.0)]),
        "more": curve([(2.0, 8, 5, 0.004, 1.0), (1.5, 9, 12, 0.006, 3.0)]),  # 12 false in 10 weeks: over
        "earlier": curve([(3.0, 8, 0, 0.001, 6.0)]),  # 8 events too, longer lead
        "copy": curve([(3.0, 8, 0, 0.001, 6.0)]),  # a tie with "earlier": the earlier one wins
    }
    pick = choose(curves, spec)
    assert (pick.config, pick.threshold, pick.feasible) == ("earlier", 3.0, True)
    assert pick.chosen["recall"] == 0.8
    over = {  # nothing within the budget: the nearest point (smallest budget use), marked infeasible
        "a": curve([(1.0, 9, 30, 0.05, 5.0)]),  # budget use 5 (quiet alerting 5% / 1%)
        "b": curve([(1.0, 2, 20, 0.02, 1.0)]),  # budget use 2 (2 false per quiet week / 1)
    }
    pick = choose(over, spec)
    assert (pick.config, pick.feasible, pick.budget_use) == ("b", False, 2.0)
    assert choose({"empty": curve([])}, spec) is None


@pytest.fixture(scope="module")
def runs():
    out = {}
    for seed in (0, 1, 2):
        trace = scenarios.simulate("spike", seed, n_units=4, warmup_days=1, scenario_days=3, onset_day=1.5)
        out[("spike", seed)] = Run.from_trace(trace, detectors.make("utilization").run(trace).score)
    return out


def test_the_shipped_threshold_is_the_headlines_and_informed_beats_blind(runs):
    spec = HeadlineSpec(budget={"quiet_alert_fraction": 0.05, "false_per_quiet_week": 3})
    scoring = ScoringSpec()
    chosen = headline_choose(run_sweeps(runs, scoring, spec.target), [0, 1, 2], spec)
    pick = select({"shipped": runs}, scoring, spec)
    assert (pick.threshold, pick.feasible) == (chosen.threshold, chosen.feasible)
    rng = np.random.default_rng(0)
    blind = {
        k: Run(r.time_h, rng.permutation(r.score), r.dt_h, r.warmup_h, r.events) for k, r in runs.items()
    }
    assert select({"blind": blind, "informed": runs}, scoring, spec).config == "informed"
    assert select({"first": runs, "copy": dict(runs)}, scoring, spec).config == "first"


def compose_config(*overrides: str):
    return cli.compose_checked([*SMALL, "task=tune", "executor=serial", *overrides])[0]


TINY = ("seeds=4", "scenario=[spike,ramp]", "detector=[transport,utilization_busy]")
FEW = "+detector.transport.search={tau_h:[1.0,4.0]}"  # a search: replaces the default one


def test_tune_simulates_each_job_once_and_reports_every_choice(tmp_path, monkeypatch, capsys):
    calls = []
    real = tune_task.simulate_job
    monkeypatch.setattr(tune_task, "simulate_job", lambda job: calls.append(job) or real(job))
    loose = ("headline.budget.quiet_alert_fraction=0.05", "headline.budget.false_per_quiet_week=5")
    cfg = compose_config(*TINY, "tune.announce_above=5", *loose)  # feasible in every fold: paired
    assert tune_task.run(cfg, tmp_path) == 0
    assert len(calls) == 2 * 4  # scenarios x seeds: every configuration ran on the same trace
    assert len(calls[0].detectors) == 10 + 1  # transport's 10 configurations and utilization_busy
    assert "transport searches 10 configurations" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "tuning.csv")
    assert list(table["choice"]) == ["shipped", "tuned", "oracle"] * 2
    assert list(table["chosen_on"]) == ["other folds", "other folds", "scored seeds"] * 2  # 4 folds
    assert table["fold_choices"].str.count("fold ").dropna().eq(4).all()
    for column in ("warned_lo", "warned_hi", "median_lead_h_lo", "false_per_quiet_week_hi"):
        assert column in table
    tuned = table[table["choice"] == "tuned"].set_index("detector")
    assert "transport (tuned) vs transport (shipped)" in tuned.loc["transport", "pair_sentence"]
    assert tuned.loc["utilization_busy", "config"] == "shipped"  # no search: space
    same = "utilization_busy: the tuned choice is the shipped one."
    assert tuned.loc["utilization_busy", "pair_sentence"] == same
    search = pd.read_csv(tmp_path / "search.csv")
    assert len(search[search["detector"] == "transport"]) == 10
    text = (tmp_path / "tuning.md").read_text()
    oracle = text.index(ORACLE_LABEL[1:])  # the oracle rows come after a line saying what they are
    assert "| oracle |" not in text[:oracle] and text[oracle:].count("| oracle |") == 2
    for name in ("tuning.csv", "search.csv", "tuning.md"):  # written honouring the umask
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode()


def perturbed(runs, seeds, alert=False):
    """The runs with the scores of ``seeds`` negated (no alert above a positive threshold), or with
    ``alert`` far above every threshold (an alert at every step)."""
    new = (lambda score: np.full_like(score, 1e9)) if alert else (lambda score: -score)
    return {
        name: {
            key: Run(r.time_h, new(r.score), r.dt_h, r.warmup_h, r.events) if key[1] in seeds else r
            for key, r in by_key.items()
        }
        for name, by_key in runs.items()
    }


def chosen(pick):
    """What a pick chose: configuration, threshold and whether it is within the budget."""
    return (pick.config, pick.threshold, pick.feasible, pick.budget_use)


def test_each_fold_is_chosen_without_its_own_seeds():
    plan = tune_task._plan(compose_config(*TINY, FEW))  # 4 seeds, headline.folds=5: a fold per seed
    runs, errors = tune_task.collect(plan)
    assert not errors and len(plan.folds) == 4
    folded = tune_task.folded_of(plan, "transport", runs, errors)
    scoring, spec = plan.study.scoring, plan.study.headline
    for choice in (SHIPPED, TUNED):
        base = [chosen(p) for p in fold_picks(folded, choice, scoring, spec)]
        for fold in plan.folds:
            for alert in (False, True):  # the fold's own seeds silenced, or alerting throughout
                loud = Folded(perturbed(folded.runs, fold.test, alert), plan.folds)
                changed = [chosen(p) for p in fold_picks(loud, choice, scoring, spec)]
                assert changed[fold.index] == base[fold.index]
                if alert:  # the same change moves the choice of every fold that does see those seeds
                    others = [j for j in range(len(plan.folds)) if j != fold.index]
                    assert all(changed[j] != base[j] for j in others)
    rows = report("transport", folded, scoring, spec, plan.study.stats)
    # the shipped configuration is reported exactly as the headline's row of it
    head = build_headline({"transport": runs["transport"]}, plan.folds, scoring, spec, plan.study.stats)
    shipped = head.table.iloc[0]
    for column in ("threshold", "threshold_fold_median", "feasible", "warned", "warned_lo", "median_lead_h"):
        assert rows[0][column] == shipped[column], column
    # a fold's seeds alerting throughout: scored at the other folds' choice they warn of every event
    loud = report(
        "transport",
        Folded(perturbed(folded.runs, plan.folds[0].test, True), plan.folds),
        scoring,
        spec,
        plan.study.stats,
    )
    assert loud[1]["detected"] > rows[1]["detected"] or rows[1]["detected"] == 1.0
    assert rows[2]["choice"] == "oracle" and rows[2]["chosen_on"] == "scored seeds"


def test_one_fold_keeps_the_single_split():
    plan = tune_task._plan(compose_config(*TINY, FEW, "headline.folds=1"))
    (fold,) = plan.folds
    runs, errors = tune_task.collect(plan)
    assert not errors
    rows, _ = tune_task.tune_detector(plan, "transport", runs, errors)
    test_changed, _ = tune_task.tune_detector(plan, "transport", perturbed(runs, fold.test), errors)
    calibration_changed, _ = tune_task.tune_detector(
        plan, "transport", perturbed(runs, fold.calibration), errors
    )
    test_alerting, _ = tune_task.tune_detector(plan, "transport", perturbed(runs, fold.test, True), errors)
    keys = ("config", "threshold", "feasible", "calibration_recall", "calibration_median_lead_h")
    for choice in (0, 1):  # shipped and tuned: chosen on the calibration seeds
        assert rows[choice]["chosen_on"] == "calibration"
        for changed in (test_changed, test_alerting):
            assert [rows[choice].get(k) for k in keys] == [changed[choice].get(k) for k in keys]
        # the test seeds only report: silenced they detect nothing, alerting throughout everything
        assert test_changed[choice]["detected"] == 0.0 and test_alerting[choice]["detected"] == 1.0
    assert rows[2]["chosen_on"] == "test"  # the oracle: chosen on the test seeds alone
    oracle = ("config", "threshold", "feasible", "detected", "median_lead_h")
    assert [rows[2].get(k) for k in oracle] == [calibration_changed[2].get(k) for k in oracle]
    assert [rows[2].get(k) for k in oracle] != [test_changed[2].get(k) for k in oracle]


STUDY = (*SMALL, "executor=serial", *TINY, FEW, "detector=[transport,utilization_busy]")


def test_a_study_with_headline_tune_stores_its_tuning_once(tmp_path, monkeypatch, capsys):
    assert run_task(tmp_path, *STUDY, "headline.tune=true", "headline.folds=1") == 0
    out = capsys.readouterr().out
    assert out.index("# Headline") < out.index("# Tuning") < out.index("# Scorecard as shipped")
    assert "transport: tuned" in out and "utilization_busy: tuned" not in out  # only detectors with search:
    table = pd.read_csv(tmp_path / "tuning.csv")
    assert list(table["detector"]) == ["transport"] * 3
    head = pd.read_csv(tmp_path / "headline.csv").set_index("detector")
    shipped = table[table["choice"] == "shipped"].iloc[0]
    # with headline.folds=1 tuning uses the headline's one calibration/test split
    assert shipped["threshold"] == head.loc["transport", "threshold_fold_median"]
    assert shipped["warned"] == head.loc["transport", "warned"]
    report = (tmp_path / "report.md").read_text()
    assert "## Tuning" in report and ORACLE_LABEL[1:] in report
    before = {name: (tmp_path / name).read_bytes() for name in tune_task.TUNING_FILES}

    def refuse(plan):
        raise AssertionError("tuned again although nothing changed")

    monkeypatch.setattr(tune_task, "run_tuning", refuse)
    assert run_task(tmp_path, *STUDY, "headline.tune=true", "headline.folds=1") == 0
    assert "transport: tuned" in capsys.readouterr().out
    assert before == {name: (tmp_path / name).read_bytes() for name in tune_task.TUNING_FILES}
    with pytest.raises(AssertionError, match="tuned again"):  # another budget is another tuning
        run_task(
            tmp_path,
            *STUDY,
            "headline.tune=true",
            "headline.folds=1",
            "headline.budget.quiet_alert_fraction=0.05",
        )
    assert not (tmp_path / tune_task.TUNING_KEY).exists()  # files of no key: redone by the next run
    assert run_task(tmp_path, *STUDY) == 0  # headline.tune=false: no tuning files, no section
    assert not any((tmp_path / name).exists() for name in tune_task.TUNING_FILES)
    assert "## Tuning" not in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (("task=tune", "+tune.colour=1"), "tune.colour"),
        (("task=tune", "tune.quiet_alert_fraction=0.02"), "tune.quiet_alert_fraction"),  # removed keys
        (("task=tune", "+tune.false_per_quiet_week=1"), "tune.false_per_quiet_week"),
        (("task=tune", "tune.target=unit_saturation"), "tune.target"),
        (("task=tune", "tune.announce_above=0"), "tune.announce_above"),
        (("task=tune", "executor.cell_timeout_s=10"), "executor.cell_timeout_s"),
        (
            ("task=tune", "+detector.transport.search.pe_critical=[0.1]"),
            "detector.transport.search[",
        ),
        (("task=tune", "+detector.transport.search.tau_h=[-1.0]"), "detector.transport.search.tau_h"),
        (("task=tune", "+detector.transport.search.layer=[plain,mixed]"), "detector.transport.search.layer"),
        (("headline.tune=true", "+detector.transport.search.tau_h=[nan]"), "detector.transport.search.tau_h"),
        (("headline.tune=maybe",), "headline.tune"),
        (("headline.tune=true", "detector=[utilization_busy]"), "headline.tune"),  # nothing declares search:
        (("headline.tune=true", "executor.cell_timeout_s=10"), "executor.cell_timeout_s"),
        (("headline.tune=true", "tune.announce_above=0"), "tune.announce_above"),
    ],
)
def test_bad_tune_settings_are_named(overrides, field):
    with pytest.raises(InputError) as error:
        cli.check([*SMALL, *TINY, *overrides])
    assert error.value.field.startswith(field)


def test_a_stored_tuning_reads_back_as_written(tmp_path):
    names = {"detector": ["null", "transport"], "config": ["shipped", "NA"]}  # not missing values
    table = pd.DataFrame({**names, "recall": [np.nan, -np.inf]})
    tune_task.write_tuning(tmp_path, table, table, "text")
    back = tune_task.read_tuning(tmp_path / "tuning.csv")
    pd.testing.assert_frame_equal(back, table)
