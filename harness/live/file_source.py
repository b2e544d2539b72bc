"""A CSV or parquet file in the historical schema (README, "Historical data") that another program
appends to, read as its rows arrive.

New rows are checked as ``task=evaluate`` checks its input (``scenarios.historical``), one row at a
time: a bad row is reported in one line naming its row (counted from 1 after the header) and column
and is not scored, and the monitor keeps going. A step (one ``time_h``) is scored once every unit
has a row for it; a step that cannot be completed (a unit's row was bad or never came) is not
scored, so the detectors see one observation fewer. What the organisation looks like is fixed by the
first step: its units (in order of appearance), their nominal staff (the ``staff`` column, else
their staff on duty then), the service rate (the ``service_rate`` column, else
``historical.service_rate_per_h``) and, from the second step's time, the step ``dt``. A CSV is read
up to its last complete line, so a row being written is read at the next poll; a parquet file is
read again whenever it changes (write it through a temporary file and a rename).

>>> import tempfile, pathlib
>>> folder = tempfile.TemporaryDirectory()
>>> path = pathlib.Path(folder.name) / "live.csv"
>>> row = "{t},{u},1,1,0,0,0,0,0,1,2,0.4,2\\n"
>>> _ = path.write_text(",".join(REQUIRED) + ",staff\\n" + row.format(t=1, u="a") + row.format(t=1, u="b"))
>>> source = FileSource(path, HistoricalSpec(service_rate_per_h=1.0), interval_s=0.01, report=print)
>>> source.poll()  # the first step is complete once the second begins
[]
>>> with path.open("a") as f:
...     _ = f.write(row.format(t=2, u="a") + "2,b,1,x,0,0,0,0,0,1,2,0.4,2\\n")
>>> [obs.time_h for obs in source.poll()]
data.completions: non-numeric value 'x' in row 4; the row is not scored
[1.0]
>>> source.layout.n_units, source.layout.dt_h
(2, 1.0)
>>> folder.cleanup()
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from scenarios.errors import InputError
from scenarios.graph import make_graph
from scenarios.historical import PER_UNIT, REQUIRED, HistoricalSpec
from scenarios.trace import FIELDS, Layout, Observation

NUMERIC = ("time_h", *FIELDS)
ROW = "__row__"  # the column holding each row's number in the file


class CsvTail:
    """The rows appended to a CSV file since the last read, as text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            header = f.readline()
        if not header.endswith(b"\n"):
            raise InputError("monitor.source", f"{str(path)!r} has no complete header line")
        self.columns = [c.strip() for c in next(csv.reader([header.decode("utf-8", errors="replace")]))]
        self._offset = len(header)
        self._rows = 0

    def read(self) -> tuple[pd.DataFrame, list[str]]:
        """New complete lines as a frame of strings (with their row numbers), and the problems of
        lines that could not be split into the header's columns."""
        problems = []
        size = self.path.stat().st_size
        if size < self._offset:
            problems.append(
                f"monitor.source: {str(self.path)!r} shrank to {size} bytes (rewritten?); "
                "reading on from its end"
            )
            self._offset = size
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        records, numbers = [], []
        reader = csv.reader(complete.decode("utf-8", errors="replace").splitlines())
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as error:  # a field over csv.field_size_limit(), a stray quote: this row only
                self._rows += 1
                problems.append(
                    f"data: row {self._rows} cannot be read as CSV ({error}); the row is not scored"
                )
                continue
            if not fields:
                continue  # a blank line is no row, as for task=evaluate
            self._rows += 1
            if len(fields) != len(self.columns):
                problems.append(
                    f"data: row {self._rows} has {len(fields)} fields; the header has {len(self.columns)}"
                    "; the row is not scored"
                )
                continue
            records.append([value.strip() for value in fields])
            numbers.append(self._rows)
        frame = pd.DataFrame(records, columns=self.columns, dtype=object)
        frame[ROW] = numbers
        return frame, problems


