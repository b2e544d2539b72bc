"""STA/LTA reference values: the module's quirks (faithful) and ObsPy's definitions (textbook)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import Level
from detectors.seismic import SeismicDetector, characteristic, severity_levels, trigger_onset
from scenarios.errors import InputError
from scenarios.trace import FIELD_INDEX, FIELDS, Layout, Trace, Truth


@pytest.mark.parametrize(("nsta", "nlta"), [(5, 30), (3, 10), (2, 4)])
def test_faithful_first_nonzero_sample_reads_nlta_plus_one_over_nsta_plus_one(nsta, nlta):
    ratio = characteristic([0.0, 0.0, 0.0, 2.0, 2.0], nsta, nlta)
    assert ratio[:3].tolist() == [0.0, 0.0, 0.0]
    assert ratio[3] == pytest.approx((nlta + 1) / (nsta + 1))


def test_faithful_constant_then_jump_is_one_trigger_from_index_0():
    x = [1.0] * 30 + [5.0] * 10
    ratio = characteristic(x)
    assert ratio[0] == pytest.approx(31 / 6)
    assert (ratio >= 1.0).all()  # the start-up transient decays towards 1 from above: never off
    assert trigger_onset(ratio, 2.5, 1.0) == [(0, 39)]


def test_textbook_recursive_matches_values_computed_by_hand():
    # nsta 2, nlta 4, squares [0, 4, 0, 0, 16, 0]: (STA, LTA) after samples 1..5 are (2, 1), (1, 0.75),
    # (0.5, 0.5625), (8.25, 4.421875), (4.125, 3.31640625); the first nlta ratios are zeroed
    ratio = characteristic([0.0, 2.0, 0.0, 0.0, 4.0, 0.0], 2, 4, "textbook")
    np.testing.assert_allclose(ratio, [0, 0, 0, 0, 8.25 / 4.421875, 4.125 / 3.31640625], rtol=1e-12)


def test_textbook_classic_matches_values_computed_by_hand():
    # nsta 2, nlta 4, squares [1, 1, 1, 1, 9, 1]: full windows from sample 3 on
    ratio = characteristic([1.0, 1.0, 1.0, 1.0, 3.0, 1.0], 2, 4, "textbook", "classic")
    np.testing.assert_allclose(ratio, [0, 0, 0, 1.0, 5.0 / 3.0, 5.0 / 3.0], rtol=1e-12)


def test_faithful_classic_is_the_module_classic():
    # the module: full windows from sample nlta on (not nlta - 1), 0 while LTA <= 1e-10
    x = [1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    ratio = characteristic(x, 2, 4, "faithful", "classic")
    np.testing.assert_allclose(ratio[:6], [0, 0, 0, 0, 5.0 / 3.0, 5.0 / 3.0], rtol=1e-12)
    assert ratio[-1] == 0.0


def test_trigger_conventions():
    charfct = [0.0, 3.0, 3.0, 0.5, 0.0, 3.0, 1.5, 1.5, 0.8, 0.0]
    assert trigger_onset(charfct, 2.0, 1.0, "textbook") == [(1, 2), (5, 7)]  # ObsPy: last sample >= off
    assert trigger_onset(charfct, 2.0, 1.0, "faithful") == [(1, 3), (5, 8)]  # module: first sample < off
    on_the_threshold = [0.0, 2.0, 2.0, 0.0]
    assert trigger_onset(on_the_threshold, 2.0, 1.0, "textbook") == [(1, 2)]  # on at >= on
    assert trigger_onset(on_the_threshold, 2.0, 1.0, "faithful") == [(1, 3)]
    off_exactly = [0.0, 3.0, 1.0, 0.0]
    assert trigger_onset(off_exactly, 2.0, 1.0, "textbook") == [(1, 2)]  # 1.0 is >= off
    assert trigger_onset(off_exactly, 2.0, 1.0, "faithful") == [(1, 3)]  # 1.0 is not < off
    assert trigger_onset([0.0, 3.0, 2.0], 2.0, 1.0, "faithful") == [(1, 2)]  # still on at the end


def test_severity_by_the_highest_ratio_of_the_trigger():
    active = np.ones(5, dtype=bool)
    peaks = np.array([2.5, 3.5, 4.99, 5.0, 10.0])
    assert severity_levels(active, peaks).tolist() == [2, 2, 2, 3, 4]
    assert severity_levels(~active, peaks).tolist() == [0] * 5


def counts_trace(hourly: np.ndarray, field: str = "swap_requests") -> Trace:
    """Counts per hour and unit, spread as one count per health check from the start of each hour."""
    dt, n = 0.25, hourly.shape[1]
    values = np.zeros((len(hourly) * 4, len(FIELDS), n))
    values[:, FIELD_INDEX["staff_on_duty"]] = 4.0
    values[0::4, FIELD_INDEX[field]] = hourly
    layout = Layout(np.full(n, 4.0), np.ones(n), np.ones((n, n)) - np.eye(n), dt, 0.0)
    t = len(values)
    return Trace(dt * np.arange(1, t + 1), values, layout, {}, Truth(np.zeros((t, n))))


def test_faithful_detector_waits_for_nlta_samples_then_reports_the_open_trigger():
    hourly = np.zeros((40, 2))
    hourly[:, 1] = 1.0  # a constant signal: the first sample reads 5.17 and the trigger never goes off
    readings = SeismicDetector().run(counts_trace(hourly))
    hour_end = lambda h: 4 * h - 1  # noqa: E731 - last health check of hour h (1-based)
    assert (readings.level[: hour_end(29) + 1] == Level.OK).all()  # fewer than nlta samples
    assert (readings.score[: hour_end(29) + 1] == 0.0).all()  # and no score either, as the module
    assert readings.level[hour_end(30)] == Level.CRITICAL  # peak 5.17 >= 5: "high"
    assert readings.units[hour_end(30)].tolist() == [False, True]
    assert readings.score[hour_end(30)] == pytest.approx(characteristic(hourly[:30, 1])[-1])
    textbook = SeismicDetector(variant="textbook").run(counts_trace(hourly))
    assert textbook.level.max() == Level.OK  # a constant signal reads 1 once the start-up is zeroed


def test_detector_sums_counts_into_samples_and_holds_between_them():
    hourly = np.zeros((60, 3))
    hourly[40:44, 2] = 3.0
    readings = SeismicDetector(variant="textbook", signal="absences").run(counts_trace(hourly, "absences"))
    ratio = np.nan_to_num(characteristic(hourly[:, 2], 5, 30, "textbook"))  # ObsPy's 0 / 0 reads 0
    np.testing.assert_allclose(readings.score[3::4], ratio)  # score = the max over units of the ratio
    np.testing.assert_array_equal(readings.score[4::4], readings.score[3:-1:4])  # held within the hour
    on = trigger_onset(ratio, 2.5, 1.0, "textbook")
    assert on and on[0][0] == 40
    assert readings.level[4 * 40 + 3] >= Level.WARNING
    assert not SeismicDetector(variant="textbook").run(counts_trace(hourly, "absences")).level.any()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"nsta": 30, "nlta": 5}, "nlta"),
        ({"nsta": 0}, "nsta"),
        ({"nlta": 2.5}, "nlta"),
        ({"signal": "queue"}, "signal"),
        ({"method": "delayed"}, "method"),
        ({"trigger_on": 0.5}, "trigger_on"),
        ({"variant": "obspy"}, "variant"),
    ],
)
def test_bad_parameters_are_named(params, field):
    with pytest.raises(InputError) as error:
        SeismicDetector(**params)
    assert error.value.field == f"detector.seismic.{field}"
