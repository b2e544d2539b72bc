"""A simulated organisation advancing in accelerated real time (``simpy.rt.RealtimeEnvironment``).

The model is the study's (``scenarios.model``), started in a real-time environment: the pacing
changes, the observations do not, so health check k sees exactly observation k of
``scenarios.simulate`` with the same scenario, seed and organisation.

>>> from scenarios.catalogue import Steady
>>> source = SimSource(Steady(), seed=0, org=OrgConfig(n_units=3, warmup_days=0, scenario_days=0.5),
...                    interval_s=1800.0, speed=1000.0)
>>> [obs.time_h for obs in source.poll()]  # the observations of the first half hour
[0.25, 0.5]
"""

from __future__ import annotations

from collections.abc import Generator

import simpy
from simpy.rt import RealtimeEnvironment

from scenarios import cell_rng
from scenarios.catalogue import Scenario
from scenarios.model import start_model
from scenarios.org import OrgConfig
from scenarios.trace import Layout, Observation


class SimSource:
    """Every ``interval_s`` simulated seconds, the observations recorded since the last poll.

    ``speed`` is simulated hours per wall-clock second (1/3600: real time). When the machine cannot
    keep up, the simulation runs late rather than failing, and catches up when it can.
    """

    def __init__(
        self, scenario: Scenario, seed: int, org: OrgConfig, interval_s: float, speed: float
    ) -> None:
        rng = cell_rng(scenario.name, seed)
        plan = scenario.plan(rng, org)
        self.env = RealtimeEnvironment(factor=1.0 / speed, strict=False)
        self.model = start_model(org, plan, rng, self.env)
        self.layout: Layout = org.layout()
        self.interval_h = interval_s / 3600.0
        self.description = (
            f"simulated time (scenario {scenario.name}, seed {seed}, {speed:g} simulated h per wall second)"
        )
        self._read = 0
        self._tick = self.env.event()
        self.env.process(self._clock())
        self.env.sync()  # the wall clock starts now, not when the model was built

    def _clock(self) -> Generator[simpy.Event, None, None]:
        while True:
            yield self.env.timeout(self.interval_h)
            self._tick.succeed()
            self._tick = self.env.event()

    def poll(self) -> list[Observation] | None:
        """Advance to the next health check; its new observations, or None once the run is over."""
        model = self.model
        if self._read >= model.n_steps:
            return None
        self.env.run(until=self._tick)
        dt = model.org.dt_h
        new = [Observation(dt * (k + 1), model.record[k].copy()) for k in range(self._read, model.step)]
        self._read = model.step
        return new
