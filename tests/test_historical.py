"""Historical data -> Trace: the schema, the layout's sources, labels, and every validation error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from studies import run_task

from scenarios import simulate
from scenarios.errors import InputError
from scenarios.historical import (
    HistoricalSpec,
    labels_frame,
    load_trace,
    observations_frame,
    write_labels,
    write_observations,
)
from scenarios.trace import FIELDS
from scenarios.truth import TruthSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPEC = HistoricalSpec(warmup_h=24.0)


def spike_trace():
    return simulate("spike", seed=3, n_units=3, warmup_days=1, scenario_days=2, onset_day=1)


@pytest.fixture(scope="module")
def trace():
    return spike_trace()


@pytest.fixture
def frame(trace):
    return observations_frame(trace)


def write(frame: pd.DataFrame, tmp_path: Path, name: str = "obs.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_round_trip_is_exact(trace, tmp_path, suffix):
    path = tmp_path / f"obs.{suffix}"
    write_observations(trace, path)
    labels = tmp_path / f"labels.{suffix}"
    write_labels(trace, labels)
    for back in (load_trace(path, spec=SPEC), load_trace(path, labels, spec=SPEC)):
        assert np.array_equal(back.values, trace.values)
        assert np.array_equal(back.time_h, trace.time_h)
        assert back.layout.dt_h == trace.layout.dt_h
        assert back.layout.warmup_h == trace.layout.warmup_h
        assert np.array_equal(back.layout.staff, trace.layout.staff)
        assert np.array_equal(back.layout.service_rate, trace.layout.service_rate)
        assert back.layout.graph.to_dict() == trace.layout.graph.to_dict()
        assert back.truth.events == trace.truth.events
    assert any(e.target == "utilization_breach" for e in trace.truth.events)  # the comparison is not vacuous


def test_units_keep_their_labels_in_order_of_first_appearance(frame, tmp_path):
    names = {0: "west", 1: "east", 2: "north"}
    frame = frame.assign(unit=frame["unit"].map(names))
    back = load_trace(write(frame, tmp_path), spec=SPEC)
    assert back.meta["unit_labels"] == ["west", "east", "north"]
    assert np.array_equal(back.queue[:, 1], frame.loc[frame["unit"] == "east", "queue"].to_numpy())


def test_rows_may_be_grouped_by_unit(trace, frame, tmp_path):
    by_unit = frame.sort_values(["unit", "time_h"], kind="stable")
    back = load_trace(write(by_unit, tmp_path), spec=SPEC)
    assert np.array_equal(back.values, trace.values)


def test_nominal_staff_is_inferred_from_staff_on_duty_without_a_column(frame, tmp_path):
    frame = frame.drop(columns="staff")
    one = frame["unit"] == 1
    frame.loc[one, "staff_on_duty"] = 2  # unit 1 never had more than 2 on duty, so never more busy
    frame.loc[one, "busy"] = frame.loc[one, "busy"].clip(upper=2)
    frame.loc[one, "busy_hours"] = frame.loc[one, "busy_hours"].clip(upper=2 * 0.25)
    back = load_trace(write(frame, tmp_path), spec=SPEC)
    assert back.layout.staff.tolist() == [4.0, 2.0, 4.0]


def test_service_rate_from_config_or_estimated_from_the_warmup(frame, tmp_path):
    path = write(frame.drop(columns="service_rate"), tmp_path)
    assert (
        load_trace(
            path, spec=HistoricalSpec(warmup_h=24.0, service_rate_per_h=2.5)
        ).layout.service_rate.tolist()
        == [2.5] * 3
    )
    estimated = load_trace(path, spec=SPEC).layout.service_rate
    warm = frame[frame["time_h"] <= 24.0]
    assert estimated[0] == pytest.approx(warm["completions"].sum() / warm["busy_hours"].sum())
    assert 0.8 < estimated[0] < 1.2  # the simulation's service rate is 1 task per staff-hour
    with pytest.raises(InputError, match="service_rate column; use one or the other"):
        load_trace(write(frame, tmp_path), spec=HistoricalSpec(warmup_h=24.0, service_rate_per_h=2.5))


def test_ring_graph_and_time_origin(frame, tmp_path):
    shifted = frame.assign(time_h=frame["time_h"] + 1000.0)
    back = load_trace(write(shifted, tmp_path), spec=HistoricalSpec(warmup_h=24.0, graph="ring"))
    assert back.layout.warmup_h == 1024.0  # warm-up counts from the start of the data
    assert back.layout.graph.matrix().tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert back.scored().sum() == len(back) - 96  # 24 h of 0.25 h steps are warm-up


def test_labels_schema(trace, frame, tmp_path):
    path = write(frame.assign(unit=frame["unit"].map({0: "a", 1: "b", 2: "c"})), tmp_path)
    labels = pd.DataFrame(
        {
            "target": ["unit_saturation", "utilization_breach"],
            "onset_h": [30.0, 40.0],
            "end_h": [35.5, np.nan],
            "units": ["c; a", np.nan],
        }
    )
    events = load_trace(path, write(labels, tmp_path, "labels.csv"), spec=SPEC).truth.events
    assert [(e.target, e.onset_h, e.end_h, e.units, e.ended) for e in events] == [
        ("unit_saturation", 30.0, 35.5, (0, 2), True),
        ("utilization_breach", 40.0, trace.time_h[-1], (0, 1, 2), False),
    ]


def test_example_files_load():
    trace = load_trace(EXAMPLES / "historical.csv", EXAMPLES / "historical_labels.csv")
    assert trace.meta["unit_labels"] == ["cardiology", "emergency", "oncology", "surgery"]
    assert trace.layout.dt_h == 1.0 and trace.layout.warmup_h == 168.0
    assert len(trace.truth.events) == len(pd.read_csv(EXAMPLES / "historical_labels.csv"))


def test_derived_truth_follows_the_truth_spec(trace, tmp_path):
    path = tmp_path / "obs.csv"
    write_observations(trace, path)
    strict = load_trace(path, spec=SPEC, truth=TruthSpec(utilization_on=0.99, utilization_off=0.9))
    assert len([e for e in strict.truth.events if e.target == "utilization_breach"]) < len(
        [e for e in trace.truth.events if e.target == "utilization_breach"]
    )


# ---------------------------------------------------------------------------------- bad input


def corrupt(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    frame = frame.copy()
    if case == "missing column":
        return frame.drop(columns="queue")
    if case == "nan":
        frame["busy"] = frame["busy"].astype(float)
        frame.loc[7, "busy"] = np.nan
    elif case == "negative count":
        frame.loc[5, "arrivals"] = -1
    elif case == "non-numeric":
        frame["queue"] = frame["queue"].astype(object)
        frame.loc[9, "queue"] = "lots"
    elif case == "unsorted":
        frame = pd.concat(
            [frame.iloc[:3], frame.iloc[6:9], frame.iloc[3:6], frame.iloc[9:]], ignore_index=True
        )
    elif case == "duplicate":
        frame = pd.concat([frame.iloc[:6], frame.iloc[3:]], ignore_index=True)
    elif case == "irregular":
        frame = frame[frame["time_h"] != frame["time_h"].unique()[10]]
    elif case == "unit missing a time":
        frame = frame.drop(index=40)
    elif case == "infinite":
        frame["busy_hours"] = frame["busy_hours"].astype(float)
        frame.loc[3, "busy_hours"] = np.inf
    return frame


CASES = {
    "missing column": ("data", "missing column 'queue'"),
    "nan": ("data.busy", "missing value (NaN or empty) in row 8"),
    "negative count": ("data.arrivals", "negative value -1 in row 6"),
    "non-numeric": ("data.queue", "non-numeric value 'lots' in row 10"),
    "unsorted": ("data.time_h", "unsorted times for unit '0'"),
    "duplicate": ("data.time_h", "duplicate times for unit '0'"),
    "irregular": ("data.time_h", "irregular time steps"),
    "unit missing a time": ("data.time_h", "unit '1' has no row at time_h"),
    "infinite": ("data.busy_hours", "infinite value in row 4"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_observations_name_field_and_problem(frame, tmp_path, case):
    field, problem = CASES[case]
    with pytest.raises(InputError) as error:
        load_trace(write(corrupt(frame, case), tmp_path), spec=SPEC)
    assert error.value.field == field
    assert problem in error.value.problem


def test_unit_with_no_rows(frame, tmp_path):
    units = pd.Categorical(frame["unit"].astype(str), categories=["0", "1", "2", "spare"])
    with pytest.raises(InputError, match="unit 'spare' has no rows"):
        load_trace(write(frame.assign(unit=units), tmp_path, "obs.parquet"), spec=SPEC)


@pytest.mark.parametrize(
    ("labels", "field", "problem"),
    [
        (
            {"target": ["unit_saturation"], "onset_h": [30.0], "units": ["0;7"]},
            "labels.units",
            "unknown unit '7'",
        ),
        ({"target": ["utilization_breach"], "onset_h": [900.0]}, "labels.onset_h", "outside the data"),
        (
            {"target": ["utilization_breach"], "onset_h": [30.0], "end_h": [-4.0]},
            "labels.end_h",
            "outside the data",
        ),
        (
            {"target": ["utilization_breach"], "onset_h": [30.0], "end_h": [29.0]},
            "labels.end_h",
            "before its onset",
        ),
        ({"target": ["meltdown"], "onset_h": [30.0]}, "labels.target", "unknown target 'meltdown'"),
        ({"target": ["utilization_breach"]}, "labels", "missing column 'onset_h'"),
        (
            {"target": ["utilization_breach"], "onset_h": ["noon"]},
            "labels.onset_h",
            "non-numeric value 'noon'",
        ),
    ],
)
def test_bad_labels(frame, tmp_path, labels, field, problem):
    data = write(frame, tmp_path)
    with pytest.raises(InputError) as error:
        load_trace(data, write(pd.DataFrame(labels), tmp_path, "labels.csv"), spec=SPEC)
    assert error.value.field == field
    assert problem in error.value.problem


def test_bad_files_and_settings(frame, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_trace(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="must be a .csv or .parquet file"):
        load_trace(tmp_path / "data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="cannot read"):
        load_trace(tmp_path / "empty.csv")
    with pytest.raises(InputError, match="leaves nothing to score"):
        load_trace(write(frame, tmp_path), spec=HistoricalSpec(warmup_h=72.0))
    with pytest.raises(InputError, match="historical.graph"):
        HistoricalSpec(graph="star")
    with pytest.raises(InputError, match="historical.warmup_h"):
        HistoricalSpec(warmup_h=-1.0)
    staff = frame.assign(staff=np.where(frame["time_h"] > 30, 5, 4))
    with pytest.raises(InputError, match="more than one value"):
        load_trace(write(staff, tmp_path), spec=SPEC)


def test_exports_keep_every_field(trace):
    frame = observations_frame(trace)
    assert list(frame.columns[2:12]) == list(FIELDS)
    assert len(labels_frame(trace)) == len(trace.truth.events)


def impossible(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    frame = frame.copy()
    if case == "more busy than on duty":
        frame.loc[4, "busy"] = frame.loc[4, "staff_on_duty"] + 1
    elif case == "busy hours over staff x step":
        frame["busy_hours"] = frame["busy_hours"].astype(float)
        frame.loc[4, "busy_hours"] = frame.loc[4, "staff_on_duty"] * 0.25 + 1
    elif case == "count of 2^62":
        frame["arrivals"] = frame["arrivals"].astype("int64")
        frame.loc[5, "arrivals"] = 2**62
    elif case == "count of 1e26":
        frame["queue"] = frame["queue"].astype(float)
        frame.loc[5, "queue"] = 1e26
    elif case == "fractional count":
        frame["arrivals"] = frame["arrivals"].astype(float)
        frame.loc[5, "arrivals"] = 2.5
    elif case == "all-zero counts":
        frame[[c for c in FIELDS if c != "busy_hours"]] = 0
        frame["busy_hours"] = 0.0
    return frame


IMPOSSIBLE = {
    "more busy than on duty": ("data.busy", "busy staff but 4 on duty in row 5"),
    "busy hours over staff x step": ("data.busy_hours", "busy staff-hours in row 5 exceed 4 staff on duty"),
    "count of 2^62": ("data.arrivals", "in row 6 is too large; at most 2^53"),
    "count of 1e26": ("data.queue", "value 1e+26 in row 6 is too large"),
    "fractional count": ("data.arrivals", "fractional count 2.5 in row 6; counts are whole numbers"),
    "all-zero counts": ("data", "every count is zero"),
}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_impossible_observations_are_refused(frame, tmp_path, case, suffix):
    field, problem = IMPOSSIBLE[case]
    with pytest.raises(InputError) as error:
        load_trace(write(impossible(frame, case), tmp_path, f"obs.{suffix}"), spec=SPEC)
    assert (error.value.field, problem in error.value.problem) == (field, True), error.value


def test_staff_leaving_within_a_step_is_not_impossible(frame, tmp_path):
    """A step's busy hours may exceed its closing staff x step when staff left during it."""
    frame = frame.copy()
    unit = frame["unit"] == frame.loc[0, "unit"]
    rows = frame.index[unit][40:42]  # staff 4 -> 1 across these two steps; the first still busy
    frame.loc[rows[1], ["staff_on_duty", "busy"]] = [1, 1]
    frame.loc[rows[1], "busy_hours"] = 4 * 0.25
    load_trace(write(frame, tmp_path), spec=SPEC)


