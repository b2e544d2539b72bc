"""Critical slowing down: rising variance and lag-1 autocorrelation of system utilization.

Near a tipping point a system recovers more slowly from small perturbations, so its fluctuations
grow and become more persistent (Scheffer et al. 2009; Dakos et al. 2012). The detector tracks the
variance and the lag-1 autocorrelation of system utilization over a rolling window, and the
strength of their trend with Kendall's tau over a second rolling window of those indicators.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.base import Detector, Level, Reading, Readings
from detectors.signals import steps_of, system_utilization, system_utilization_over
from scenarios.params import param
from scenarios.trace import Layout, Observation, Trace, check_values


class RollingKendall:
    """Kendall's tau-b between a rolling window of values and their time order, updated in O(window).

    >>> tau = RollingKendall(4)
    >>> [round(tau.push(x), 3) for x in (1.0, 2.0, 3.0, 4.0, 0.0)]
    [0.0, 0.0, 0.0, 1.0, 0.0]
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.values = np.zeros(size)
        self.n = 0  # values pushed so far
        self.s = 0  # sum over pairs (earlier, later) of sign(later - earlier)
        self.ties = 0  # pairs with equal values

    def push(self, x: float) -> float:
        """Add the newest value (dropping the oldest when full); tau once the window is full, else 0."""
        slot = self.n % self.size
        if self.n >= self.size:  # the oldest value leaves (its pair with itself adds nothing)
            old = self.values[slot]
            self.s -= int(np.add.reduce(np.sign(self.values - old)))
            self.ties -= np.count_nonzero(self.values == old) - 1
            self.values[slot] = x
            self.s += int(np.add.reduce(np.sign(x - self.values)))
            self.ties += np.count_nonzero(self.values == x) - 1
        else:
            self.values[slot] = x
            self.s += int(np.add.reduce(np.sign(x - self.values[:slot])))
            self.ties += np.count_nonzero(self.values[:slot] == x)
        self.n += 1
        if self.n < self.size:
            return 0.0
        pairs = self.size * (self.size - 1) // 2
        return self.s / math.sqrt(pairs * (pairs - self.ties)) if pairs > self.ties else 0.0


def rolling_kendall(values: np.ndarray, size: int) -> np.ndarray:
    """``RollingKendall(size).push`` of each value in turn, at once: per pair count over the window
    of the latest ``size`` values (integer counts, so exactly the same taus).

    >>> rolling_kendall(np.array([1.0, 2.0, 3.0, 4.0, 0.0]), 4).round(3).tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0]
    """
    t = len(values)
    tau = np.zeros(t)
    if t < size:
        return tau
    # [j, l]: the pair of value j with the value l places before it (l = 1 .. size - 1; 0 otherwise)
    earlier = np.lib.stride_tricks.sliding_window_view(np.concatenate((values[: size - 1], values)), size)
    earlier = earlier[:, ::-1]  # [j, l] = values[j - l] where j >= l
    step, lag = np.ogrid[:t, :size]
    paired = (lag >= 1) & (lag <= step)
    signs = np.where(paired, np.sign(values[:, None] - earlier), 0).astype(np.int64)
    ties = (paired & (values[:, None] == earlier)).astype(np.int64)
    s, tied = (window_diagonals(np.cumsum(counts, axis=1)) for counts in (signs, ties))
    pairs = size * (size - 1) // 2
    with np.errstate(all="ignore"):
        tau[size - 1 :] = np.where(pairs > tied, s / np.sqrt((pairs * (pairs - tied)).astype(float)), 0.0)
    return tau


def window_diagonals(cumulative: np.ndarray) -> np.ndarray:
    """Per window of ``size`` steps (those ending at steps size - 1 .. t - 1): the sum over its
    values q = 0 .. size - 1 of ``cumulative[first step + q, q]``, value q's pairs with the q values
    before it in the window. A strided view reads each window's diagonal (integers: exact sums).

    >>> window_diagonals(np.arange(12).reshape(4, 3)).tolist()  # [0 + 4 + 8, 3 + 7 + 11]
    [12, 21]
    """
    t, size = cumulative.shape
    cumulative = np.ascontiguousarray(cumulative)
    row, column = cumulative.strides
    diagonals = np.lib.stride_tricks.as_strided(
        cumulative, shape=(t - size + 1, size), strides=(row, row + column), writeable=False
    )
    return np.add.reduce(diagonals, axis=1)


