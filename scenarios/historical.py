"""Historical observations: a tidy CSV or parquet file (and optional event labels) -> a validated Trace.

Observations: one row per (time_h, unit) with every field of ``FIELDS``; optional per-unit columns
``staff`` (nominal staff) and ``service_rate`` (tasks per staff-hour). Labels: one row per event
with ``target``, ``onset_h`` and optionally ``end_h`` (empty: still going at the end of the data)
and ``units`` (unit labels separated by ``;``, empty: every unit). Without labels the ground truth
is derived from the observations with the target definitions (``scenarios.truth.derive_events``).

Every problem raises one InputError naming the column, the row (counted from 1, after the header)
and what is allowed.

>>> import tempfile, pathlib
>>> from scenarios import simulate
>>> trace = simulate("spike", seed=0, n_units=3, warmup_days=1, scenario_days=2, onset_day=1)
>>> folder = tempfile.TemporaryDirectory()
>>> path = pathlib.Path(folder.name) / "obs.csv"
>>> write_observations(trace, path)
>>> back = load_trace(path, spec=HistoricalSpec(warmup_h=24.0))
>>> bool((back.values == trace.values).all()), back.truth.events == trace.truth.events
(True, True)
>>> folder.cleanup()
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from pydantic import field_validator

from scenarios.errors import InputError
from scenarios.graph import GraphName, make_graph
from scenarios.params import Section, param
from scenarios.trace import COUNT_FIELDS, FIELDS, Event, Layout, Trace, Truth
from scenarios.truth import TARGETS, TruthSpec, derive_events

REQUIRED = ("time_h", "unit", *FIELDS)
PER_UNIT = ("staff", "service_rate")  # optional columns, one value per unit
LABEL_REQUIRED = ("target", "onset_h")
LABEL_OPTIONAL = ("end_h", "units")
UNIT_SEPARATOR = ";"
MAX_COUNT = 2.0**53  # the largest whole number float64 holds exactly


class HistoricalSpec(Section):
    """What the observations do not say: warm-up, service rate (unless a column gives it), graph."""

    section: ClassVar[str] = "historical"

    warmup_h: float = param(168.0, "leading hours observed by the detectors, not scored", unit="hours", ge=0)
    service_rate_per_h: float | None = param(
        None, "tasks per staff-hour; null: a service_rate column, else estimated from the warm-up", gt=0
    )
    graph: GraphName = param("complete", "distances between units (in order of first appearance)")
    origin: str | None = param(
        None, "date-time of time_h = 0 (e.g. 2025-01-31T00:00): timelines show dates; null: hours"
    )

    @field_validator("origin", mode="before")
    @classmethod
    def _date_time(cls, origin: object) -> object:
        try:
            ok = origin is None or (isinstance(origin, str) and pd.Timestamp(origin) is not pd.NaT)
        except ValueError:
            ok = False
        if not ok:
            raise InputError(
                "historical.origin", f"must be a date-time such as 2025-01-31T00:00 or null; got {origin!r}"
            )
        return origin


def check_columns(names: list[str], where: str) -> None:
    """No column name twice (a reader would silently use one of them)."""
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(where, f"column {name!r} appears more than once; give each column once")
        seen.add(name)


def read_table(path: str | Path, where: str) -> pd.DataFrame:
    """A CSV or parquet file as a frame; unit labels are read as text."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InputError(where, f"must be a .csv or .parquet file; got {str(path)!r}")
    if not path.is_file():
        raise InputError(where, f"no such file {str(path)!r}")
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="") as handle:
                check_columns([name.strip() for name in next(csv.reader(handle), [])], where)
            return pd.read_csv(path, dtype={"unit": str, "units": str, "target": str}, skipinitialspace=True)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(where, f"cannot read {str(path)!r}: {first}") from None


def load_trace(
    data: str | Path | pd.DataFrame,
    labels: str | Path | pd.DataFrame | None = None,
    spec: HistoricalSpec | None = None,
    truth: TruthSpec | None = None,
    name: str | None = None,
) -> Trace:
    """Read (a file, or a frame in the same schema), validate and assemble a Trace; ``name``
    (default: the file's stem; required for a frame) is its scenario."""
    spec, truth = spec or HistoricalSpec(), truth or TruthSpec()
    if name is None and isinstance(data, pd.DataFrame):
        raise InputError("name", "a frame of observations needs a name (its scenario name)")
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, "data")
    typed = isinstance(data, pd.DataFrame) or Path(data).suffix.lower() != ".csv"
    time_h, values, units = observations(frame, typed)
    layout = layout_of(frame, time_h, values, units, spec)
    if labels is not None:
        table = labels if isinstance(labels, pd.DataFrame) else read_table(labels, "labels")
        events = read_labels(table, time_h, layout.dt_h, units)
    else:
        at = lambda f: values[:, FIELDS.index(f), :]  # noqa: E731
        events = derive_events(time_h, at("busy"), at("queue"), at("staff_on_duty"), layout, truth)
    meta = {
        "scenario": name or Path(data).stem,
        "seed": 0,
        "null_control": False,
        "warmup_h": layout.warmup_h,
        "params": {"historical": {"data": _source(data), "labels": _source(labels)}},
        "onsets_h": {},
        "scenario_units": [],
        "unit_labels": units,
        "truth": "labels" if labels is not None else "derived",
    }
    observed_rate = values[:, FIELDS.index("arrivals"), :] / layout.dt_h
    return Trace(time_h, values, layout, meta, Truth(observed_rate, events))


