"""The detector contract (DESIGN section 4): reset, a causal streaming update, a batch run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

import numpy as np

from scenarios.errors import InputError
from scenarios.params import Declared
from scenarios.trace import FIELDS, Layout, Observation, Trace, check_values


class Level(IntEnum):
    """Alert levels shared by every detector."""

    OK = 0
    WATCH = 1
    WARNING = 2
    CRITICAL = 3
    EMERGENCY = 4


@dataclass(frozen=True, slots=True)
class Reading:
    """One health check's output: severity score, alert level, implicated units, named details.

    ``units`` are the indices of the implicated units, distinct: a tuple of ints, or a 1-D integer
    array from a detector that finds them as one (converting thousands of indices to Python ints
    would cost more than the rest of its step).
    """

    score: float
    level: int
    units: tuple[int, ...] | np.ndarray = ()
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(eq=False)
class Readings:
    """Readings of a whole run, as arrays over steps."""

    time_h: np.ndarray  # (T,)
    score: np.ndarray  # (T,) float
    level: np.ndarray  # (T,) int8
    units: np.ndarray  # (T, N) bool: unit implicated at that step
    detail: dict[str, np.ndarray]  # name -> (T,) float

    @classmethod
    def from_list(cls, time_h: np.ndarray, readings: list[Reading], n_units: int) -> Readings:
        units = np.zeros((len(readings), n_units), dtype=bool)
        steps = np.repeat(np.arange(len(readings)), [len(r.units) for r in readings])
        implicated = [r.units for r in readings if len(r.units)]
        if implicated:
            units[steps, np.concatenate(implicated)] = True
        names = readings[0].detail.keys() if readings else ()
        return cls(
            time_h=np.asarray(time_h, dtype=float),
            score=np.array([r.score for r in readings], dtype=float),
            level=np.array([r.level for r in readings], dtype=np.int8),
            units=units,
            detail={name: np.array([r.detail[name] for r in readings], dtype=float) for name in names},
        )

    @classmethod
    def held(
        cls, time_h: np.ndarray, at: list[int], readings: list[Reading], first: Reading, n_units: int
    ) -> Readings:
        """Readings of a detector that changes its reading only at some steps: ``readings[j]`` from
        step ``at[j]`` (increasing) until the next, ``first`` before ``at[0]``."""
        changes = cls.from_list(np.zeros(len(readings) + 1), [first, *readings], n_units)
        latest = np.searchsorted(np.asarray(at, dtype=int), np.arange(len(time_h)), side="right")
        if not len(time_h):
            return cls.from_list(time_h, [], n_units)
        return cls(
            np.asarray(time_h, dtype=float),
            changes.score[latest],
            changes.level[latest],
            changes.units[latest],
            {name: values[latest] for name, values in changes.detail.items()},
        )

    def __len__(self) -> int:
        return len(self.score)

    def equals(self, other: Readings) -> bool:
        """Exact equality of every array (NaN equals NaN)."""
        same = lambda a, b: a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")  # noqa: E731
        return (
            same(self.time_h, other.time_h)
            and same(self.score, other.score)
            and same(self.level, other.level)
            and same(self.units, other.units)
            and self.detail.keys() == other.detail.keys()
            and all(same(self.detail[k], other.detail[k]) for k in self.detail)
        )

    def head(self, n: int) -> Readings:
        """The first ``n`` steps."""
        return Readings(
            self.time_h[:n],
            self.score[:n],
            self.level[:n],
            self.units[:n],
            {k: v[:n] for k, v in self.detail.items()},
        )


class Detector(Declared, ABC):
    """Base class. Subclasses declare every parameter once, as a class attribute made with
    ``scenarios.params.param`` (the keyword-only ``__init__`` and its validation derive from it),
    extend ``reset`` to clear their state, and implement ``step``: one causal health check on a
    validated observation. ``update`` validates, then steps; ``run`` resets, takes the trace's
    random stream (``use_stream``), validates once, then steps.
    """

    name: ClassVar[str] = ""
    score_label: ClassVar[str] = "score"  # what the score measures and its unit, for figure axes
    is_combination: ClassVar[bool] = False  # combinations are left out of "unique detection"
    requires: ClassVar[tuple[str, str] | None] = None  # (module, optional extra that installs it)
    # ground-truth targets whose defining quantity is this detector's score (the headline flags the
    # detector "circular" on them); an instance may narrow it by its parameters
    defines: tuple[str, ...] = ()

    @classmethod
    def settings_section(cls) -> str:
        return f"detector.{cls.name}"

    def reset(self, layout: Layout) -> None:
        """Forget all state and prepare for an organisation with this layout."""
        self.layout = layout

    def use_stream(self, stream: int) -> None:  # noqa: B027 (a hook: most detectors draw nothing)
        """Take the random stream of the run about to start (after ``reset``). The harness derives
        it from the cell's (scenario, seed) (``Trace.stream``), so a detector that draws random
        numbers differs from run to run yet stays deterministic. Detectors that draw none ignore it.
        """

    @abstractmethod
    def step(self, obs: Observation) -> Reading:
        """One health check on an already validated observation."""

    def update(self, obs: Observation) -> Reading:
        """One health check: validate the observation and return this step's reading."""
        self._check_observation(obs.values, f"{self.name}.update")
        return self.step(obs)

    def run(self, trace: Trace) -> Readings:
        """Readings over a whole trace; equal to reset plus looping ``update`` over the steps."""
        self.reset(trace.layout)
        self.use_stream(trace.stream)
        check_values(trace.values, f"{self.name}.run")
        readings = [self.step(trace.observation(k)) for k in range(len(trace))]
        return Readings.from_list(trace.time_h, readings, trace.layout.n_units)

    def _check_observation(self, values: np.ndarray, where: str) -> None:
        layout = getattr(self, "layout", None)
        if layout is None:
            raise InputError(where, "call reset(layout) before the first update")
        if values.shape != (len(FIELDS), layout.n_units):
            raise InputError(
                where, f"observation must have shape ({len(FIELDS)}, {layout.n_units}); got {values.shape}"
            )
        check_values(values, where)