class CsdDetector(Detector):
    """score = min(tau of variance, tau of lag-1 autocorrelation); WARNING when score >= tau_warning.

    System utilization is busy staff-hours over staff-hours on duty per health check (capped at 1).
    The indicators need ``window_h`` of history and their trend another ``trend_h``; until then the
    score is 0. System-level only: no units are implicated.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=1, scenario_days=1)
    >>> readings = CsdDetector(window_h=6.0, trend_h=6.0).run(trace)
    >>> sorted(readings.detail), bool(abs(readings.score).max() <= 1.0)
    (['ar1', 'tau_ar1', 'tau_variance', 'variance'], True)
    """

    name = "csd"
    score_label = "Kendall τ, min of variance and AR(1) trends (-1..1)"

    window_h: float = param(
        24.0, "rolling window of the variance and lag-1 autocorrelation", unit="hours", gt=0
    )
    trend_h: float = param(24.0, "rolling window of Kendall's tau of each indicator", unit="hours", gt=0)
    tau_warning: float = param(0.7, "WARNING when both indicators' tau reach this", ge=-1, le=1)

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        self._window = max(3, steps_of(self.window_h, layout.dt_h))
        self._u = np.zeros(2 * self._window)  # each value twice, so the window is one slice
        self._k = 0
        trend = max(2, steps_of(self.trend_h, layout.dt_h))
        self._tau_variance, self._tau_ar1 = RollingKendall(trend), RollingKendall(trend)

    def step(self, obs: Observation) -> Reading:
        slot = self._k % self._window
        self._u[slot] = self._u[slot + self._window] = system_utilization(obs, self.layout.dt_h)
        self._k += 1
        if self._k < self._window:
            return Reading(
                0.0, int(Level.OK), (), {"ar1": 0.0, "tau_ar1": 0.0, "tau_variance": 0.0, "variance": 0.0}
            )
        start = self._k % self._window
        x = self._u[start : start + self._window]  # oldest first
        x = x - np.add.reduce(x) / self._window  # the mean, as ndarray.mean computes it
        ss = float(x @ x)
        variance = ss / len(x)
        ar1 = float(x[:-1] @ x[1:]) / ss if ss > 0 else 0.0
        tau_variance, tau_ar1 = self._tau_variance.push(variance), self._tau_ar1.push(ar1)
        score = min(tau_variance, tau_ar1)
        ready = self._tau_ar1.n >= self._tau_ar1.size
        level = Level.WARNING if ready and score >= self.tau_warning else Level.OK
        detail = {"ar1": ar1, "tau_ar1": tau_ar1, "tau_variance": tau_variance, "variance": variance}
        return Reading(score, int(level), (), detail)

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: the windows' variance and lag-1 autocorrelation per
        step (the same array operations), the Kendall trends of all steps at once."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        t, w, size = len(trace), self._window, self._tau_ar1.size
        u = system_utilization_over(trace.values, self.layout.dt_h)
        variance, ar1 = np.zeros(t), np.zeros(t)
        if t >= w:
            windows = np.lib.stride_tricks.sliding_window_view(u, w)
            centred = windows - (np.add.reduce(windows, axis=1) / w)[:, None]
            ss = np.array([x @ x for x in centred])
            lagged = np.array([x[:-1] @ x[1:] for x in centred])
            variance[w - 1 :] = ss / w
            with np.errstate(all="ignore"):
                ar1[w - 1 :] = np.where(ss > 0, lagged / ss, 0.0)
        tau_variance, tau_ar1 = np.zeros(t), np.zeros(t)
        tau_variance[w - 1 :] = rolling_kendall(variance[w - 1 :], size)
        tau_ar1[w - 1 :] = rolling_kendall(ar1[w - 1 :], size)
        score = np.minimum(tau_variance, tau_ar1)
        ready = np.arange(t) >= w - 1 + size - 1
        level = np.where(ready & (score >= self.tau_warning), Level.WARNING, Level.OK).astype(np.int8)
        detail = {"ar1": ar1, "tau_ar1": tau_ar1, "tau_variance": tau_variance, "variance": variance}
        units = np.zeros((t, trace.layout.n_units), dtype=bool)
        return Readings(np.asarray(trace.time_h, dtype=float), score, level, units, detail if t else {})
