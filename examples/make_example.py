"""Regenerate the example historical data: ``python examples/make_example.py``.

The example is synthetic: a 4-unit organisation simulated by tdbench (scenario ``spike``, seed 1,
one health check per hour, 7 days of warm-up then 3 days with a surge on day 1), exported in the
historical schema with named units, busy hours rounded to 0.001 h and no ``service_rate`` column
(so ``task=evaluate`` estimates it from the warm-up). The labels are its ground-truth events after
the warm-up, as an organisation's incident log would list them (system-wide breaches with an empty
``units``, which means every unit).
"""

from __future__ import annotations

from pathlib import Path

from scenarios import simulate
from scenarios.historical import labels_frame, observations_frame

HERE = Path(__file__).resolve().parent
UNITS = ["cardiology", "emergency", "oncology", "surgery"]


def main() -> None:
    trace = simulate(
        "spike", seed=1, n_units=4, dt_h=1.0, warmup_days=7, scenario_days=3, onset_day=1, jitter_h=0
    )
    frame = observations_frame(trace).drop(columns="service_rate")
    frame["unit"] = frame["unit"].map(dict(enumerate(UNITS)))
    frame["busy_hours"] = frame["busy_hours"].round(3)
    frame["staff"] = frame["staff"].astype(int)
    frame.to_csv(HERE / "historical.csv", index=False)

    labels = labels_frame(trace)
    labels = labels[labels["onset_h"] > trace.layout.warmup_h].copy()
    labels["units"] = labels["units"].map(lambda text: ";".join(UNITS[int(u)] for u in text.split(";")))
    labels.loc[labels["target"] == "utilization_breach", "units"] = ""  # system-wide: every unit
    labels.to_csv(HERE / "historical_labels.csv", index=False)


if __name__ == "__main__":
    main()
