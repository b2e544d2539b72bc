"""The seismic module (seismic_detection.py): STA/LTA triggers on a precursor signal per unit.

Each unit's precursor counts (``swap_requests`` by default, or ``absences``) are summed into samples
of ``sample_h`` hours; every completed sample updates the characteristic function (the STA/LTA
ratio of the squared samples) and the trigger state. The level holds until the next sample.

``variant='faithful'`` is the module: recursive averages with alpha = 2 / (n + 1), both starting at
0 and counting the first sample, no start-up zeroing (so the first non-zero sample reads
(nlta + 1) / (nsta + 1)); a ratio 0 while LTA <= 1e-10; trigger on at ratio >= trigger_on, off at
the first sample < trigger_off; no alert while fewer than nlta samples exist. Its ``classic``
method is the module's own (full windows from sample nlta on, zero before).
``variant='textbook'`` is ObsPy: recursive STA/LTA with 1/n coefficients from the second sample
(STA 0, LTA 1e-99) and classic STA/LTA over full windows, the first nlta (recursive) or nlta - 1
(classic) samples zeroed; a trigger starts at a sample > trigger_on and lasts to the last sample
> trigger_off.
"""

from __future__ import annotations

import numpy as np

from detectors.base import Detector, Level, Reading, check_choice, check_param
from detectors.signals import steps_of
from scenarios.errors import InputError
from scenarios.trace import FIELD_INDEX, Layout, Observation

VARIANTS = ("faithful", "textbook")
METHODS = ("recursive", "classic")
SIGNALS = ("swap_requests", "absences")
MODULE_TINY_LTA = 1e-10  # the module reads 0 while LTA is below this
OBSPY_LTA_START = 1e-99  # ObsPy's recursive LTA starts here to avoid dividing by zero
SEVERITY = ((10.0, Level.EMERGENCY), (5.0, Level.CRITICAL))  # critical, high; medium and low: WARNING


class StaLta:
    """The STA/LTA characteristic function of many series at once, one sample at a time."""

    def __init__(self, n: int, nsta: int, nlta: int, variant: str, method: str) -> None:
        self.nsta, self.nlta, self.variant, self.method = nsta, nlta, variant, method
        if variant == "faithful":
            self.c_sta, self.c_lta = 2.0 / (nsta + 1), 2.0 / (nlta + 1)
        else:
            self.c_sta, self.c_lta = 1.0 / nsta, 1.0 / nlta
        self.floor = MODULE_TINY_LTA if variant == "faithful" else 0.0
        self.sta = np.zeros(n)
        self.lta = np.zeros(n) if variant == "faithful" else np.full(n, OBSPY_LTA_START)
        self.squares = np.zeros((nlta, n))  # classic: the latest nlta squared samples, as a ring
        self.i = -1  # index of the latest sample

    def push(self, x: np.ndarray) -> np.ndarray:
        """Take one sample per series; return the ratio at it."""
        self.i += 1
        square = x * x
        return self._classic(square) if self.method == "classic" else self._recursive(square)

    def _recursive(self, square: np.ndarray) -> np.ndarray:
        if self.variant == "textbook" and self.i == 0:  # ObsPy's recursion starts at the second sample
            return np.zeros(square.shape)
        self.sta = self.c_sta * square + (1.0 - self.c_sta) * self.sta
        self.lta = self.c_lta * square + (1.0 - self.c_lta) * self.lta
        if self.variant == "textbook" and self.i < self.nlta:
            return np.zeros(square.shape)
        return np.divide(self.sta, self.lta, out=np.zeros(square.shape), where=self.lta > self.floor)

    def _classic(self, square: np.ndarray) -> np.ndarray:
        self.squares[self.i % self.nlta] = square
        if self.i < (self.nlta if self.variant == "faithful" else self.nlta - 1):
            return np.zeros(square.shape)
        sta = self.squares[np.arange(self.i - self.nsta + 1, self.i + 1) % self.nlta].mean(axis=0)
        lta = self.squares.mean(axis=0)
        return np.divide(sta, lta, out=np.zeros(square.shape), where=lta > self.floor)


