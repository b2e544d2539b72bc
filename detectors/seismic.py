"""The seismic module (seismic_detection.py): STA/LTA triggers on a precursor signal per unit.

Each unit's precursor counts (``swap_requests`` by default, or ``absences``) are summed into samples
of ``sample_h`` hours; every completed sample updates the characteristic function (the STA/LTA
ratio of the squared samples) and the trigger state. The level holds until the next sample.

Both variants trigger alike: on at a ratio >= trigger_on, on while the ratio stays >= trigger_off,
off at the first sample below it. They differ in the ratio and in what they report:

``variant='faithful'`` is the module: recursive averages with alpha = 2 / (n + 1), both starting at
0 and counting the first sample, no start-up zeroing (so the first non-zero sample reads
(nlta + 1) / (nsta + 1)); a ratio 0 while LTA <= 1e-10; its ``classic`` method is the module's own
(full windows from sample nlta on, zero before). The module skips a series shorter than nlta
samples, so until nlta samples exist the detector reports score 0 and no trigger; a trigger that
began earlier (the start-up transient) is reported from then on. The module's trigger_onset gives
the first sample below trigger_off as a trigger's end.
``variant='textbook'`` is ObsPy 1.5: ``recursive_sta_lta`` with 1/n coefficients from the second
sample (STA 0, LTA 1e-99) and ``classic_sta_lta`` over full windows, the first nlta (recursive) or
nlta - 1 (classic) samples zeroed; ``trigger_onset`` gives the last sample >= trigger_off as a
trigger's end. The tests compare it with obspy itself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from detectors.base import Detector, Level, Reading, Readings, period_sums
from detectors.signals import steps_of
from scenarios.params import param
from scenarios.trace import FIELD_INDEX, Layout, Observation, Trace, check_values

MODULE_TINY_LTA = 1e-10  # the module reads 0 while LTA is below this
SEVERITY = ((10.0, Level.EMERGENCY), (5.0, Level.CRITICAL))  # critical, high; medium and low: WARNING


class StaLta:
    """The STA/LTA characteristic function of many series at once, one sample at a time.

    Textbook ratios follow ObsPy's arithmetic to the last bit: the recursive averages start at 0
    (so 0 / 0, before any non-zero sample, is NaN, as in ObsPy), and the classic ratio is
    (STA sum / LTA sum) x (nlta / nsta) of running sums, each updated by (new square - square
    leaving the window).
    """

    def __init__(self, n: int, nsta: int, nlta: int, variant: str, method: str) -> None:
        self.nsta, self.nlta, self.variant, self.method = nsta, nlta, variant, method
        if variant == "faithful":
            self.c_sta, self.c_lta = 2.0 / (nsta + 1), 2.0 / (nlta + 1)
        else:
            self.c_sta, self.c_lta = 1.0 / nsta, 1.0 / nlta
        self.sta = np.zeros(n)  # recursive: the averages; textbook classic: the running sums
        self.lta = np.zeros(n)
        self.squares = np.zeros((nlta, n))  # classic: the latest nlta squared samples, as a ring
        self.i = -1  # index of the latest sample

    def push(self, x: np.ndarray) -> np.ndarray:
        """Take one sample per series; return the ratio at it."""
        self.i += 1
        square = x * x
        if self.method == "recursive":
            return self._recursive(square)
        return self._classic(square) if self.variant == "faithful" else self._running(square)

    def _recursive(self, square: np.ndarray) -> np.ndarray:
        textbook = self.variant == "textbook"
        if textbook and self.i == 0:  # ObsPy's recursion starts at the second sample
            return np.zeros(square.shape)
        self.sta = self.c_sta * square + (1.0 - self.c_sta) * self.sta
        self.lta = self.c_lta * square + (1.0 - self.c_lta) * self.lta
        if not textbook:
            return np.divide(self.sta, self.lta, out=np.zeros(square.shape), where=self.lta > MODULE_TINY_LTA)
        if self.i < self.nlta:
            return np.zeros(square.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sta / self.lta

    def _classic(self, square: np.ndarray) -> np.ndarray:
        """The module's: means of the full windows from sample nlta on, 0 while LTA <= 1e-10."""
        self.squares[self.i % self.nlta] = square
        if self.i < self.nlta:
            return np.zeros(square.shape)
        sta = self.squares[np.arange(self.i - self.nsta + 1, self.i + 1) % self.nlta].mean(axis=0)
        lta = self.squares.mean(axis=0)
        return np.divide(sta, lta, out=np.zeros(square.shape), where=lta > MODULE_TINY_LTA)

    def _running(self, square: np.ndarray) -> np.ndarray:
        """ObsPy's classic_sta_lta: running window sums, the first nlta - 1 samples zeroed."""
        ring = self.squares
        leaving_sta = ring[(self.i - self.nsta) % self.nlta] if self.i >= self.nsta else 0.0
        leaving_lta = ring[self.i % self.nlta] if self.i >= self.nlta else 0.0
        self.sta = self.sta + (square - leaving_sta)
        self.lta = self.lta + (square - leaving_lta)
        ring[self.i % self.nlta] = square
        if self.i < self.nlta - 1:
            return np.zeros(square.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sta / self.lta * (self.nlta / self.nsta)


class Trigger:
    """Trigger state of many series from their characteristic functions, one sample at a time.

    On at a ratio >= on, held while the ratio is >= off (the module's and ObsPy's convention alike).
    ``peak`` is the highest ratio of each active trigger so far.
    """

    def __init__(self, n: int, on: float, off: float) -> None:
        self.on, self.off = on, off
        self.active = np.zeros(n, dtype=bool)
        self.peak = np.zeros(n)

    def push(self, ratio: np.ndarray) -> np.ndarray:
        begins = ~self.active & (ratio >= self.on)
        self.active = (self.active & (ratio >= self.off)) | begins
        self.peak = np.where(self.active, np.maximum(np.where(begins, ratio, self.peak), ratio), 0.0)
        return self.active


def characteristic(
    x, nsta: int = 5, nlta: int = 30, variant: str = "faithful", method: str = "recursive"
) -> np.ndarray:
    """STA/LTA ratio of a 1-D series, as the detector computes it sample by sample.

    >>> round(float(characteristic([0.0, 0.0, 3.0])[2]), 4)  # faithful: (30 + 1) / (5 + 1)
    5.1667
    """
    machine = StaLta(1, nsta, nlta, variant, method)
    return np.array([machine.push(np.array([v], dtype=float))[0] for v in x])


def trigger_onset(
    charfct, on: float = 2.5, off: float = 1.0, variant: str = "faithful"
) -> list[tuple[int, int]]:
    """Triggers of a characteristic function as (start, end) sample indices, in the variant's convention.

    A trigger starts at a sample >= ``on``. Faithful (the module's trigger_onset): its end is the
    first sample below ``off``, or the last sample if still on. Textbook (ObsPy's trigger_onset):
    its end is the last sample >= ``off``.

    >>> trigger_onset(characteristic([1.0] * 30 + [5.0] * 10))
    [(0, 39)]
    >>> trigger_onset([0.0, 2.5, 3.0, 1.0, 0.5], 2.5, 1.0, "textbook")
    [(1, 3)]
    >>> trigger_onset([0.0, 2.5, 3.0, 1.0, 0.5], 2.5, 1.0, "faithful")
    [(1, 4)]
    """
    trigger = Trigger(1, on, off)
    triggers, start = [], None
    for i, ratio in enumerate(charfct):
        active = trigger.push(np.array([ratio], dtype=float))[0]
        if active and start is None:
            start = i
        elif not active and start is not None:
            triggers.append((start, i if variant == "faithful" else i - 1))
            start = None
    if start is not None:
        triggers.append((start, len(charfct) - 1))
    return triggers


def severity_levels(active: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Level of each series: OK when not triggered; by the trigger's highest ratio otherwise: >= 10
    EMERGENCY (critical), >= 5 CRITICAL (high), else WARNING (medium >= 3.5, low).

    >>> severity_levels(np.array([True, True, True, False]), np.array([12.0, 5.0, 2.6, 9.0])).tolist()
    [4, 3, 2, 0]
    """
    levels = np.where(active, int(Level.WARNING), int(Level.OK))
    for limit, level in reversed(SEVERITY):
        levels = np.where(active & (peak >= limit), int(level), levels)
    return levels


class SeismicDetector(Detector):
    """STA/LTA on a per-unit precursor signal; score = the highest current ratio over units.

    System level = the highest unit level; implicated units are those with an active trigger.

    >>> from scenarios import simulate
    >>> trace = simulate("spike", seed=0, n_units=4, warmup_days=1, scenario_days=1)
    >>> readings = SeismicDetector(variant="textbook").run(trace)
    >>> sorted(readings.detail)
    ['ratio', 'triggered']
    """

    name = "seismic"
    score_label = "max STA/LTA ratio (dimensionless)"

    variant: Literal["faithful", "textbook"] = param(
        "faithful", "faithful: the module's STA/LTA; textbook: ObsPy's"
    )
    signal: Literal["swap_requests", "absences"] = param("swap_requests", "the precursor counted per unit")
    sample_h: float = param(1.0, "counts are summed into samples of this length", unit="hours", gt=0)
    nsta: int = param(5, "short-term window, in samples", ge=1)
    nlta: int = param(30, "long-term window, in samples; more than nsta", ge=1)
    method: Literal["recursive", "classic"] = param(
        "recursive", "recursive averages, or full moving windows (classic)"
    )
    trigger_on: float = param(2.5, "a trigger starts at a ratio >= this; more than trigger_off", gt=0)
    trigger_off: float = param(1.0, "a trigger holds while the ratio is >= this", ge=0)

    def __post_init__(self) -> None:
        self.require(self.nlta > self.nsta, "nlta", f"must be greater than nsta ({self.nsta})")
        on, off = self.trigger_on, self.trigger_off
        self.require(on > off, "trigger_on", f"must be greater than trigger_off ({off})")

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        self._row = FIELD_INDEX[self.signal]
        self._sample = steps_of(self.sample_h, layout.dt_h)
        self._counts = np.zeros(n)
        self._k = 0
        self._stalta = StaLta(n, self.nsta, self.nlta, self.variant, self.method)
        self._trigger = Trigger(n, self.trigger_on, self.trigger_off)
        self._reading = Reading(0.0, int(Level.OK), (), {"ratio": 0.0, "triggered": 0.0})

    def step(self, obs: Observation) -> Reading:
        self._counts += obs.values[self._row]
        self._k += 1
        if self._k % self._sample:
            return self._reading
        reading = self._on_sample(self._counts)
        self._counts[:] = 0.0
        return reading

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: the samples' counts summed at once, the STA/LTA and
        the trigger stepped per sample (arrays over units), then levels, scores and implicated
        units of every sample at once, each sample's reading held until the next."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        counts = period_sums(trace.values[:, self._row], self._sample)
        ratios, active, peak = np.zeros(counts.shape), np.zeros(counts.shape, bool), np.zeros(counts.shape)
        for j, sample in enumerate(counts):
            ratio = self._stalta.push(sample)
            on = self._trigger.push(ratio)
            if not self._skipped():
                ratios[j], active[j], peak[j] = ratio, on, self._trigger.peak
        levels = severity_levels(active, peak).max(axis=1, initial=0)
        ratios = np.where(np.isnan(ratios), 0.0, ratios)
        score = ratios.max(axis=1) if ratios.shape[1] else np.zeros(len(ratios))
        # step k holds the reading of the last sample ended by it (0: none yet, the initial reading)
        latest = np.minimum((np.arange(len(trace)) + 1) // self._sample, len(counts))
        held = lambda first, values: np.concatenate(([first], values))[latest]  # noqa: E731
        return Readings(
            np.asarray(trace.time_h, dtype=float),
            held(0.0, score),
            held(int(Level.OK), levels).astype(np.int8),
            np.concatenate((np.zeros((1, counts.shape[1]), bool), active))[latest],
            {"ratio": held(0.0, score), "triggered": held(0.0, active.sum(axis=1).astype(float))},
        )

    def _skipped(self) -> bool:
        """The faithful module reads nothing (no ratio, no trigger) before nlta samples."""
        return self.variant == "faithful" and self._stalta.i + 1 < self.nlta

    def _on_sample(self, counts: np.ndarray) -> Reading:
        """The reading after a sample with these counts per unit."""
        ratio = self._stalta.push(counts)
        active = self._trigger.push(ratio)
        if self._skipped():
            active = np.zeros_like(active)
            ratio = np.zeros_like(ratio)
        levels = severity_levels(active, self._trigger.peak)
        ratio = np.where(np.isnan(ratio), 0.0, ratio)  # ObsPy's 0 / 0 reads 0 here; it never triggers
        score = float(ratio.max()) if ratio.size else 0.0
        detail = {"ratio": score, "triggered": float(active.sum())}
        self._reading = Reading(
            score, int(levels.max(initial=0)), tuple(np.flatnonzero(active).tolist()), detail
        )
        return self._reading
