"""The utilization adapter on hand-built observations."""

import numpy as np
import pytest

from detectors.utilization import BANDS, UtilizationDetector, band
from scenarios.errors import InputError
from scenarios.org import OrgConfig
from scenarios.trace import FIELD_INDEX, FIELDS, Observation


@pytest.mark.parametrize(
    ("rho", "name"),
    [
        (0.0, "GREEN"),
        (0.6999, "GREEN"),
        (0.70, "YELLOW"),
        (0.7999, "YELLOW"),
        (0.80, "ORANGE"),
        (0.90, "RED"),
        (0.9499, "RED"),
        (0.95, "BLACK"),
        (np.inf, "BLACK"),
    ],
)
def test_bands_have_inclusive_lower_bounds(rho, name):
    assert BANDS[band(rho)] == name


def observation(arrivals, busy_hours, staff, t=0.25):
    values = np.zeros((len(FIELDS), len(staff)))
    values[FIELD_INDEX["arrivals"]] = arrivals
    values[FIELD_INDEX["busy_hours"]] = busy_hours
    values[FIELD_INDEX["staff_on_duty"]] = staff
    return Observation(t, values)


def test_demand_and_busy_bases_over_a_trailing_hour():
    layout = OrgConfig(n_units=2, staff_per_unit=2).layout()  # mu = 1, dt = 0.25
    demand, busy = UtilizationDetector(basis="demand"), UtilizationDetector(basis="busy")
    demand.reset(layout)
    busy.reset(layout)
    # capacity per step: 4 staff * 0.25 h = 1 staff-hour; arrivals bring 1 h of work each
    steps = [([1, 0], [0.5, 0.5]), ([1, 1], [0.5, 0.5]), ([0, 0], [0.0, 0.0]), ([0, 1], [1.0, 0.0])]
    got = [
        (demand.update(observation(a, b, [2, 2])).score, busy.update(observation(a, b, [2, 2])).score)
        for a, b in steps
    ]
    assert [g[0] for g in got] == pytest.approx([1.0, 1.5, 1.0, 1.0])
    assert [g[1] for g in got] == pytest.approx([1.0, 1.0, 2 / 3, 0.75])
    # the fifth step pushes the first out of the one-hour window
    assert demand.update(observation([0, 0], [0, 0], [2, 2])).score == pytest.approx(3 / 4)


@pytest.mark.parametrize("limits", [{}, {"emergency_threshold": 1.5}])
def test_no_capacity_reads_like_the_module(limits):
    """The module: rate 1.0 and BLACK with work and no capacity, 0.0 and GREEN with neither."""
    detector = UtilizationDetector(**limits)
    detector.reset(OrgConfig(n_units=1, staff_per_unit=1).layout())  # nobody on duty
    reading = detector.update(observation([2], [0], [0]))
    assert reading.score == 1.0 and BANDS[reading.level] == "BLACK"
    detector.reset(OrgConfig(n_units=1, staff_per_unit=1).layout())  # nobody on duty
    reading = detector.update(observation([0], [0], [0]))
    assert reading.score == 0.0 and BANDS[reading.level] == "GREEN"


def test_band_limits_are_parameters():
    layout = OrgConfig(n_units=1, staff_per_unit=4).layout()  # capacity 1 staff-hour per step
    limits = {"warning_threshold": 0.5, "max_utilization": 0.6, "critical_threshold": 0.7}
    shifted = UtilizationDetector(window_h=0.25, **limits, emergency_threshold=2.0)
    default = UtilizationDetector(window_h=0.25)
    levels = []
    for detector in (default, shifted):
        detector.reset(layout)
        readings = [detector.update(observation([a], [0], [4])) for a in (0.55, 0.65, 0.85, 1.2)]
        levels.append([BANDS[r.level] for r in readings])
    assert levels[0] == ["GREEN", "GREEN", "ORANGE", "BLACK"]
    assert levels[1] == ["YELLOW", "ORANGE", "RED", "RED"]


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"warning_threshold": -0.1}, "warning_threshold"),
        ({"max_utilization": 0.7}, "max_utilization"),
        ({"critical_threshold": 0.75}, "critical_threshold"),
        ({"emergency_threshold": 0.9}, "emergency_threshold"),
    ],
)
def test_band_limits_must_increase(limits, field):
    with pytest.raises(InputError) as error:
        UtilizationDetector(**limits)
    assert error.value.field == f"detector.utilization.{field}"