_SHARED: ContextVar[dict | None] = ContextVar("shared_readings", default=None)


@contextmanager
def shared_readings() -> Iterator[None]:
    """Within this block, ``readings_of`` runs each distinct detector (same class and parameters)
    once per trace, so a combination reuses its members' readings instead of running them again."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def readings_of(detector: Detector, trace: Trace) -> Readings:
    """``detector.run(trace)``, reused inside ``shared_readings`` (readings are never modified)."""
    memo = _SHARED.get()
    if memo is None:
        return detector.run(trace)
    key = (repr(detector), id(trace))
    if key not in memo:
        memo[key] = detector.run(trace)
    return memo[key]


def period_sums(values: np.ndarray, period: int) -> np.ndarray:
    """Per whole period of ``period`` steps, the sum of ``values`` (steps first) as a stream adds
    them: from 0, one step after another.

    >>> period_sums(np.arange(7.0), 3).tolist()
    [3.0, 12.0]
    """
    n = len(values) // period
    steps = values[: n * period].reshape(n, period, *values.shape[1:])
    total = np.zeros((n, *values.shape[1:]))
    for i in range(period):
        total = total + steps[:, i]
    return total


def held_per_period(
    trace: Trace, period: int, first: Reading, on_period: Callable[..., Reading], *sums: np.ndarray
) -> Readings:
    """The readings of a detector whose reading changes only when a period of ``period`` steps ends:
    ``on_period`` of each period's ``sums``, held until the next, ``first`` before."""
    at: list[int] = []
    readings: list[Reading] = []
    for j in range(len(sums[0]) if sums else 0):
        reading = on_period(*(s[j] for s in sums))
        if reading is not (readings[-1] if readings else first):
            at.append((j + 1) * period - 1)
            readings.append(reading)
    return Readings.held(trace.time_h, at, readings, first, trace.layout.n_units)


def ewma_alpha(dt_h: float, tau_h: float) -> float:
    """Smoothing weight of an exponentially weighted moving average with time constant tau_h.

    >>> round(ewma_alpha(0.25, 1.0), 4)
    0.2212
    """
    return 1.0 if tau_h == 0 else float(-np.expm1(-dt_h / tau_h))
