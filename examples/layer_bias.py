"""Bias of the transport detector's stress-layer Pe estimators: ``python examples/layer_bias.py``.

Mean Pe over the scored health checks of default runs (12 units, 7 days warm-up + 14 days):

- ``steady`` (rho 0.6, seeds 0-9): every unit's offered load is 0.6, so an unbiased layer reads ~0.6.
- ``uneven`` (seeds 0-2, from 6 h after the onset): three hot units; the reference is an oracle
  that chooses the layer on the true arrival rates and measures it with them and each unit's mean
  outflow over that period (it reads the hidden truth: a yardstick, not a detector).

Estimators: ``plain`` (the roadmap's: layer chosen and measured on the same EWMAs), ``split`` (the
detector's ``layer='split'``: chosen on alternate health checks, measured on the others, both ways),
and, for comparison, choosing on a slow EWMA (8 h or 24 h) and measuring on the fast one, which the
detector does not offer because it stays biased (the slow estimate shares the fast one's data).
"""

from __future__ import annotations

import numpy as np

from detectors.base import ewma_alpha
from detectors.transport import TransportDetector, peclet_number, stress_layer
from scenarios import simulate
from scenarios.trace import FIELD_INDEX, Trace


def ewma(x: np.ndarray, alpha: float) -> np.ndarray:
    """EWMA over the rows of x, initialised at the first row (as the detector's)."""
    out = np.empty_like(x)
    out[0] = x[0]
    for k in range(1, len(x)):
        out[k] = out[k - 1] + alpha * (x[k] - out[k - 1])
    return out


Rates = tuple[np.ndarray, np.ndarray]  # arrival, outflow per step and unit


def layer_pe(select: Rates, measure: Rates, capacity: np.ndarray) -> np.ndarray:
    """Per step, Pe of the layer chosen on ``select`` (arrival, outflow) and measured on ``measure``."""
    pe = np.empty(len(capacity))
    for t in range(len(capacity)):
        layer = stress_layer(select[0][t], capacity[t], select[1][t])
        pe[t] = peclet_number(measure[0][t][layer].sum(), (capacity[t] + measure[1][t])[layer].sum())
    return pe


def rates(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dt = trace.layout.dt_h
    arrival = trace.values[:, FIELD_INDEX["arrivals"]] / dt
    outflow = trace.values[:, FIELD_INDEX["transfers_out"]] / dt
    capacity = trace.values[:, FIELD_INDEX["staff_on_duty"]] * trace.layout.service_rate
    return arrival, outflow, capacity


def slow_select(trace: Trace, tau_h: float, slow_h: float) -> np.ndarray:
    arrival, outflow, capacity = rates(trace)
    fast, slow = ewma_alpha(trace.layout.dt_h, tau_h), ewma_alpha(trace.layout.dt_h, slow_h)
    chosen_on = (ewma(arrival, slow), ewma(outflow, slow))
    return layer_pe(chosen_on, (ewma(arrival, fast), ewma(outflow, fast)), capacity)


def oracle(trace: Trace, steps: np.ndarray) -> np.ndarray:
    _, outflow, capacity = rates(trace)
    truth = trace.truth.arrival_rate
    mean_outflow = np.broadcast_to(outflow[steps].mean(axis=0), truth.shape)
    return layer_pe((truth, mean_outflow), (truth, mean_outflow), capacity)[steps]


def main() -> None:
    steady = [simulate("steady", seed=s) for s in range(10)]
    uneven = [simulate("uneven", seed=s) for s in range(3)]
    runs = {
        "steady": [(t, t.time_h > t.layout.warmup_h) for t in steady],
        "uneven": [(t, t.time_h > t.meta["onsets_h"]["uneven"] + 6) for t in uneven],
    }
    for scenario, traces in runs.items():
        print(f"{scenario}: mean Pe of the stress layer")
        if scenario == "uneven":
            reference = np.concatenate([oracle(t, m) for t, m in traces]).mean()
            print(f"  oracle (true rates)      {reference:.3f}")
        for tau_h in (1.0, 4.0, 8.0):
            for layer in ("plain", "split"):
                detector = TransportDetector(tau_h=tau_h, layer=layer)
                pe = np.concatenate([detector.run(t).score[m] for t, m in traces])
                print(f"  {layer:5s} tau_h {tau_h:<4} mean {pe.mean():.3f} sd {pe.std():.3f}")
            for slow_h in (8.0, 24.0):
                if slow_h > tau_h:
                    pe = np.concatenate([slow_select(t, tau_h, slow_h)[m] for t, m in traces])
                    print(f"  slow {slow_h:g} h -> tau_h {tau_h:<4} mean {pe.mean():.3f} sd {pe.std():.3f}")


if __name__ == "__main__":
    main()
