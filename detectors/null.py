"""The null baseline: never alerts. Its scores show what a study counts when nothing is detected."""

from __future__ import annotations

from detectors.base import Detector, Level, Reading
from scenarios.trace import Observation


class NullDetector(Detector):
    """Score 0 and level OK at every health check.

    >>> from scenarios import simulate
    >>> trace = simulate("spike", seed=0, n_units=3, warmup_days=0.25, scenario_days=0.25)
    >>> int(NullDetector().run(trace).level.max())
    0
    """

    name = "null"
    score_label = "constant 0 (never alerts)"

    def step(self, obs: Observation) -> Reading:
        return Reading(0.0, int(Level.OK))
