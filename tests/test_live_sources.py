"""Live sources: the real-time simulation sees the study's observations; a growing file is tailed,
validated row by row and assembled into steps."""

import numpy as np
import pandas as pd
import pytest

from harness.live.file_source import FileSource
from harness.live.sim_source import SimSource
from scenarios import InputError, make, simulate
from scenarios.historical import HistoricalSpec, load_trace, observations_frame
from scenarios.org import OrgConfig

SMALL_ORG = {"n_units": 3, "warmup_days": 0.25, "scenario_days": 0.5}


def test_realtime_simulation_gives_the_studys_observations():
    org = OrgConfig(**SMALL_ORG)
    scenario = make("spike", onset_day=0.1, jitter_h=0.0)
    source = SimSource(scenario, seed=4, org=org, interval_s=1800.0, speed=2000.0)
    batches = []
    while (batch := source.poll()) is not None:
        batches.append(batch)
    trace = simulate(make("spike", onset_day=0.1, jitter_h=0.0), 4, org=org)
    observations = [obs for batch in batches for obs in batch]
    assert [len(b) for b in batches[:-1]] == [2] * (len(batches) - 1)  # two 15-min steps per check
    assert np.array_equal([obs.time_h for obs in observations], trace.time_h)
    assert np.array_equal(np.stack([obs.values for obs in observations]), trace.values)
    assert source.layout.to_dict() == trace.layout.to_dict()


def test_realtime_simulation_is_paced_by_speed():
    """At 36 simulated hours per second, 18 simulated hours take at least half a second."""
    import time

    org = OrgConfig(n_units=2, warmup_days=0, scenario_days=0.75)
    source = SimSource(make("steady"), seed=0, org=org, interval_s=900.0, speed=36.0)
    start = time.monotonic()
    while source.poll() is not None:
        pass
    assert time.monotonic() - start >= 0.5


def trace_rows(n_units=3, days=1.0):
    trace = simulate("spike", seed=1, n_units=n_units, warmup_days=days / 2, scenario_days=days / 2)
    return trace, observations_frame(trace)


def write_csv(path, frame, header=True, mode="w"):
    frame.to_csv(path, index=False, header=header, mode=mode)


class Lines(list):
    def __call__(self, line: str) -> None:
        self.append(line)


def test_rows_are_picked_up_as_they_are_appended(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    write_csv(path, frame.iloc[: 10 * n])
    problems = Lines()
    source = FileSource(path, HistoricalSpec(warmup_h=1.0), interval_s=0.0, report=problems)
    first = source.poll()
    assert [obs.time_h for obs in first] == trace.time_h[:10].tolist()
    assert source.poll() == []
    write_csv(path, frame.iloc[10 * n : 25 * n], header=False, mode="a")
    more = source.poll()
    assert [obs.time_h for obs in more] == trace.time_h[10:25].tolist()
    assert np.array_equal(np.stack([o.values for o in first + more]), trace.values[:25])
    assert problems == []
    assert source.layout.to_dict() == load_trace(path, spec=HistoricalSpec(warmup_h=1.0)).layout.to_dict()


def test_a_line_being_written_waits_for_its_end(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    write_csv(path, frame.iloc[: 2 * n])
    source = FileSource(path, HistoricalSpec(), interval_s=0.0, report=Lines())
    assert len(source.poll()) == 2  # the first step is complete once the second is
    text = frame.iloc[2 * n : 3 * n].to_csv(index=False, header=False)
    with path.open("a") as f:
        f.write(text[:-7])
    assert source.poll() == []  # step 2 needs its last line
    with path.open("a") as f:
        f.write(text[-7:])
    assert [o.time_h for o in source.poll()] == [trace.time_h[2]]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("busy_hours", "abc", "data.busy_hours: non-numeric value 'abc' in row {row}; the row is not scored"),
        ("queue", "-3", "data.queue: negative value -3 in row {row}; counts and hours must be >= 0"),
        ("arrivals", "", "data.arrivals: missing value (NaN or empty) in row {row}"),
        ("completions", "inf", "data.completions: infinite value in row {row}"),
        ("staff", "9", "data.staff: unit '1' has 9 in row {row} but 4 in the first step"),
    ],
)
def test_a_bad_row_is_one_line_and_its_step_is_not_scored(tmp_path, column, value, problem):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    frame = frame.astype({column: object})
    bad = 20 * n + 1  # unit 1 of step 20 (0-based position in the frame)
    frame.iloc[bad, frame.columns.get_loc(column)] = value
    write_csv(path, frame.iloc[: 30 * n])
    problems = Lines()
    source = FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems)
    scored = [obs.time_h for obs in source.poll()]
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem.format(row=bad + 1))
    assert scored == [t for k, t in enumerate(trace.time_h[:30]) if k != 20]


