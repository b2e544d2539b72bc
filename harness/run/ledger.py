"""The ledger: a run folder's source of truth, one SQLite database (``ledger.sqlite``).

Only the study's driver process writes it, one transaction per finished job (``commit_job``)
holding every row of that job: its run (the context the sweeps and timelines need, the step
times and the system series a timeline draws), the run's ground truth, and per cell its row of
``cells``, its ``events``, ``episodes`` and ``overhead`` rows and its per-step ``readings``. A kill
at any moment leaves either the whole job or none of it. The cell key (a content hash) is the
primary key, so a cell cannot be stored twice; a recomputed failed cell replaces its old rows in
the same transaction.

Journal: SQLite's rollback journal (``journal_mode=DELETE``, ``synchronous=FULL``), not WAL. WAL
needs shared memory between the processes that open the database, which a cluster's network
filesystem does not provide; one writer per folder (harness.run.lock) gains nothing from WAL's
concurrent readers, and a commit per job is far from any write-rate limit.

Storage of rows: the scorer's tables have a column per metric and target, and their exports must
keep each column's exact type, so a cell's rows of each table are one Arrow IPC blob (uncompressed:
a blob holds a few kB, which zstd does not shrink and makes ten times slower to read), with the
columns a query needs (key, job, scenario, seed, detector, status, error, seconds) as SQL
columns beside it. Readings are zlib-compressed arrays (score float32, level int8; the step times
once per run, float64): one row per cell instead of one per step keeps a default study's ledger
small and its commits fast.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.analysis.calibrate import Run
from harness.run.files import StorageError, file_mode, storage_error
from harness.run.lock import hold
from scenarios.errors import InputError
from scenarios.trace import Event

LEDGER_FILE = "ledger.sqlite"
SCHEMA_VERSION = "1"
ROW_TABLES = ("cells", "events", "episodes", "overhead")  # exported as <table>.parquet
STATUSES = ("ok", "error", "timeout")
TRUTH_COLUMNS = ["job", "scenario", "seed", "target", "onset_h", "end_h", "ended", "units"]
RUN_COLUMNS = ["job", "scenario", "seed", "dt_h", "warmup_h", "null_control", "n_units"]
_CHUNK = 500  # keys per IN (...) query
EMPTY = pd.DataFrame({"key": pd.Series(dtype=str)})  # a table no job stored rows or columns for

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    job TEXT PRIMARY KEY, scenario TEXT NOT NULL, seed INTEGER NOT NULL, dt_h REAL NOT NULL,
    warmup_h REAL NOT NULL, null_control INTEGER NOT NULL, n_units INTEGER NOT NULL,
    onsets TEXT NOT NULL, time_h BLOB NOT NULL, offered_load BLOB NOT NULL, utilization BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS truth (
    job TEXT NOT NULL REFERENCES runs (job), n INTEGER NOT NULL, target TEXT NOT NULL,
    onset_h REAL NOT NULL, end_h REAL NOT NULL, ended INTEGER NOT NULL, units TEXT NOT NULL,
    PRIMARY KEY (job, n));
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, job TEXT NOT NULL, scenario TEXT NOT NULL, seed INTEGER NOT NULL,
    detector TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN {STATUSES!r}),
    error TEXT NOT NULL, seconds REAL, row BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY REFERENCES cells (key), rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (key TEXT PRIMARY KEY REFERENCES cells (key), rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS overhead (key TEXT PRIMARY KEY REFERENCES cells (key), rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS columns (name TEXT PRIMARY KEY, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
    key TEXT PRIMARY KEY REFERENCES cells (key), score BLOB NOT NULL, level BLOB NOT NULL);
"""

Tables = dict[str, pd.DataFrame]
StoredReadings = tuple[np.ndarray, np.ndarray, np.ndarray]  # time_h float64, score float32, level int8


