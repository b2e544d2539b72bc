"""The results folder of a study: part files written atomically as cells finish, then merged.

Each finished job writes ``parts/<table>/<id>.parquet`` (via a temporary file and a rename, so a
kill never leaves a torn file). ``consolidate`` folds the parts into ``<table>.parquet``; rows of a
key that was recomputed replace the old ones. Nothing already computed is lost when a study dies.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TABLES = ("cells", "events", "episodes", "overhead")


def write_atomic(path: Path, write) -> None:
    """Write a file through ``write(tmp_path)`` and move it into place in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


class ResultStore:
    """Parquet tables of one study folder, keyed by each cell's content hash (column ``key``)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def table_path(self, table: str) -> Path:
        return self.run_dir / f"{table}.parquet"

    def append(self, tables: dict[str, pd.DataFrame]) -> None:
        """Store one finished job's rows. The cells part is written last: it marks completion."""
        part = uuid.uuid4().hex
        for table in (*TABLES[1:], TABLES[0]):
            frame = tables.get(table)
            if frame is not None and len(frame):
                write_parquet(self.run_dir / "parts" / table / f"{part}.parquet", frame)

    def _parts(self, table: str) -> list[Path]:
        folder = self.run_dir / "parts" / table
        return sorted(folder.glob("*.parquet")) if folder.exists() else []

    def consolidate(self) -> None:
        """Fold complete parts (those with a cells part) into the tables, replacing every stored row
        of the keys they carry; drop incomplete parts and temporary files a kill left behind."""
        cells = self._parts("cells")
        if cells:
            complete = {p.name for p in cells}
            fresh = {"cells": [pq.read_table(p) for p in cells]}
            replaced = pa.concat_tables(fresh["cells"], promote_options="permissive")["key"]
            for table in TABLES:
                parts = fresh.get(table) or [
                    pq.read_table(p) for p in self._parts(table) if p.name in complete
                ]
                self._merge(table, [part for part in parts if part.num_rows], replaced)
        shutil.rmtree(self.run_dir / "parts", ignore_errors=True)
        for tmp in self.run_dir.glob(".*.tmp"):
            tmp.unlink()

    def _merge(self, table: str, fresh: list[pa.Table], replaced: pa.ChunkedArray) -> None:
        path = self.table_path(table)
        tables = list(fresh)
        if path.exists():
            old = pq.read_table(path)
            stale = pc.is_in(
                old["key"], value_set=replaced.combine_chunks().cast(old.schema.field("key").type)
            )
            kept = old.filter(pc.invert(stale))
            if not fresh and kept.num_rows == old.num_rows:
                return
            if kept.num_rows or not fresh:
                tables.insert(0, kept)
        if tables:
            frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
            widest = max(tables, key=lambda t: t.num_columns).column_names  # an ok cell's columns
            frame = frame[widest + sorted(set(frame.columns) - set(widest))]
            write_parquet(path, sort_rows(natural_dtypes(frame, fresh)))

    def load(self, table: str, keys: set[str] | None = None) -> pd.DataFrame:
        path = self.table_path(table)
        if not path.exists():
            return pd.DataFrame({"key": pd.Series(dtype=str)})
        frame = pd.read_parquet(path)
        return frame[frame["key"].isin(keys)].reset_index(drop=True) if keys is not None else frame

    def ok_keys(self) -> set[str]:
        cells = self.load("cells")
        return set(cells.loc[cells["status"] == "ok", "key"]) if "status" in cells else set()


def natural_dtypes(frame: pd.DataFrame, fresh: list[pa.Table]) -> pd.DataFrame:
    """Integer and boolean columns back to their type once no row lacks them.

    A failed cell's row has no metrics, so while it is stored, count columns are float (NaN) and
    flags object. When a rerun replaces it, the columns return to the type the fresh rows have, so
    a resumed study stores the same table as an uninterrupted one.
    """
    natural: dict[str, set[pa.DataType]] = {}
    for part in fresh:
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