class ParquetTail:
    """The rows a parquet file has gained since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.columns = list(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as error:
            raise InputError("monitor.source", f"cannot read {str(path)!r}: {error}") from None
        self._rows = 0
        self._stamp: tuple[int, int] | None = None
        self._failed: tuple[int, int] | None = None

    def read(self) -> tuple[pd.DataFrame, list[str]]:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        empty = pd.DataFrame(columns=[*self.columns, ROW])
        if stamp in (self._stamp, self._failed):
            return empty, []
        try:
            frame = pq.read_table(self.path).to_pandas()
        except (OSError, pa.ArrowException) as error:
            self._failed = stamp  # reported once; read again when the file changes
            return empty, [f"monitor.source: cannot read {str(self.path)!r} now: {error}"]
        self._stamp = stamp
        if len(frame) < self._rows:
            problem = (
                f"monitor.source: {str(self.path)!r} has {len(frame)} rows, fewer than the {self._rows} read"
            )
            self._rows = len(frame)
            return empty, [problem]
        new = frame.iloc[self._rows :].copy()
        new[ROW] = np.arange(self._rows + 1, len(frame) + 1)
        self._rows = len(frame)
        return new, []


def row_problems(frame: pd.DataFrame) -> list[str | None]:
    """Per row, its first problem (in the words of task=evaluate), or None for a valid row."""
    problems: list[str | None] = [None] * len(frame)
    rows = frame[ROW].to_numpy()
    for column in (*REQUIRED, *(c for c in PER_UNIT if c in frame.columns)):
        raw = frame[column]
        for mask, template in column_checks(column, raw):
            for i in np.flatnonzero(mask):
                if problems[i] is None:
                    problems[i] = f"data.{column}: " + template.format(value=raw.iloc[i], row=rows[i])
    return problems


def column_checks(column: str, raw: pd.Series) -> list[tuple[np.ndarray, str]]:
    """(rows failing, message template) for each check of one column, in the order they apply."""
    text = raw.astype(str).str.strip()
    empty = (raw.isna() | (text == "")).to_numpy()
    checks = [(empty, "missing value (NaN or empty) in row {row}")]
    if column == "unit":
        return checks
    if is_bool_dtype(raw):
        return [*checks, (~empty, "non-numeric value {value!r} in row {row}")]
    values = (raw if is_numeric_dtype(raw) else pd.to_numeric(text, errors="coerce")).to_numpy(float)
    checks += [
        (np.isnan(values) & ~empty, "non-numeric value {value!r} in row {row}"),
        (np.isinf(values), "infinite value in row {row}"),
    ]
    if column == "service_rate":
        checks.append((values <= 0, "value {value} in row {row} must be > 0"))
    elif column != "time_h":
        checks.append((values < 0, "negative value {value} in row {row}; counts and hours must be >= 0"))
    return checks


class FileSource:
    """Reads the file every ``interval_s`` wall-clock seconds (the first read at once); ``report``
    receives one line per problem (each also counts as a failed health check)."""

    def __init__(
        self, path: str | Path, spec: HistoricalSpec, interval_s: float, report: Callable[[str], None]
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("monitor.source", f"no such file {str(self.path)!r}")
        self.tail = CsvTail(self.path) if self.path.suffix.lower() == ".csv" else ParquetTail(self.path)
        missing = [c for c in REQUIRED if c not in self.tail.columns]
        if missing:
            raise InputError("data", f"missing column {missing[0]!r}; required: {', '.join(REQUIRED)}")
        self.has_rate = "service_rate" in self.tail.columns
        if self.has_rate and spec.service_rate_per_h is not None:
            raise InputError(
                "historical.service_rate_per_h", "the data has a service_rate column; use one or the other"
            )
        if not self.has_rate and spec.service_rate_per_h is None:
            raise InputError(
                "historical.service_rate_per_h",
                "task=monitor must know the service rate at its first health check: set it (tasks per "
                "staff-hour) or add a service_rate column",
            )
        self.has_staff = "staff" in self.tail.columns
        self.spec = spec
        self.interval_s = interval_s
        self.report = report
        self.layout: Layout | None = None
        self.description = f"wall-clock time, reading {str(self.path)!r}"
        self._polled = False
        self._units: list[str] = []  # the first step's units, in order of appearance
        self._first: dict[str, tuple[np.ndarray, float, float]] = {}  # unit -> values, staff, rate
        self._t0: float | None = None
        self._step = 0  # index of the step being assembled
        self._buffer: dict[int, np.ndarray] = {}  # unit index -> values (F,) of that step
        self._step_time = 0.0  # its time_h as the file writes it
        self._excused: set[str] = set()  # units whose row for that step was bad (already reported)

    def poll(self) -> list[Observation]:
        """Wait for the next read (none before the first), then the steps completed since the last."""
        if self._polled:
            time.sleep(self.interval_s)
        self._polled = True
        frame, problems = self.tail.read()
        for problem in problems:
            self.report(problem)
        out: list[Observation] = []
        if frame.empty:
            return out
        for i, problem in enumerate(row_problems(frame)):
            row = frame.iloc[i]
            if problem is not None:
                self.report(f"{problem}; the row is not scored")
                self._excuse(row)
            else:
                out.extend(self._add(row))
        return out

    # --- assembling steps -------------------------------------------------------------------------

    def _add(self, row: pd.Series) -> list[Observation]:
        unit, t, number = str(row["unit"]).strip(), float(row["time_h"]), int(row[ROW])
        values = np.array([float(row[c]) for c in FIELDS])
        staff = float(row["staff"]) if self.has_staff else float(values[FIELDS.index("staff_on_duty")])
        rate = float(row["service_rate"]) if self.has_rate else float(self.spec.service_rate_per_h)
        if self.layout is None:
            if self._t0 is None or t == self._t0:
                self._t0 = t
                if unit in self._first:
                    return self._bad(f"data.time_h: duplicate time_h {t:g} for unit {unit!r} in row {number}")
                self._units.append(unit)
                self._first[unit] = (values, staff, rate)
                return []
            if t < self._t0:
                return self._bad(self._before(t, self._t0, number))
            first = self._establish(t - self._t0)
            return first + self._add(row)
        k = self._grid_index(t, number)
        if k is None:
            return []
        index = self._units.index(unit) if unit in self._units else None
        if index is None:
            shown = ", ".join(self._units[:10]) + (", ..." if len(self._units) > 10 else "")
            return self._bad(
                f"data.unit: unknown unit {unit!r} in row {number}; units of the first step: {shown}"
            )
        self._advance(k)
        if k < self._step:
            return self._bad(self._before(t, self._time(self._step), number))
        if index in self._buffer:
            return self._bad(f"data.time_h: duplicate time_h {t:g} for unit {unit!r} in row {number}")
        for column, value, known in (
            ("staff", staff, self.layout.staff),
            ("service_rate", rate, self.layout.service_rate),
        ):
            if column in self.tail.columns and value != known[index]:
                self._excused.add(unit)
                return self._bad(
                    f"data.{column}: unit {unit!r} has {value:g} in row {number} but {known[index]:g} in the "
                    "first step; give one value per unit"
                )
        if not self._buffer:
            self._step_time = t  # the file's own time of the step, for the observation
        self._buffer[index] = values
        return self._complete()

    def _excuse(self, row: pd.Series) -> None:
        """A bad row that still says which unit and step it was for: that step's gap is explained."""
        if self.layout is None:
            return
        try:
            unit, t = str(row["unit"]).strip(), float(row["time_h"])
        except (TypeError, ValueError):
            return
        k = self._grid_index(t, None)
        if k is not None and k >= self._step and unit in self._units:
            self._advance(k)
            self._excused.add(unit)

    def _establish(self, dt: float) -> list[Observation]:
        """Fix the layout from the first step; return the first step's observation."""
        units = self._units
        staff = np.array([self._first[u][1] for u in units])
        rate = np.array([self._first[u][2] for u in units])
        graph = make_graph(self.spec.graph, len(units))
        warmup_end = self._t0 - dt + self.spec.warmup_h
        self.layout = Layout(staff=staff, service_rate=rate, graph=graph, dt_h=dt, warmup_h=warmup_end)
        values = np.stack([self._first[u][0] for u in units], axis=1)
        self._step = 1
        return [Observation(self._t0, values)]

    def _time(self, k: int) -> float:
        return self._t0 + k * self.layout.dt_h

    def _grid_index(self, t: float, number: int | None) -> int | None:
        dt = self.layout.dt_h
        k = int(round((t - self._t0) / dt))
        if abs(t - self._time(k)) > 1e-6 * dt + 1e-9:
            if number is not None:
                self._bad(
                    f"data.time_h: time_h {t:g} in row {number} is off the time grid "
                    f"({self._t0:g} + k x {dt:g} h; every step must be equal)"
                )
            return None
        return k

    def _advance(self, k: int) -> None:
        """Move to step k (when it is later), reporting the steps left incomplete or missing."""
        if k <= self._step:
            return
        started = bool(self._buffer or self._excused)
        if started:
            missing = [
                u for i, u in enumerate(self._units) if i not in self._buffer and u not in self._excused
            ]
            if missing:
                self.report(
                    f"data.time_h: no row for unit {', '.join(map(repr, missing))} at time_h "
                    f"{self._time(self._step):g}; the step is not scored"
                )
        first_gap = self._step + 1 if started else self._step
        if first_gap < k:
            span = f"{self._time(first_gap):g}" + ("" if k - first_gap == 1 else f" .. {self._time(k - 1):g}")
            self.report(f"data.time_h: no rows at time_h {span} ({k - first_gap} steps); not scored")
        self._step, self._buffer, self._excused = k, {}, set()

    def _complete(self) -> list[Observation]:
        if len(self._buffer) < len(self._units):
            return []
        values = np.stack([self._buffer[i] for i in range(len(self._units))], axis=1)
        obs = Observation(self._step_time, values)
        self._step, self._buffer, self._excused = self._step + 1, {}, set()
        return [obs]

    def _before(self, t: float, current: float, number: int) -> str:
        return (
            f"data.time_h: time_h {t:g} in row {number} comes after the step being read ({current:g}); "
            "each unit's times must strictly increase"
        )

    def _bad(self, problem: str) -> list[Observation]:
        self.report(f"{problem}; the row is not scored")
        return []