def _source(table: str | Path | pd.DataFrame | None) -> str | None:
    if table is None:
        return None
    return "(frame)" if isinstance(table, pd.DataFrame) else str(table)


def observations(frame: pd.DataFrame, typed: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validated times (T,), values (T, F, N) and unit labels (in order of first appearance);
    ``typed``: as in ``numeric``."""
    check_columns(list(frame.columns), "data")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError("data", f"missing column {missing[0]!r}; required: {', '.join(REQUIRED)}")
    if frame.empty:
        raise InputError("data", "has no rows")
    declared = (
        list(frame["unit"].cat.categories) if isinstance(frame["unit"].dtype, pd.CategoricalDtype) else []
    )
    unit = frame["unit"]
    if unit.isna().any():
        raise InputError("data.unit", f"missing unit label in row {_row(unit.isna())}")
    unit = unit.astype(str)
    codes, labels = pd.factorize(unit)
    labels = [str(u) for u in labels]
    for u in map(str, declared):
        if u not in labels:
            raise InputError("data.unit", f"unit {u!r} has no rows (every declared unit needs observations)")
    numbers = {c: numeric(frame[c], f"data.{c}", typed) for c in ("time_h", *FIELDS)}
    check_counts(numbers)
    time_h = numbers["time_h"]
    grid = check_times(time_h, codes, labels)
    check_staff(numbers, codes, float(grid[1] - grid[0]))
    values = np.empty((len(grid), len(FIELDS), len(labels)))
    rows = np.searchsorted(grid, time_h)
    for k, c in enumerate(FIELDS):
        values[rows, k, codes] = numbers[c]
    return grid, values, labels


def check_counts(numbers: dict[str, np.ndarray]) -> None:
    """Counts are whole numbers from 0 to MAX_COUNT, hours >= 0 and at most MAX_COUNT; not every
    count is zero."""
    for c in FIELDS:
        values = numbers[c]
        for bad, problem in (
            (values < 0, "negative value {:g}{}; counts and hours must be >= 0"),
            (values > MAX_COUNT, "value {:g}{} is too large; at most 2^53 (exact in float64)"),
            (
                (values != np.round(values)) if c in COUNT_FIELDS else np.zeros(0, bool),
                "fractional count {:g}{}; counts are whole numbers",
            ),
        ):
            if bad.any():
                i = int(np.argmax(bad))
                raise InputError(f"data.{c}", problem.format(values[i], f" in row {i + 1}"))
    if not any(numbers[c].any() for c in COUNT_FIELDS):
        raise InputError("data", f"every count is zero ({', '.join(COUNT_FIELDS)}): nothing was observed")


def check_staff(numbers: dict[str, np.ndarray], codes: np.ndarray, dt_h: float) -> None:
    """At most the staff on duty are busy, and a step's busy staff-hours are at most its staff on
    duty (at the step's start or end, whichever is more) times the step."""
    on_duty, busy = numbers["staff_on_duty"], numbers["busy"]
    over = busy > on_duty
    if over.any():
        i = int(np.argmax(over))
        raise InputError(
            "data.busy",
            f"{busy[i]:g} busy staff but {on_duty[i]:g} on duty in row {i + 1}; busy <= staff_on_duty",
        )
    order = np.lexsort((numbers["time_h"], codes))  # each unit's rows in time order
    staff = on_duty[order]
    first = np.r_[True, codes[order][1:] != codes[order][:-1]]
    before = np.where(first, staff, np.r_[staff[:1], staff[:-1]])
    most = np.empty_like(staff)
    most[order] = np.maximum(staff, before)
    hours = numbers["busy_hours"]
    over = hours > most * dt_h * (1 + 1e-9)
    if over.any():
        i = int(np.argmax(over))
        raise InputError(
            "data.busy_hours",
            f"{hours[i]:g} busy staff-hours in row {i + 1} exceed {most[i]:g} staff on duty x the {dt_h:g} h "
            "step; busy_hours <= staff_on_duty x step",
        )


def numeric(column: pd.Series, where: str, typed: bool = False) -> np.ndarray:
    """A column as finite float64, or an InputError naming the first bad row. ``typed``: the column
    comes from a file or frame that stores types (parquet), so text is refused even when it reads
    as numbers (a CSV holds only text)."""
    if is_bool_dtype(column):
        raise InputError(where, f"non-numeric value {column.iloc[0]!r} in row 1")
    if not is_numeric_dtype(column):
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise InputError(where, f"non-numeric value {column.iloc[i]!r} in row {i + 1}")
        if typed:
            raise InputError(
                where, f"numbers stored as text ({column.iloc[0]!r} in row 1); store them as numbers"
            )
        column = converted
    values = column.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        raise InputError(where, f"missing value (NaN or empty) in row {int(np.argmax(np.isnan(values))) + 1}")
    if np.isinf(values).any():
        raise InputError(where, f"infinite value in row {int(np.argmax(np.isinf(values))) + 1}")
    return values


def check_times(time_h: np.ndarray, codes: np.ndarray, labels: list[str]) -> np.ndarray:
    """The common, regular time grid: per unit, times strictly increase in file order, every unit has a
    row at every time, and consecutive times are equally spaced."""
    order = np.argsort(codes, kind="stable")
    t, c = time_h[order], codes[order]
    same_unit = c[1:] == c[:-1]
    step = np.diff(t)
    for bad, what in ((same_unit & (step < 0), "unsorted"), (same_unit & (step == 0), "duplicate")):
        if bad.any():
            j = int(np.argmax(bad)) + 1
            raise InputError(
                "data.time_h",
                f"{what} times for unit {labels[c[j]]!r}: time_h {t[j]:g} in row {order[j] + 1} comes "
                f"after {t[j - 1]:g} in row {order[j - 1] + 1} (each unit's times must strictly increase)",
            )
    grid = np.unique(time_h)
    if grid.size < 2:
        raise InputError("data.time_h", "needs at least 2 distinct times")
    counts = np.bincount(codes, minlength=len(labels))
    for u in np.flatnonzero(counts < grid.size):
        gap = grid[~np.isin(grid, time_h[codes == u])][0]
        raise InputError(
            "data.time_h",
            f"unit {labels[u]!r} has no row at time_h {gap:g} (every unit needs a row at every time)",
        )
    gaps = np.diff(grid)
    dt = gaps[0]
    off = ~np.isclose(gaps, dt, rtol=1e-6, atol=1e-9)
    if off.any():
        j = int(np.argmax(off))
        raise InputError(
            "data.time_h",
            f"irregular time steps: the first step is {dt:g} h, but time_h goes from {grid[j]:g} to "
            f"{grid[j + 1]:g} (every step must be equal)",
        )
    return grid


def layout_of(
    frame: pd.DataFrame, time_h: np.ndarray, values: np.ndarray, units: list[str], spec: HistoricalSpec
) -> Layout:
    """Nominal staff, service rate, distances, step and warm-up for the observed units."""
    dt = float(time_h[1] - time_h[0])
    warmup_end = float(time_h[0] - dt + spec.warmup_h)
    if warmup_end >= time_h[-1]:
        span = time_h[-1] - time_h[0] + dt
        raise InputError(
            "historical.warmup_h", f"{spec.warmup_h:g} h leaves nothing to score: the data cover {span:g} h"
        )
    staff_on_duty = values[:, FIELDS.index("staff_on_duty"), :]
    staff = per_unit(frame, "staff", units, low=0.0)
    if staff is None:
        staff = staff_on_duty.max(axis=0)
    rate = per_unit(frame, "service_rate", units, low=0.0, strict=True)
    if rate is not None and spec.service_rate_per_h is not None:
        raise InputError(
            "historical.service_rate_per_h", "the data has a service_rate column; use one or the other"
        )
    if rate is None:
        rate = np.full(len(units), spec.service_rate_per_h or estimated_rate(time_h, values, warmup_end))
    graph = make_graph(spec.graph, len(units))
    return Layout(staff=staff, service_rate=rate, graph=graph, dt_h=dt, warmup_h=warmup_end)


def per_unit(
    frame: pd.DataFrame, column: str, units: list[str], low: float, strict: bool = False
) -> np.ndarray | None:
    """An optional column holding one value per unit, as an (N,) array in unit order."""
    if column not in frame.columns:
        return None
    values = numeric(frame[column], f"data.{column}")
    bad = values <= low if strict else values < low
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"data.{column}", f"must be {'>' if strict else '>='} {low:g}; got {values[i]:g} in row {i + 1}"
        )
    by_unit = pd.Series(values).groupby(frame["unit"].astype(str).to_numpy(), sort=False)
    spread = by_unit.nunique()
    if (spread > 1).any():
        u = spread.index[int(np.argmax(spread.to_numpy() > 1))]
        raise InputError(f"data.{column}", f"unit {u!r} has more than one value; give one value per unit")
    return by_unit.first().reindex(units).to_numpy(float)


def estimated_rate(time_h: np.ndarray, values: np.ndarray, warmup_end: float) -> float:
    """Tasks per staff-hour during the warm-up: completions / busy staff-hours, pooled over units."""
    warm = time_h <= warmup_end
    busy = values[warm, FIELDS.index("busy_hours"), :].sum()
    if busy <= 0:
        raise InputError(
            "historical.service_rate_per_h",
            "cannot estimate the service rate (no busy hours in the warm-up); set it or add a "
            "service_rate column",
        )
    return float(values[warm, FIELDS.index("completions"), :].sum() / busy)


def read_labels(frame: pd.DataFrame, time_h: np.ndarray, dt_h: float, units: list[str]) -> list[Event]:
    """Validated events from a labels frame; times must lie within the data, units must exist."""
    missing = [c for c in LABEL_REQUIRED if c not in frame.columns]
    if missing:
        allowed = ", ".join((*LABEL_REQUIRED, *LABEL_OPTIONAL))
        raise InputError(
            "labels", f"missing column {missing[0]!r}; columns: {allowed} (end_h, units optional)"
        )
    if frame.empty:
        return []
    target = frame["target"].astype(str).str.strip()
    unknown = ~target.isin(TARGETS)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        raise InputError(
            "labels.target",
            f"unknown target {target.iloc[i]!r} in row {i + 1}; allowed: {', '.join(TARGETS)}",
        )
    onset = numeric(frame["onset_h"], "labels.onset_h")
    end = frame["end_h"] if "end_h" in frame.columns else pd.Series(np.nan, index=frame.index)
    ended = end.notna().to_numpy()
    end = numeric(end.fillna(time_h[-1]), "labels.end_h")
    lo, hi = time_h[0] - dt_h, time_h[-1]
    for name, x in (("onset_h", onset), ("end_h", end)):
        outside = (x < lo) | (x > hi)
        if outside.any():
            i = int(np.argmax(outside))
            raise InputError(
                f"labels.{name}",
                f"time {x[i]:g} in row {i + 1} is outside the data (time_h {lo:g} .. {hi:g})",
            )
    before = end < onset
    if before.any():
        i = int(np.argmax(before))
        raise InputError("labels.end_h", f"{end[i]:g} in row {i + 1} is before its onset {onset[i]:g}")
    index = {u: k for k, u in enumerate(units)}
    raw_units = frame["units"] if "units" in frame.columns else pd.Series(np.nan, index=frame.index)
    events = []
    for i, text in enumerate(raw_units):
        names = [] if pd.isna(text) else [s.strip() for s in str(text).split(UNIT_SEPARATOR) if s.strip()]
        for u in names:
            if u not in index:
                shown = ", ".join(units[:10]) + (", ..." if len(units) > 10 else "")
                raise InputError(
                    "labels.units", f"unknown unit {u!r} in row {i + 1}; units in the data: {shown}"
                )
        members = tuple(sorted(index[u] for u in names)) if names else tuple(range(len(units)))
        events.append(Event(target.iloc[i], float(onset[i]), float(end[i]), members, bool(ended[i])))
    return sorted(events, key=lambda e: (e.onset_h, e.target))


def _row(mask: pd.Series) -> int:
    return int(np.argmax(mask.to_numpy())) + 1


def observations_frame(trace: Trace) -> pd.DataFrame:
    """A trace's observations in the historical schema, with its nominal staff and service rate."""
    frame = trace.to_frame()
    frame["staff"] = np.tile(trace.layout.staff, len(trace))
    frame["service_rate"] = np.tile(trace.layout.service_rate, len(trace))
    return frame[[*REQUIRED, *PER_UNIT]]


def labels_frame(trace: Trace) -> pd.DataFrame:
    """A trace's ground-truth events in the labels schema (empty end_h: still going at the end)."""
    rows = [
        {
            "target": e.target,
            "onset_h": e.onset_h,
            "end_h": e.end_h if e.ended else np.nan,
            "units": UNIT_SEPARATOR.join(map(str, e.units)),
        }
        for e in trace.truth.events
    ]
    return pd.DataFrame(rows, columns=[*LABEL_REQUIRED, *LABEL_OPTIONAL])


def write_observations(trace: Trace, path: str | Path) -> None:
    """Export a (simulated) trace's observations as a historical CSV or parquet file."""
    _write(observations_frame(trace), Path(path))


def write_labels(trace: Trace, path: str | Path) -> None:
    """Export a trace's ground-truth events as a labels CSV or parquet file."""
    _write(labels_frame(trace), Path(path))


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
