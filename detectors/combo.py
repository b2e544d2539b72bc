"""Combinations: any / all / k-of-n of member detectors within a coincidence window."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings, readings_of
from scenarios.errors import InputError
from scenarios.params import param
from scenarios.trace import Layout, Observation, Trace, check_values


class ComboDetector(Detector):
    """Combine member detectors, named by their registry names (``detectors.available()``).

    Each member is built with ``detectors.make(name, **member_params.get(name, {}))`` and sees every
    observation. A member *counts* at time t if it was at WARNING or above at some health check in
    [t - window_h, t]. The combination needs ``required`` members counting: 1 for ``any``, all of
    them for ``all``, ``k`` for ``k_of_n``. Its level is the highest level that at least ``required``
    members reached within the window (so WARNING or above exactly when enough members count); its
    score is the number of members counting (a threshold of j on the score is the j-of-n rule);
    while it alerts, its units are those each counting member implicated at its latest alert.

    >>> from scenarios import simulate
    >>> trace = simulate("spike", seed=0, n_units=4, warmup_days=0.5, scenario_days=0.5)
    >>> params = {"random": {"rate_per_day": 6.0}}
    >>> either = ComboDetector(members=["null", "random"], member_params=params)
    >>> both = ComboDetector(members=["null", "random"], member_params=params, rule="all")
    >>> int(either.run(trace).level.max()), int(both.run(trace).level.max())
    (2, 0)
    """

    name = "combo"
    score_label = "members at WARNING+ (count)"
    is_combination = True

    members: list[str] = param(["transport", "spc"], "member detectors, by registry name")
    member_params: dict[str, dict] | None = param(
        None, "parameters of members, by member name; null or a missing member: its defaults"
    )
    rule: Literal["any", "all", "k_of_n"] = param("any", "how many members must count: 1, all of them, or k")
    k: int = param(1, "members that must count under rule k_of_n; at most the number of members", ge=1)
    window_h: float = param(
        1.0, "a member counts for this long after it reached WARNING or above", unit="hours", ge=0
    )

    def __post_init__(self) -> None:
        from detectors import available, make  # the registry imports this module lazily

        members, params = self.members, self.member_params or {}
        self.require(bool(members), "members", "must be a non-empty list of detector names")
        self.require(len(set(members)) == len(members), "members", "names must be unique")
        allowed = [n for n in available() if n != self.name]
        for name in [*members, *params]:
            self.require(
                name in allowed, "members", f"unknown member {name!r}; allowed: {', '.join(allowed)}"
            )
        for name in params:
            if name not in members:
                where = f"{self.settings_section()}.member_params.{name}"
                raise InputError(where, f"names no member; members: {members}")
        self.require(self.k <= len(members), "k", f"must be an integer from 1 to {len(members)}")
        self.member_params = params or None
        self._members = [self._member(make, name, params.get(name, {})) for name in members]

    def _member(self, make: Any, name: str, params: dict[str, Any]) -> Detector:
        """The member built with its own declarations; an error names it as member_params.<name>.<setting>."""
        try:
            return make(name, **params)
        except InputError as error:
            setting = error.field.split(".")[2:]  # the member's errors name detector.<member>.<setting>
            raise InputError(
                ".".join([self.settings_section(), "member_params", name, *setting]), error.problem
            ) from None

    @property
    def required(self) -> int:
        """Members that must count for the combination to alert."""
        return {"any": 1, "all": len(self.members), "k_of_n": self.k}[self.rule]

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        for member in self._members:
            member.reset(layout)
        n = len(self._members)
        self._recent: list[list[tuple[float, int]]] = [[] for _ in range(n)]  # (time, level) in window
        self._units: list[list[int]] = [[] for _ in range(n)]  # units of each member's latest alert

    def use_stream(self, stream: int) -> None:
        for member in self._members:
            member.use_stream(stream)

    def step(self, obs: Observation) -> Reading:
        t = obs.time_h
        peaks = np.zeros(len(self._members), dtype=int)
        scores = {}
        for i, member in enumerate(self._members):
            reading = member.step(obs)
            scores[f"{self.members[i]}_score"] = float(reading.score)
            recent = self._recent[i]
            if reading.level > Level.OK:
                recent.append((t, int(reading.level)))
            while recent and recent[0][0] < t - self.window_h:
                recent.pop(0)
            if reading.level >= Level.WARNING:
                self._units[i] = np.asarray(reading.units, dtype=int).tolist()
            peaks[i] = max((level for _, level in recent), default=0)
        counting = peaks >= Level.WARNING
        level = int(np.sort(peaks)[len(peaks) - self.required])
        units = (
            sorted({u for i in np.flatnonzero(counting) for u in self._units[i]})
            if level >= Level.WARNING
            else []
        )
        detail = {"n_counting": float(counting.sum()), **scores}
        return Reading(float(counting.sum()), level, tuple(units), detail)

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step, from the members' batch readings (``readings_of``:
        shared with the same detectors elsewhere in a job)."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        members = [readings_of(member, trace) for member in self._members]
        t, n = len(trace), trace.layout.n_units
        time_h = np.asarray(trace.time_h, dtype=float)
        start = np.searchsorted(time_h, time_h - self.window_h, side="left")  # first step in the window
        reach = np.arange(t) - start  # steps back the window reaches
        steps = np.arange(t)
        peaks = np.zeros((t, len(members)), dtype=int)
        counting_units = np.zeros((len(members), t, n), dtype=bool)
        for i, readings in enumerate(members):
            level = readings.level.astype(int)
            peak = level.copy()
            for lag in range(1, int(reach.max(initial=0)) + 1):
                peak[lag:] = np.maximum(peak[lag:], np.where(reach[lag:] >= lag, level[:-lag], 0))
            peaks[:, i] = peak
            latest = np.maximum.accumulate(np.where(level >= Level.WARNING, steps, -1))
            counting_units[i] = np.where((latest >= 0)[:, None], readings.units[np.maximum(latest, 0)], False)
        counting = peaks >= Level.WARNING
        level = np.sort(peaks, axis=1)[:, len(members) - self.required]
        units = (counting.T[:, :, None] & counting_units).any(axis=0) & (level >= Level.WARNING)[:, None]
        n_counting = counting.sum(axis=1).astype(float)
        detail = {"n_counting": n_counting} if t else {}
        if t:
            detail.update(
                {
                    f"{name}_score": r.score.astype(float)
                    for name, r in zip(self.members, members, strict=True)
                }
            )
        return Readings(time_h, n_counting.copy(), level.astype(np.int8), units, detail)
