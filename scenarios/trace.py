"""Observations, static layout and hidden truth of one run, and their parquet round trip."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scenarios.errors import InputError
from scenarios.graph import Graph, MatrixGraph

#: Observation fields, in storage order. All are counts except ``busy_hours``.
FIELDS: tuple[str, ...] = (
    "arrivals",
    "completions",
    "transfers_out",
    "transfers_in",
    "swap_requests",
    "absences",
    "queue",
    "busy",
    "staff_on_duty",
    "busy_hours",
)
COUNT_FIELDS: tuple[str, ...] = FIELDS[:-1]
FIELD_INDEX: dict[str, int] = {name: i for i, name in enumerate(FIELDS)}


@dataclass(frozen=True, eq=False)
class Layout:
    """What a detector may know about the organisation before the first health check."""

    staff: np.ndarray  # (N,) nominal staff per unit
    service_rate: np.ndarray  # (N,) tasks per staff-hour (mu)
    graph: Graph  # hop distances (implicit for complete and ring); an (N, N) array becomes a MatrixGraph
    dt_h: float = 0.25
    warmup_h: float = 0.0  # leading period a detector may use as baseline; never scored

    def __post_init__(self) -> None:
        if not isinstance(self.graph, Graph):
            object.__setattr__(self, "graph", MatrixGraph(self.graph))

    @property
    def n_units(self) -> int:
        return len(self.staff)

    @property
    def characteristic_length(self) -> float:
        """Mean hop distance between distinct units (1.0 for a complete graph)."""
        return self.graph.characteristic_length

    def permuted(self, order: np.ndarray) -> Layout:
        """The same organisation with units relabelled so that new unit j is old unit order[j]."""
        return Layout(
            staff=self.staff[order],
            service_rate=self.service_rate[order],
            graph=self.graph.permuted(order),
            dt_h=self.dt_h,
            warmup_h=self.warmup_h,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "staff": self.staff.tolist(),
            "service_rate": self.service_rate.tolist(),
            "graph": self.graph.to_dict(),
            "dt_h": self.dt_h,
            "warmup_h": self.warmup_h,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layout:
        return cls(
            staff=np.asarray(d["staff"], dtype=float),
            service_rate=np.asarray(d["service_rate"], dtype=float),
            graph=Graph.from_dict(d["graph"]),
            dt_h=float(d["dt_h"]),
            warmup_h=float(d["warmup_h"]),
        )


class Observation:
    """One health check: every field as an (N,) array over units, for the interval ending at time_h.

    >>> obs = Observation(0.25, np.zeros((len(FIELDS), 3)))
    >>> obs.queue.shape, obs.time_h
    ((3,), 0.25)
    """

    __slots__ = ("time_h", "values")

    def __init__(self, time_h: float, values: np.ndarray) -> None:
        self.time_h = time_h
        self.values = values  # (F, N), rows in FIELDS order

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.values[FIELD_INDEX[name]]
        except KeyError:
            raise AttributeError(name) from None


def check_values(values: np.ndarray, where: str) -> None:
    """Raise InputError if observation values hold NaN, infinities or negative numbers.

    Two reductions and no temporary arrays: NaN propagates into both the minimum and the maximum.

    >>> check_values(np.array([[0.0, 2.5]]), "x")
    >>> check_values(np.array([[np.nan, 1.0]]), "x")
    Traceback (most recent call last):
    scenarios.errors.InputError: x: observations must be finite numbers (found NaN or inf)
    """
    if not values.size:
        return
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(where, "observations must be finite numbers (found NaN or inf)")
    if low < 0:
        raise InputError(where, "observations must be >= 0 (found a negative value)")


@dataclass(frozen=True)
class Event:
    """One critical period of a ground-truth target: [onset_h, end_h], implicating ``units``."""

    target: str
    onset_h: float
    end_h: float
    units: tuple[int, ...]
    ended: bool = True  # False when still active at the end of the run (end_h = run end)


@dataclass(eq=False)
class Truth:
    """Hidden truth. Detectors never see it."""

    arrival_rate: np.ndarray  # (T, N) true lambda_i(t), tasks per hour
    events: list[Event] = field(default_factory=list)

    def offered_load(self, layout: Layout) -> np.ndarray:
        """System offered load rho(t) = sum lambda_i / sum staff_i mu_i, per step."""
        capacity = float((layout.staff * layout.service_rate).sum())
        return self.arrival_rate.sum(axis=1) / capacity if capacity > 0 else np.zeros(len(self.arrival_rate))


@dataclass(eq=False)
class Trace:
    """One run: observations (T, F, N), times (T,), layout, meta and hidden truth."""

    time_h: np.ndarray
    values: np.ndarray
    layout: Layout
    meta: dict[str, Any]
    truth: Truth

    def __post_init__(self) -> None:
        t, f, n = self.values.shape
        if f != len(FIELDS) or n != self.layout.n_units or self.time_h.shape != (t,):
            raise InputError("trace", f"values must have shape (T, {len(FIELDS)}, n_units)")

    def __len__(self) -> int:
        return len(self.time_h)

    def __getattr__(self, name: str) -> np.ndarray:
        if name in FIELD_INDEX:
            return self.values[:, FIELD_INDEX[name], :]
        raise AttributeError(name)

    def observation(self, k: int) -> Observation:
        return Observation(float(self.time_h[k]), self.values[k])

    def scored(self) -> np.ndarray:
        """Boolean mask of the steps after warm-up."""
        return self.time_h > self.layout.warmup_h

    @property
    def stream(self) -> int:
        """A random stream of this run for detectors that draw random numbers: a stable hash of
        its (scenario, seed), the same on every machine and executor."""
        text = f"{self.meta.get('scenario', '')}/{self.meta.get('seed', 0)}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")

    def permuted(self, order: np.ndarray) -> Trace:
        """The same run with units relabelled (new unit j is old unit order[j])."""
        inverse = np.argsort(order)
        events = [
            Event(e.target, e.onset_h, e.end_h, tuple(sorted(int(inverse[u]) for u in e.units)), e.ended)
            for e in self.truth.events
        ]
        return Trace(
            self.time_h,
            self.values[:, :, order],
            self.layout.permuted(order),
            dict(self.meta),
            Truth(self.truth.arrival_rate[:, order], events),
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy observations: one row per (time_h, unit)."""
        t, _, n = self.values.shape
        frame = pd.DataFrame(
            {
                "time_h": np.repeat(self.time_h, n),
                "unit": np.tile(np.arange(n), t),
            }
        )
        for i, name in enumerate(FIELDS):
            column = self.values[:, i, :].reshape(-1)
            frame[name] = column.astype(np.int64) if name in COUNT_FIELDS else column
        return frame

    def to_parquet(self, path: str | Path) -> None:
        """Write observations, hidden truth and layout/meta (as schema metadata) to one file."""
        frame = self.to_frame()
        frame["truth_arrival_rate"] = self.truth.arrival_rate.reshape(-1)
        header = {
            "layout": self.layout.to_dict(),
            "meta": self.meta,
            "events": [asdict(e) for e in self.truth.events],
        }
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"tdbench": json.dumps(header).encode()}
        )
        pq.write_table(table, path)

    @classmethod
    def from_parquet(cls, path: str | Path) -> Trace:
        table = pq.read_table(path)
        header = json.loads(table.schema.metadata[b"tdbench"])
        frame = table.to_pandas()
        layout = Layout.from_dict(header["layout"])
        n = layout.n_units
        t = len(frame) // n
        values = np.stack([frame[name].to_numpy(float).reshape(t, n) for name in FIELDS], axis=1)
        events = [Event(**{**e, "units": tuple(e["units"])}) for e in header["events"]]
        truth = Truth(frame["truth_arrival_rate"].to_numpy(float).reshape(t, n), events)
        return cls(frame["time_h"].to_numpy(float)[::n].copy(), values, layout, header["meta"], truth)
