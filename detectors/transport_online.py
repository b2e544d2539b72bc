"""``transport_online``: the transport detector with the phase-4 tuner (needs the extra ``online``).

At each health check the transport rates give the stress layer's arrivals A, service capacity C
and observed outflow K; the tuner (``detectors.tuner``) forecasts k*(t + H), the rebalancing
capacity that would keep the layer's Pe at the warning threshold one horizon ahead.

score = the forecast Pe at the horizon if the organisation keeps the capacity it has now:
Pe_hat = pe_warning * (C + k_hat) / (C + K). It is the capacity gap k_hat - K on Pe's scale:
Pe_hat >= pe_warning exactly when the forecast need exceeds the outflow the layer has, and, being
dimensionless, it takes the roadmap's thresholds (WARNING at 0.8, CRITICAL at 1.2) at any
organisation size, while a gap in tasks per hour would need a threshold per size. Before the tuner
has learned anything its forecast is persistence, k_hat = k*(t), and Pe_hat is transport's Pe.

Features, all observed at t: Pe of the layer (capped at 10 so one interval without staff cannot
dominate the regression), saturation gradient, boundary-layer thickness, the system's arrival rate
over its nominal capacity, the layer's arrivals, service capacity and outflow over the nominal
capacity of a layer-sized group (so the model does not depend on the organisation's size), and the
time of day (sine and cosine of a 24 h cycle); the tuner adds k*(t) and its change over the last
horizon. Capacities are learned and reported in the same nominal unit and converted to tasks/h.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.base import Level, Reading, Readings
from detectors.transport import StressLayerDetector, TransportDetector, peclet_number, quartile_size
from detectors.tuner import EXTRA, DynamicDiffusionTuner, require_river
from scenarios.params import param
from scenarios.trace import Layout, Observation, Trace, check_values

PE_FEATURE_CAP = 10.0
DAY_H = 24.0


class TransportOnlineDetector(StressLayerDetector):
    """Forecast Pe of the stress layer one horizon ahead, from an online-learned capacity need.

    ``detail``: ``pe`` (transport's, now), ``pe_forecast`` (the score), ``recommended_capacity``
    (max(0, k_hat): rebalancing out of the stress layer, tasks/h, to keep Pe below the warning
    threshold at the horizon), ``layer_outflow`` (K, tasks/h) and ``labels_learned``. Levels:
    WARNING at ``pe_forecast >= pe_warning``, CRITICAL at ``>= pe_critical``; while alerting it
    implicates the stress layer (with every unit tied with its least loaded member). The settings it
    shares with transport are declared in ``StressLayerDetector``.

    >>> from scenarios import simulate
    >>> trace = simulate("ramp", seed=0, n_units=4, warmup_days=0.5, scenario_days=0.5)
    >>> readings = TransportOnlineDetector().run(trace)
    >>> sorted(readings.detail)
    ['labels_learned', 'layer_outflow', 'pe', 'pe_forecast', 'recommended_capacity']
    >>> int(readings.detail["labels_learned"][-1]) == len(trace) - 16  # 4 h of 15-min checks
    True
    """

    name = "transport_online"
    score_label = "forecast Pe of the stress layer one horizon ahead (dimensionless)"
    requires = ("river", EXTRA)

    horizon_h: float = param(
        4.0,
        "how far ahead the capacity need is forecast (whole health checks, rounded up)",
        unit="hours",
        gt=0,
    )
    learning_rate: float = param(
        0.01, "AdaGrad step size of the tuner's regression (and step of its intercept)", gt=0
    )
    l2: float = param(0.0, "L2 penalty on the tuner's regression weights", ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        shared = StressLayerDetector.settings_model.model_fields
        self._transport = TransportDetector(**{name: getattr(self, name) for name in shared})
        require_river()  # a missing extra is a config error, reported before any run

    def reset(self, layout: Layout) -> None:
        super().reset(layout)
        self._transport.reset(layout)
        steps = max(1, math.ceil(self.horizon_h / layout.dt_h - 1e-9))
        self._tuner = DynamicDiffusionTuner(horizon_steps=steps, learning_rate=self.learning_rate, l2=self.l2)
        nominal = layout.staff * layout.service_rate
        self._system_capacity = float(nominal.sum()) or 1.0
        self._layer_capacity = quartile_size(layout.n_units) * self._system_capacity / layout.n_units

    def run(self, trace: Trace) -> Readings:
        """Reset plus ``update`` at every step: transport's metrics for all steps at once
        (``TransportDetector.metrics_over``), then the online learner, which is sequential, step by
        step over them."""
        self.reset(trace.layout)
        check_values(trace.values, f"{self.name}.run")
        m = self._transport.metrics_over(trace)
        unit, length, t = self._layer_capacity, m["length"], len(trace)
        on_layer = lambda x: np.add.reduce(np.take_along_axis(x, m["layer"], axis=1), axis=1)  # noqa: E731
        arrival = m["layer_arrival"] / unit
        capacity = on_layer(m["capacity"]) / unit
        outflow = on_layer(m["outflow"]) / unit
        total = np.add.reduce(m["arrival"], axis=1) / self._system_capacity
        hour = 2.0 * math.pi * np.asarray(trace.time_h, dtype=float) / DAY_H
        pe_now = m["pe"]
        forecast_pe, recommended, learned = np.empty(t), np.empty(t), np.empty(t)
        for k in range(t):
            features = {
                "peclet_number": min(float(pe_now[k]), PE_FEATURE_CAP),
                "saturation_gradient": float(m["gradient"][k]),
                "boundary_layer": float(m["thickness"][k]),
                "arrival_rate": float(total[k]),
                "layer_arrival_rate": float(arrival[k]),
                "layer_capacity": float(capacity[k]),
                "layer_outflow": float(outflow[k]),
                "day_sin": math.sin(hour[k]),
                "day_cos": math.cos(hour[k]),
            }
            required = length * float(arrival[k]) / self.pe_warning - float(capacity[k])
            forecast = max(self._tuner.update(features, required), -float(capacity[k]))
            forecast_pe[k] = peclet_number(
                self.pe_warning * (float(capacity[k]) + forecast), float(capacity[k]) + float(outflow[k])
            )
            recommended[k] = max(0.0, forecast) * unit
            learned[k] = float(self._tuner.n_learned)
        alerting = forecast_pe >= self.pe_warning
        level = np.where(
            alerting, np.where(forecast_pe >= self.pe_critical, Level.CRITICAL, Level.WARNING), 0
        )
        floor = np.minimum.reduce(np.take_along_axis(m["load"], m["layer"], axis=1), axis=1)
        units = alerting[:, None] & (m["load"] >= floor[:, None])
        detail = {
            "pe": pe_now,
            "pe_forecast": forecast_pe,
            "recommended_capacity": recommended,
            "layer_outflow": outflow * unit,
            "labels_learned": learned,
        }
        return Readings(
            np.asarray(trace.time_h, dtype=float), forecast_pe.copy(), level.astype(np.int8), units, detail
        )

    def step(self, obs: Observation) -> Reading:
        metrics = self._transport.observe(obs)
        layer, length, unit = metrics["layer"], metrics["length"], self._layer_capacity
        arrival = float(np.add.reduce(metrics["arrival"][layer])) / unit
        capacity = float(np.add.reduce(metrics["capacity"][layer])) / unit
        outflow = float(np.add.reduce(metrics["outflow"][layer])) / unit
        hour = 2.0 * math.pi * obs.time_h / DAY_H
        features = {
            "peclet_number": min(metrics["pe"], PE_FEATURE_CAP),
            "saturation_gradient": metrics["gradient"],
            "boundary_layer": metrics["thickness"],
            "arrival_rate": float(np.add.reduce(metrics["arrival"])) / self._system_capacity,
            "layer_arrival_rate": arrival,
            "layer_capacity": capacity,
            "layer_outflow": outflow,
            "day_sin": math.sin(hour),
            "day_cos": math.cos(hour),
        }
        required = length * arrival / self.pe_warning - capacity
        forecast = max(self._tuner.update(features, required), -capacity)
        pe_forecast = peclet_number(self.pe_warning * (capacity + forecast), capacity + outflow)
        level = Level.OK
        units: tuple[int, ...] | np.ndarray = ()
        if pe_forecast >= self.pe_warning:
            level = Level.CRITICAL if pe_forecast >= self.pe_critical else Level.WARNING
            load = metrics["load"]
            units = (load >= np.minimum.reduce(load[layer])).nonzero()[0]
        detail = {
            "pe": metrics["pe"],
            "pe_forecast": pe_forecast,
            "recommended_capacity": max(0.0, forecast) * unit,
            "layer_outflow": outflow * unit,
            "labels_learned": float(self._tuner.n_learned),
        }
        return Reading(pe_forecast, int(level), units, detail)