def test_numbers_stored_as_text_are_refused_in_a_typed_file(frame, tmp_path):
    frame = frame.assign(time_h=frame["time_h"].astype(str))
    with pytest.raises(InputError, match=r"data.time_h: numbers stored as text \('0.25' in row 1\)"):
        load_trace(write(frame, tmp_path, "obs.parquet"), spec=SPEC)
    load_trace(write(frame, tmp_path, "obs.csv"), spec=SPEC)  # a CSV holds only text


@pytest.mark.parametrize("where", ["csv", "frame"])
def test_a_column_given_twice_is_refused(frame, tmp_path, where):
    twice = pd.concat([frame, frame[["queue"]] * 2], axis=1)
    data = write(twice, tmp_path) if where == "csv" else twice
    with pytest.raises(InputError, match="data: column 'queue' appears more than once"):
        load_trace(data, spec=SPEC, name="twice")


def test_evaluate_without_report_writes_no_report(trace, tmp_path):
    data = tmp_path / "obs.csv"
    write_observations(trace, data)
    out = tmp_path / "run"
    args = ("task=evaluate", f"data={data}", "historical.warmup_h=24", "detector=[utilization]")
    assert run_task(out, *args, "report.enabled=false") == 0
    assert (out / "cells.parquet").is_file() and not (out / "report.md").exists()
    assert not (out / "figures").exists()