class Trigger:
    """Trigger state of many series from their characteristic functions, one sample at a time.

    Faithful (the module): on at ratio >= on, off at the first ratio < off. Textbook (ObsPy): on at
    ratio > on, held while ratio > off. ``peak`` is the highest ratio of each active trigger so far.
    """

    def __init__(self, n: int, on: float, off: float, variant: str) -> None:
        self.on, self.off, self.strict = on, off, variant == "textbook"
        self.active = np.zeros(n, dtype=bool)
        self.peak = np.zeros(n)

    def push(self, ratio: np.ndarray) -> np.ndarray:
        if self.strict:
            start, hold = ratio > self.on, ratio > self.off
        else:
            start, hold = ratio >= self.on, ratio >= self.off
        begins = ~self.active & start
        self.active = (self.active & hold) | begins
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

    Faithful (the module's trigger_onset): end is the first sample below ``off``, or the last sample
    if still on. Textbook (ObsPy's trigger_onset): end is the last sample above ``off``.

    >>> trigger_onset(characteristic([1.0] * 30 + [5.0] * 10))
    [(0, 39)]
    >>> trigger_onset([0.0, 3.0, 3.0, 0.5, 0.0, 3.0, 1.5, 0.8], 2.0, 1.0, "textbook")
    [(1, 2), (5, 6)]
    """
    trigger = Trigger(1, on, off, variant)
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

    def __init__(
        self,
        variant: str = "faithful",
        signal: str = "swap_requests",
        sample_h: float = 1.0,
        nsta: int = 5,
        nlta: int = 30,
        method: str = "recursive",
        trigger_on: float = 2.5,
        trigger_off: float = 1.0,
    ) -> None:
        check_choice(self.name, "variant", variant, VARIANTS)
        check_choice(self.name, "signal", signal, SIGNALS)
        check_param(self.name, "sample_h", sample_h, 0.0, strict=True)
        for key, value in (("nsta", nsta), ("nlta", nlta)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"detector.{self.name}.{key}", f"must be an integer >= 1; got {value!r}")
        if nlta <= nsta:
            raise InputError(
                f"detector.{self.name}.nlta", f"must be greater than nsta ({nsta}); got {nlta!r}"
            )
        check_choice(self.name, "method", method, METHODS)
        check_param(self.name, "trigger_off", trigger_off, 0.0)
        check_param(self.name, "trigger_on", trigger_on, trigger_off, strict=True)
        self.variant = variant
        self.signal = signal
        self.sample_h = sample_h
        self.nsta = nsta
        self.nlta = nlta
        self.method = method
        self.trigger_on = trigger_on
        self.trigger_off = trigger_off

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        n = layout.n_units
        self._row = FIELD_INDEX[self.signal]
        self._sample = steps_of(self.sample_h, layout.dt_h)
        self._counts = np.zeros(n)
        self._k = 0
        self._stalta = StaLta(n, self.nsta, self.nlta, self.variant, self.method)
        self._trigger = Trigger(n, self.trigger_on, self.trigger_off, self.variant)
        self._reading = Reading(0.0, int(Level.OK), (), {"ratio": 0.0, "triggered": 0.0})

    def step(self, obs: Observation) -> Reading:
        self._counts += obs.values[self._row]
        self._k += 1
        if self._k % self._sample:
            return self._reading
        ratio = self._stalta.push(self._counts)
        self._counts[:] = 0.0
        active = self._trigger.push(ratio)
        if self.variant == "faithful" and self._stalta.i + 1 < self.nlta:  # the module skips short series
            active = np.zeros_like(active)
        levels = severity_levels(active, self._trigger.peak)
        score = float(ratio.max()) if ratio.size else 0.0
        detail = {"ratio": score, "triggered": float(active.sum())}
        self._reading = Reading(
            score, int(levels.max(initial=0)), tuple(np.flatnonzero(active).tolist()), detail
        )
        return self._reading