def test_a_row_with_the_wrong_number_of_fields(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    write_csv(path, frame.iloc[:9])
    with path.open("a") as f:
        f.write("1,2,3\n")
    problems = Lines()
    FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems).poll()
    assert problems == ["data: row 10 has 3 fields; the header has 14; the row is not scored"]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("unit", "", "data.unit: missing value (NaN or empty) in row {row}"),
        ("unit", "nowhere", "data.unit: unknown unit 'nowhere' in row {row}; units of the first step: 0, 1"),
        ("time_h", "5.1", "data.time_h: time_h 5.1 in row {row} is off the time grid"),
    ],
)
def test_a_row_that_does_not_say_its_unit_or_step_also_leaves_a_gap(tmp_path, column, value, problem):
    """The row cannot be matched to the unit and step it was meant for, so that unit's row for step
    20 is missing too: a second line says so."""
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    frame = frame.astype({column: object})
    bad = 20 * n + 1
    frame.iloc[bad, frame.columns.get_loc(column)] = value
    write_csv(path, frame.iloc[: 30 * n])
    problems = Lines()
    source = FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems)
    scored = [obs.time_h for obs in source.poll()]
    assert len(problems) == 2, problems
    assert problems[0].startswith(problem.format(row=bad + 1))
    gap = f"data.time_h: no row for unit '1' at time_h {trace.time_h[20]:g}; the step is not scored"
    assert problems[1] == gap
    assert scored == [t for k, t in enumerate(trace.time_h[:30]) if k != 20]


def test_missing_rows_and_skipped_steps_are_reported(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    keep = np.ones(len(frame), dtype=bool)
    keep[5 * n + 2] = False  # unit 2 never reports step 5
    keep[8 * n : 11 * n] = False  # nobody reports steps 8, 9, 10
    write_csv(path, frame.iloc[: 15 * n][keep[: 15 * n]])
    problems = Lines()
    source = FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems)
    scored = [obs.time_h for obs in source.poll()]
    t = trace.time_h
    assert problems == [
        f"data.time_h: no row for unit '2' at time_h {t[5]:g}; the step is not scored",
        f"data.time_h: no rows at time_h {t[8]:g} .. {t[10]:g} (3 steps); not scored",
    ]
    assert scored == [t[k] for k in range(15) if k not in (5, 8, 9, 10)]


def test_rows_out_of_order_are_refused(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    n = trace.layout.n_units
    write_csv(path, frame.iloc[: 6 * n])
    write_csv(path, frame.iloc[[2 * n, 6 * n]], header=False, mode="a")  # an old row, then a new one
    problems = Lines()
    FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems).poll()
    assert len(problems) == 1
    assert problems[0].startswith(f"data.time_h: time_h {trace.time_h[2]:g} in row {6 * n + 1} comes after")


def test_a_growing_parquet_file(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.parquet"
    n = trace.layout.n_units
    frame.iloc[: 4 * n].to_parquet(path, index=False)
    problems = Lines()
    source = FileSource(path, HistoricalSpec(), interval_s=0.0, report=problems)
    assert [o.time_h for o in source.poll()] == trace.time_h[:4].tolist()
    assert source.poll() == []
    bad = frame.iloc[: 9 * n].copy()
    bad.loc[6 * n, "busy"] = -1
    bad.to_parquet(path, index=False)
    assert [o.time_h for o in source.poll()] == [trace.time_h[k] for k in (4, 5, 7, 8)]
    assert problems == [
        f"data.busy: negative value -1 in row {6 * n + 1}; counts and hours must be >= 0; "
        "the row is not scored"
    ]


def test_the_source_must_say_enough_at_startup(tmp_path):
    trace, frame = trace_rows()
    path = tmp_path / "live.csv"
    write_csv(path, frame.drop(columns=["service_rate"]))
    with pytest.raises(InputError, match="service_rate_per_h: task=monitor must know the service rate"):
        FileSource(path, HistoricalSpec(), interval_s=1.0, report=print)
    source = FileSource(path, HistoricalSpec(service_rate_per_h=1.0), interval_s=1.0, report=print)
    assert len(source.poll()) == len(trace)
    write_csv(path, frame.drop(columns=["busy"]))
    with pytest.raises(InputError, match="data: missing column 'busy'"):
        FileSource(path, HistoricalSpec(), interval_s=1.0, report=print)
    with pytest.raises(InputError, match="monitor.source: no such file"):
        FileSource(tmp_path / "none.csv", HistoricalSpec(), interval_s=1.0, report=print)
    pd.DataFrame().to_csv(tmp_path / "empty.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="has no complete header line"):
        FileSource(tmp_path / "empty.csv", HistoricalSpec(), interval_s=1.0, report=print)