def pack_frame(frame: pd.DataFrame) -> bytes:
    """A frame as Arrow IPC bytes; the column types survive exactly."""
    return pack_table(arrow_table(frame))


def pack_groups(frame: pd.DataFrame, by: str = "key") -> list[tuple[str, bytes]]:
    """Each group's rows of ``frame`` (in order of first appearance) as Arrow IPC bytes, converted
    to Arrow once for the whole frame (a conversion per group costs several times as much)."""
    frame = frame.reset_index(drop=True)
    table = arrow_table(frame)
    return [
        (str(key), pack_table(table.take(part.index.to_numpy())))
        for key, part in frame.groupby(by, sort=False)
    ]


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def pack_table(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def unpack_frame(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(blob).read_all()


def pack_array(values: np.ndarray, dtype: str) -> bytes:
    return zlib.compress(np.ascontiguousarray(values, dtype=dtype).tobytes(), 6)


def unpack_array(blob: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=dtype).copy()


def stored_score(score: np.ndarray) -> np.ndarray:
    """Scores as every reader of the ledger sees them: the stored float32, as float64. (The study
    scores the detector's own float64 values; readers see them to float32 precision.)"""
    return np.asarray(score, dtype=np.float32).astype(np.float64)


class Ledger:
    """The run folder's ledger. ``Ledger(run_dir)`` opens or creates it for writing and holds the
    folder's lock until ``close()``; ``Ledger.open_existing(run_dir)`` opens it for reading.

    >>> import tempfile
    >>> with Ledger(tempfile.mkdtemp()) as ledger:
    ...     sorted(ledger.ok_keys()), list(ledger.load("cells").columns)
    ([], ['key'])
    """

    def __init__(self, run_dir: str | Path, *, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LEDGER_FILE
        self._lock = hold(self.run_dir) if create else None
        if self._lock is not None:
            self._lock.__enter__()
        try:
            self._conn = self._connect(create)
        except BaseException:
            self._release()
            raise

    @classmethod
    def open_existing(cls, run_dir: str | Path) -> Ledger:
        """The ledger of a finished (or interrupted) run, for reading; InputError when it is missing
        or corrupt."""
        path = Path(run_dir) / LEDGER_FILE
        if not path.is_file():
            raise InputError(
                "run_dir", f"{path} does not exist: not a tdbench run folder (run the study into it first)"
            )
        return cls(run_dir, create=False)

    # ------------------------------------------------------------------------------ connection

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create and not self.path.exists():
            try:  # created here, so its mode honours the umask (SQLite would use 0644)
                self.run_dir.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode()))
            except OSError as error:
                raise storage_error(self.path, error) or error from None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.OperationalError as error:  # "unable to open database file"
            raise StorageError(self.path, str(error)) from None
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            if create:
                conn.executescript(SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            version = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {version and version[0]!r}")
        except sqlite3.DatabaseError as error:
            conn.close()
            if isinstance(error, sqlite3.OperationalError) and _is_storage(error):
                raise StorageError(self.path, str(error)) from None
            raise self._corrupt(error) from None
        return conn

    def _corrupt(self, error: Exception) -> InputError:
        return InputError(
            str(self.path),
            f"not a readable tdbench ledger ({error}); move it away and run the study again into this "
            "folder to recompute it",
        )

    def close(self) -> None:
        self._conn.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- writing

    def commit_job(self, job: str, tables: Tables) -> None:
        """Store every row of one finished job in one transaction.

        ``tables``: ``cells`` (one row per cell of the job), ``events``, ``episodes``, ``overhead``
        (rows with a ``key`` column), ``readings`` (``key``, ``score``, ``level`` arrays per ok cell),
        and, when the simulation succeeded, ``runs`` (one row) and ``truth``. Stored failed cells of
        the same keys are replaced; an ok cell stored before is an error (IntegrityError).
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._write_rows(job, tables)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite rolls back by itself when COMMIT fails on a full disk
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if _is_storage(error):
                raise StorageError(self.path, str(error)) from None
            raise

    def _write_rows(self, job: str, tables: Tables) -> None:
        conn = self._conn
        runs = tables.get("runs")
        if runs is not None and len(runs):
            self._write_run(runs.iloc[0], tables.get("truth"))
        cells = tables["cells"]
        keys = cells["key"].tolist()
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            failed = [
                k
                for (k,) in conn.execute(
                    f"SELECT key FROM cells WHERE status != 'ok' AND key IN ({marks})", chunk
                )
            ]
            for table in ("readings", "overhead", "episodes", "events", "cells"):
                conn.executemany(f"DELETE FROM {table} WHERE key = ?", [(k,) for k in failed])
        rows = []
        table = arrow_table(cells)
        for i, row in enumerate(cells.to_dict("records")):
            seconds = row.get("seconds")
            if row["status"] == "ok":
                blob = pack_table(table.slice(i, 1))
            else:  # a failed cell keeps only the columns it has (no metrics)
                blob = pack_frame(cells.iloc[[i]].dropna(axis=1, how="all"))
            rows.append(
                (
                    row["key"],
                    job,
                    str(row["scenario"]),
                    int(row["seed"]),
                    str(row["detector"]),
                    str(row["status"]),
                    str(row.get("error") or ""),
                    None if seconds is None or pd.isna(seconds) else float(seconds),
                    blob,
                )
            )
        conn.executemany("INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for table in ROW_TABLES[1:]:
            frame = tables.get(table)
            if frame is None:
                continue
            if not len(frame):  # its columns, for an export when no cell has such rows
                conn.execute("INSERT OR IGNORE INTO columns VALUES (?, ?)", (table, pack_frame(frame)))
                continue
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?)",
                pack_groups(frame),
            )
        readings = tables.get("readings")
        if readings is not None and len(readings):
            conn.executemany(
                "INSERT INTO readings VALUES (?, ?, ?)",
                [
                    (str(r.key), pack_array(r.score, "float32"), pack_array(r.level, "int8"))
                    for r in readings.itertuples(index=False)
                ],
            )

    def _write_run(self, run: pd.Series, truth: pd.DataFrame | None) -> None:
        conn = self._conn
        if conn.execute("SELECT 1 FROM runs WHERE job = ?", (run["job"],)).fetchone():
            return  # simulated before, for other cells of the job: the same run, already stored
        conn.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(run["job"]),
                str(run["scenario"]),
                int(run["seed"]),
                float(run["dt_h"]),
                float(run["warmup_h"]),
                int(bool(run["null_control"])),
                int(run["n_units"]),
                json.dumps({str(k): float(v) for k, v in run["onsets"].items()}),
                pack_array(run["time_h"], "float64"),
                pack_array(run["offered_load"], "float64"),
                pack_array(run["utilization"], "float64"),
            ),
        )
        if truth is not None and len(truth):
            conn.executemany(
                "INSERT INTO truth VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(run["job"]),
                        n,
                        str(e.target),
                        float(e.onset_h),
                        float(e.end_h),
                        int(e.ended),
                        e.units,
                    )
                    for n, e in enumerate(truth.itertuples(index=False))
                ],
            )

    # ---------------------------------------------------------------------------------- reading

    def _select(self, sql: str, keys: Iterable[str] | None, column: str = "key") -> list[tuple]:
        """Rows of ``sql`` (which ends in a WHERE clause or none), for ``keys`` or all."""
        try:
            if keys is None:
                return self._conn.execute(sql).fetchall()
            joiner = " AND " if " WHERE " in sql else " WHERE "
            out: list[tuple] = []
            for chunk in _chunks(sorted(set(keys))):
                marks = ",".join("?" * len(chunk))
                out += self._conn.execute(f"{sql}{joiner}{column} IN ({marks})", chunk).fetchall()
            return out
        except sqlite3.DatabaseError as error:
            raise self._corrupt(error) from None

    def load(self, table: str, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """One of ``cells``, ``events``, ``episodes``, ``overhead`` (the exported tables, with
        today's columns, types and row order), ``truth`` or ``runs``, for the cells ``keys`` (all
        when None)."""
        if table == "truth":
            return self._truth(keys)
        if table == "runs":
            return self._runs(keys)
        if table not in ROW_TABLES:
            raise ValueError(f"unknown ledger table {table!r}")
        column = "row" if table == "cells" else "rows"
        blobs = self._select(f"SELECT {column} FROM {table}", keys)
        try:
            parts = [unpack_frame(blob) for (blob,) in blobs]
            if not any(part.num_rows for part in parts):
                columns = self._select(f"SELECT rows FROM columns WHERE name = '{table}'", None)
                parts += [unpack_frame(blob) for (blob,) in columns]  # its columns, without rows
        except (pa.ArrowInvalid, OSError) as error:
            raise self._corrupt(error) from None
        return assemble(parts)

    def _jobs_of(self, keys: Iterable[str] | None) -> list[str] | None:
        if keys is None:
            return None
        return sorted({job for (job,) in self._select("SELECT job FROM cells", keys)})

    def _runs(self, keys: Iterable[str] | None) -> pd.DataFrame:
        rows = self._select(
            "SELECT job, scenario, seed, dt_h, warmup_h, null_control, n_units FROM runs",
            self._jobs_of(keys),
            "job",
        )
        frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
        frame["null_control"] = frame["null_control"].astype(bool)
        return frame.sort_values(["scenario", "seed"], kind="stable").reset_index(drop=True)

    def _truth(self, keys: Iterable[str] | None) -> pd.DataFrame:
        rows = self._select(
            "SELECT t.job, r.scenario, r.seed, t.target, t.onset_h, t.end_h, t.ended, t.units "
            "FROM truth t JOIN runs r ON r.job = t.job",
            self._jobs_of(keys),
            "t.job",
        )
        frame = pd.DataFrame(sorted(rows, key=lambda r: (r[1], r[2], r[0])), columns=TRUTH_COLUMNS)
        frame["ended"] = frame["ended"].astype(bool)
        return frame.reset_index(drop=True)

    def ok_keys(self) -> set[str]:
        return {key for (key,) in self._select("SELECT key FROM cells WHERE status = 'ok'", None)}

    def stored_keys(self) -> set[str]:
        """Keys of every stored cell, whatever its status."""
        return {key for (key,) in self._select("SELECT key FROM cells", None)}

    def readings(self, keys: Iterable[str]) -> dict[str, StoredReadings]:
        """Per ok cell of ``keys``: (time_h float64, score float32, level int8)."""
        rows = self._select(
            "SELECT c.key, r.time_h, g.score, g.level FROM readings g "
            "JOIN cells c ON c.key = g.key JOIN runs r ON r.job = c.job",
            keys,
            "g.key",
        )
        try:
            return {
                key: (
                    unpack_array(time_h, "float64"),
                    unpack_array(score, "float32"),
                    unpack_array(level, "int8"),
                )
                for key, time_h, score, level in rows
            }
        except zlib.error as error:
            raise self._corrupt(error) from None

    def series(self, keys: Iterable[str]) -> dict[str, dict]:
        """Per job of the cells ``keys``: what a timeline draws besides readings (scenario, seed,
        warmup_h, onsets, time_h, offered_load, utilization)."""
        rows = self._select(
            "SELECT job, scenario, seed, warmup_h, onsets, time_h, offered_load, utilization FROM runs",
            self._jobs_of(keys),
            "job",
        )
        return {
            job: {
                "scenario": scenario,
                "seed": int(seed),
                "warmup_h": float(warmup_h),
                "onsets": json.loads(onsets),
                "time_h": unpack_array(time_h, "float64"),
                "offered_load": unpack_array(load, "float64"),
                "utilization": unpack_array(util, "float64"),
            }
            for job, scenario, seed, warmup_h, onsets, time_h, load, util in rows
        }

    def job_of(self, keys: Iterable[str]) -> dict[str, str]:
        return dict(self._select("SELECT key, job FROM cells", keys))

    def runs(self, keys: Iterable[str]) -> dict[str, dict[tuple[str, int], Run]]:
        """detector -> (scenario, seed) -> Run, for every ok cell of ``keys``: the stored readings'
        scores (``stored_score``) and the run's truth."""
        keys = set(keys)
        readings = self.readings(keys)
        cells = self._select(
            "SELECT c.key, c.detector, c.scenario, c.seed, r.dt_h, r.warmup_h, c.job "
            "FROM cells c JOIN runs r ON r.job = c.job WHERE c.status = 'ok'",
            keys,
            "c.key",
        )
        truth = self._truth(keys)
        events: dict[str, tuple[Event, ...]] = {
            job: tuple(
                Event(
                    e.target,
                    float(e.onset_h),
                    float(e.end_h),
                    tuple(int(u) for u in str(e.units).split(",") if u),
                    bool(e.ended),
                )
                for e in group.itertuples(index=False)
            )
            for job, group in truth.groupby("job", sort=False)
        }
        out: dict[str, dict[tuple[str, int], Run]] = {}
        for key, detector, scenario, seed, dt_h, warmup_h, job in sorted(cells, key=lambda r: r[1:4]):
            time_h, score, _ = readings[key]
            run = Run(time_h, stored_score(score), float(dt_h), float(warmup_h), events.get(job, ()))
            out.setdefault(detector, {})[(scenario, int(seed))] = run
        return out


def assemble(parts: list[pa.Table]) -> pd.DataFrame:
    """Stored row blobs as one table: an ok cell's columns first, then the others by name;
    integer and boolean columns in their type; rows in the canonical order."""
    if not any(part.num_rows for part in parts):  # an empty table with the columns stored, if any
        return max(parts, key=lambda t: t.num_columns).to_pandas() if parts else EMPTY.copy()
    parts = [part for part in parts if part.num_rows]
    frame = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    widest = max(parts, key=lambda t: t.num_columns).column_names
    frame = frame[widest + sorted(set(frame.columns) - set(widest))]
    return sort_rows(natural_dtypes(frame, parts))


def natural_dtypes(frame: pd.DataFrame, parts: list[pa.Table]) -> pd.DataFrame:
    """Integer and boolean columns back to their type once no row lacks them.

    A failed cell's row has no metrics, so while it is stored, count columns are float (NaN) and
    flags object. Once a rerun replaces it, the columns return to the type the ok rows have, so a
    resumed study exports the same table as an uninterrupted one.
    """
    natural: dict[str, set[pa.DataType]] = {}
    for part in parts:
        for field in part.schema:
            if pa.types.is_integer(field.type) or pa.types.is_boolean(field.type):
                natural.setdefault(field.name, set()).add(field.type)
    for column, types in natural.items():
        values = frame[column]
        if len(types) != 1 or values.isna().any():
            continue
        dtype = np.dtype(types.pop().to_pandas_dtype())
        if dtype.kind == "b" and values.dtype.kind == "O" and values.isin([True, False]).all():
            frame[column] = values.astype(bool)
        elif dtype.kind in "iu" and values.dtype.kind == "f" and (values == values.round()).all():
            frame[column] = values.astype(dtype)
    return frame


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A canonical row order, so the same study gives the same files on any executor, in any order
    of completion."""
    order = [c for c in ("scenario", "seed", "detector", "target", "onset_h", "start_h") if c in frame]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _is_storage(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return any(
        s in text
        for s in ("disk is full", "readonly", "read-only", "unable to open", "disk i/o", "permission")
    )
