"""The textbook seismic variant against obspy itself (obspy is in the ``test`` extra).

Ratios must be bit-identical to ``obspy.signal.trigger.classic_sta_lta`` and ``recursive_sta_lta``
(NaN where ObsPy divides 0 by 0), and triggers identical to ``trigger_onset``: on 10,000 random
series (counts with bursts and silences, and real-valued ones), on 10,000 random characteristic
functions with values on the thresholds, and on the hourly swap-request and absence series of every
simulated scenario, through the detector itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from obspy.signal.trigger import classic_sta_lta, recursive_sta_lta
from obspy.signal.trigger import trigger_onset as obspy_trigger_onset

from detectors.seismic import SeismicDetector, StaLta, Trigger, characteristic, trigger_onset
from scenarios import available, simulate
from scenarios.trace import FIELD_INDEX

OBSPY = {"recursive": recursive_sta_lta, "classic": classic_sta_lta}
GROUPS, PER_GROUP = 40, 250  # 10,000 random series


def random_series(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """(length, n) series: half Poisson counts with bursts and silent stretches, half real-valued."""
    counts = rng.poisson(rng.uniform(0.0, 3.0, size=n), size=(length, n)).astype(float)
    burst = rng.integers(0, length, size=n)
    rows = np.arange(length)[:, None]
    counts += (np.abs(rows - burst) < 4) * rng.poisson(5.0, size=(length, n))
    counts *= rows >= rng.integers(0, length // 2, size=n)  # silent until some point
    real = rng.standard_normal((length, n)) * rng.uniform(0.1, 10.0, size=n)
    return np.where(np.arange(n) % 2 == 0, counts, real)


def obspy_ratios(x: np.ndarray, nsta: int, nlta: int, method: str) -> np.ndarray:
    return np.stack([OBSPY[method](np.ascontiguousarray(x[:, j]), nsta, nlta) for j in range(x.shape[1])], 1)


def our_ratios(x: np.ndarray, nsta: int, nlta: int, method: str) -> np.ndarray:
    machine = StaLta(x.shape[1], nsta, nlta, "textbook", method)  # the detector's vectorised machine
    return np.stack([machine.push(row) for row in x])


def intervals(active: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per series (columns), the (first, last) samples of each run of active samples."""
    padded = np.pad(active, ((1, 1), (0, 0)))
    starts = np.argwhere(padded[1:-1] & ~padded[:-2])
    ends = np.argwhere(padded[1:-1] & ~padded[2:])
    runs: list[list[tuple[int, int]]] = [[] for _ in range(active.shape[1])]
    for (start, j), (end, _) in zip(
        starts[np.argsort(starts[:, 1], kind="stable")],
        ends[np.argsort(ends[:, 1], kind="stable")],
        strict=True,
    ):
        runs[j].append((int(start), int(end)))
    return runs


def obspy_triggers(charfct: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in obspy_trigger_onset(charfct, on, off)]


@pytest.mark.parametrize("method", ["recursive", "classic"])
def test_ratios_are_obspy_bit_for_bit_on_10000_random_series(method):
    rng = np.random.default_rng(11 if method == "recursive" else 12)
    for _ in range(GROUPS):
        nsta = int(rng.integers(1, 12))
        nlta = int(rng.integers(nsta + 1, 60))
        x = random_series(rng, PER_GROUP, int(rng.integers(nlta, 3 * nlta + 40)))
        ours, theirs = our_ratios(x, nsta, nlta, method), obspy_ratios(x, nsta, nlta, method)
        assert np.array_equal(ours, theirs, equal_nan=True), (nsta, nlta)


def test_the_1d_characteristic_function_is_the_same_machine():
    rng = np.random.default_rng(5)
    x = random_series(rng, 2, 90)
    for method in ("recursive", "classic"):
        for j in range(2):
            ours = characteristic(x[:, j], 4, 20, "textbook", method)
            assert np.array_equal(ours, OBSPY[method](x[:, j], 4, 20), equal_nan=True)


def random_charfcts(rng: np.random.Generator, n: int, length: int, on: float, off: float) -> np.ndarray:
    """Characteristic functions that often sit exactly on the thresholds, with NaNs and real ratios."""
    levels = np.array([0.0, off, on, (on + off) / 2, on + 1.0, np.nan])
    discrete = levels[rng.integers(0, len(levels), size=(length, n))]
    smooth = obspy_ratios(random_series(rng, n, length), 3, 12, "recursive")
    return np.where(rng.random((1, n)) < 0.5, discrete, smooth)


def test_triggers_are_obspy_trigger_onset_on_10000_random_characteristic_functions():
    rng = np.random.default_rng(13)
    for _ in range(GROUPS):
        off = float(rng.choice([0.0, 0.5, 1.0, rng.uniform(0.0, 2.0)]))
        on = float(off + rng.choice([0.5, 1.5, rng.uniform(0.01, 3.0)]))
        charfct = random_charfcts(rng, PER_GROUP, int(rng.integers(1, 80)), on, off)
        trigger = Trigger(PER_GROUP, on, off)  # the detector's vectorised trigger
        active = np.stack([trigger.push(row) for row in charfct])
        for j, runs in enumerate(intervals(active)):
            assert runs == obspy_triggers(charfct[:, j], on, off), (on, off, charfct[:, j])


def test_the_1d_trigger_onset_is_obspy_trigger_onset():
    assert trigger_onset([0, 2.5, 3.0, 1.0, 0.5], 2.5, 1.0, "textbook") == [(1, 3)]  # the case
    assert obspy_triggers(np.array([0, 2.5, 3.0, 1.0, 0.5]), 2.5, 1.0) == [(1, 3)]
    rng = np.random.default_rng(17)
    charfct = random_charfcts(rng, 300, 60, 2.5, 1.0)
    for j in range(charfct.shape[1]):
        assert trigger_onset(charfct[:, j], 2.5, 1.0, "textbook") == obspy_triggers(charfct[:, j], 2.5, 1.0)


@pytest.fixture(scope="module")
def traces():
    return [simulate(name, seed=seed) for name in available() for seed in (0, 1)]


@pytest.mark.parametrize("signal", ["swap_requests", "absences"])
@pytest.mark.parametrize("method", ["recursive", "classic"])
def test_detector_equals_obspy_on_every_simulated_scenario(traces, signal, method):
    """Per unit, the hourly series the detector builds, fed to obspy: same triggers, same score."""
    for trace in traces:
        detector = SeismicDetector(variant="textbook", signal=signal, method=method)
        readings = detector.run(trace)
        per_sample = round(detector.sample_h / trace.layout.dt_h)
        counts = trace.values[:, FIELD_INDEX[signal]]
        hourly = counts.reshape(-1, per_sample, counts.shape[1]).sum(axis=1)
        ratios = obspy_ratios(hourly, detector.nsta, detector.nlta, method)
        at_sample = np.arange(per_sample - 1, len(trace), per_sample)  # health checks closing a sample
        np.testing.assert_array_equal(readings.score[at_sample], np.nan_to_num(ratios).max(axis=1))
        for unit in range(hourly.shape[1]):
            expected = obspy_triggers(ratios[:, unit], detector.trigger_on, detector.trigger_off)
            got = intervals(readings.units[at_sample, unit : unit + 1])[0]
            assert got == expected, (trace.meta["scenario"], trace.meta["seed"], unit)
