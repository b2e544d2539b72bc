"""Prometheus rules from a study's choice (DESIGN section 11): one alerting rule per chosen detector
and recording rules for the roadmap's four gauges, and a ``promtool test rules`` file whose expected
alerts are the alert episodes the harness scores on a simulated run.

An alerting rule fires while ``tdbench_detector_score{detector="..."} >= threshold`` and keeps firing
for ``keep_firing_for`` after the score drops. Alert runs that the harness merges into one episode
(quiet gap < ``scoring.refractory_h``) must stay one firing, and runs it keeps apart must not: with
health checks every ``dt`` a quiet gap is a whole number of checks, so ``keep_firing_for`` is set
half a check above the longest merged gap, ``(m + 1/2) dt`` with ``m dt`` the longest gap below the
refractory gap. That leaves half a check of room for scrape and evaluation timing (keep both
intervals under half the health-check interval). A firing interval is then an episode
``[start, end)`` extended by ``keep_firing_for``.

>>> keep_firing_for_s(refractory_h=1.0, dt_h=0.25)  # gaps of 0.75 h merge, 1 h do not
3150.0
>>> duration(3150.0), alert_name("transport_online")
('52m30s', 'TdbenchTransportOnline')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from detectors.base import Readings
from detectors.transport import CRITICAL_MESSAGE, WARNING_MESSAGE
from harness.analysis.scoring import ScoringSpec, alert_mask, find_episodes
from harness.live.choice import RunChoice
from scenarios.trace import Trace

SCORE = "tdbench_detector_score"
#: the roadmap's four gauges (time to saturation in seconds, the base unit) -> how instances combine
RECORDED = {
    "resilience_peclet_number": "max",
    "resilience_saturation_gradient": "max",
    "resilience_boundary_layer_thickness": "max",
    "resilience_time_to_saturation_seconds": "min",
}
#: transport metric of each recorded gauge (the reading's detail key, and a factor to the gauge's unit)
GAUGE_DETAIL = {
    "resilience_peclet_number": ("pe", 1.0),
    "resilience_saturation_gradient": ("gradient", 1.0),
    "resilience_boundary_layer_thickness": ("boundary_layer", 1.0),
    "resilience_time_to_saturation_seconds": ("time_to_saturation_h", 3600.0),
}
RULE_FILE = "tdbench_rules.yml"
TEST_FILE = "tdbench_rules_test.yml"
JOB, INSTANCE = "tdbench_monitor", "simulated"
STEP_SAMPLES = 5  # promtool samples (and evaluations) per health check: well under half a check apart


def keep_firing_for_s(refractory_h: float, dt_h: float) -> float:
    """Seconds an alert keeps firing after its score drops: half a check above the longest quiet gap
    the harness merges (0 when it merges none)."""
    merged = math.ceil(refractory_h / dt_h - 1e-9) - 1  # m: gaps of m checks or fewer merge
    return max(0.0, (merged + 0.5) * dt_h * 3600.0)


def duration(seconds: float) -> str:
    """A Prometheus duration: 3150 -> '52m30s' (milliseconds when needed)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts, rest = [], ms
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def alert_name(detector: str) -> str:
    return "Tdbench" + "".join(part.capitalize() for part in detector.replace("-", "_").split("_"))


def recording_rules() -> list[dict]:
    """Per job, the roadmap's four gauges over its instances (the worst one: highest, or soonest)."""
    return [
        {"record": f"job:{name}:{how}", "expr": f"{how} without (instance) ({name})"}
        for name, how in RECORDED.items()
    ]


def alert_text(
    name: str, threshold: float, choice: RunChoice, keep_s: float, transport: Mapping | None
) -> tuple[str, dict[str, str]]:
    """The severity and the annotations of a detector's rule (static: promtool compares them)."""
    severity, summary = "warning", f"{name}: score >= {threshold:.6g}, the study's alert threshold"
    if transport is not None:  # the roadmap's phase-3 message of a Pe at the threshold
        critical = threshold >= transport["pe_critical"]
        severity = "critical" if critical else severity
        message = CRITICAL_MESSAGE if critical else WARNING_MESSAGE
        summary = f"{name}: {message} (Pe >= {threshold:.6g}, the study's alert threshold)"
    budget = ", ".join(f"{k} <= {v:g}" for k, v in choice.budget.items()) or "its false-alarm budget"
    flags = "" if name in choice.feasible else " It was NOT feasible within the budget (nearest point)."
    if name in choice.over_budget:
        flags += " It was over the budget on the study's test seeds."
    description = (
        f"Threshold chosen by the study in {choice.run_dir} (headline within {budget}).{flags} The alert "
        f"keeps firing {duration(keep_s)} after the score drops, so that alerts closer than the scoring's "
        f"refractory gap ({choice.refractory_h:g} h) are one, as the harness scores episodes."
    )
    return severity, {"summary": summary, "description": description}


def rule_file(
    choice: RunChoice, thresholds: Mapping[str, float], transport: Mapping | None, dt_h: float
) -> dict:
    """The rule file: recording rules, then one alerting rule per detector in ``thresholds``.
    ``transport`` is the transport detector's parameters when it is among them."""
    keep_s = keep_firing_for_s(choice.refractory_h, dt_h)
    alerts = []
    for name, threshold in thresholds.items():
        severity, annotations = alert_text(
            name, threshold, choice, keep_s, transport if name == "transport" else None
        )
        rule = {
            "alert": alert_name(name),
            "expr": f'{SCORE}{{detector="{name}"}} >= {threshold!r}',
            "labels": {"severity": severity, "detector": name},
            "annotations": annotations,
        }
        if keep_s > 0:
            rule["keep_firing_for"] = duration(keep_s)
        alerts.append(rule)
    return {
        "groups": [
            {"name": "tdbench_recording", "rules": recording_rules()},
            {"name": "tdbench_alerts", "rules": alerts},
        ]
    }


def series_values(values: np.ndarray, known: np.ndarray | None = None) -> str:
    """promtool's expanding notation: nothing before the first health check, then each check's value
    held for STEP_SAMPLES samples; NaN where the value is undefined or ``known`` is False (the
    monitor's warm-up), as the monitor exports it."""
    known = np.ones(len(values), dtype=bool) if known is None else known
    terms = [f"_x{STEP_SAMPLES}"]
    for value, ok in zip(values.tolist(), known.tolist(), strict=True):
        if ok and math.isfinite(value):
            terms.append(f"{value!r}x{STEP_SAMPLES - 1}")
            continue
        text = "NaN" if not ok or math.isnan(value) else "+Inf" if value > 0 else "-Inf"
        terms.extend([text] * STEP_SAMPLES)  # promtool repeats only numbers
    return " ".join(terms)


def check_times(
    time_h: np.ndarray, dt_h: float, mask: np.ndarray, pairs: np.ndarray, keep_s: float, step_s: float
) -> list[tuple[float, bool]]:
    """(seconds, firing?) to test, from the harness's episodes: each episode's first check (firing),
    every quiet check inside an episode (still firing: the harness merged its runs), one evaluation
    before the end of its keep-firing time (firing) and one after (not firing, unless the series ended),
    one evaluation before each episode (not firing: the harness kept it apart)."""
    end_s = (time_h[-1] + dt_h) * 3600.0
    checks: set[tuple[float, bool]] = set()
    for first, last in pairs.tolist():
        start_s, stop_s = time_h[first] * 3600.0, (time_h[last] + dt_h) * 3600.0
        checks.add((start_s, True))
        checks.add((start_s - step_s, False))
        checks.update((time_h[k] * 3600.0, True) for k in range(first, last + 1) if not mask[k])
        if stop_s + keep_s + step_s < end_s:
            checks.add((stop_s + keep_s - step_s, True))
            checks.add((stop_s + keep_s + step_s, False))
    return sorted(checks)


def promtool_test(
    rules: dict,
    trace: Trace,
    readings: Mapping[str, Readings],
    choice: RunChoice,
    thresholds: Mapping[str, float],
    transport: str | None,
) -> dict:
    """The promtool test of ``rules`` on one simulated run: the monitor's series (scores missing in
    the warm-up, as the monitor exports NaN then) and, per detector, the harness's alert episodes
    (``scoring`` with the study's thresholds and refractory gap) as expected alerts."""
    dt_h = trace.layout.dt_h
    step_s = dt_h * 3600.0 / STEP_SAMPLES
    keep_s = keep_firing_for_s(choice.refractory_h, dt_h)
    time_h, scored = trace.time_h, trace.scored()
    labels = {"job": JOB, "instance": INSTANCE}
    selector = f'job="{JOB}",instance="{INSTANCE}"'
    inputs, alert_tests = [], []
    spec = ScoringSpec(thresholds=dict(thresholds), refractory_h=choice.refractory_h)
    by_name = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    for name in thresholds:
        run = readings[name]
        values = series_values(run.score, scored)
        inputs.append({"series": f'{SCORE}{{detector="{name}",{selector}}}', "values": values})
        mask = alert_mask(run, spec, name) & scored
        pairs = find_episodes(time_h, mask, dt_h, spec.refractory_h)
        rule = by_name[alert_name(name)]
        firing = [{"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": rule["annotations"]}]
        for seconds, fires in check_times(time_h, dt_h, mask, pairs, keep_s, step_s):
            alert_tests.append(
                {
                    "eval_time": duration(seconds),
                    "alertname": rule["alert"],
                    "exp_alerts": firing if fires else [],
                }
            )
    expr_tests = []
    if transport is not None:
        detail = readings[transport].detail
        first = int(np.flatnonzero(scored)[0])
        for gauge, (key, factor) in GAUGE_DETAIL.items():
            values = np.asarray(detail[key], dtype=float) * factor
            inputs.append({"series": f"{gauge}{{{selector}}}", "values": series_values(values)})
            how = RECORDED[gauge]
            value = float(values[first])
            if math.isfinite(value):
                expr_tests.append(
                    {
                        "expr": f"job:{gauge}:{how}",
                        "eval_time": duration(time_h[first] * 3600.0),
                        "exp_samples": [{"labels": f'job:{gauge}:{how}{{job="{JOB}"}}', "value": value}],
                    }
                )
    test = {"interval": duration(step_s), "input_series": inputs, "alert_rule_test": alert_tests}
    if expr_tests:
        test["promql_expr_test"] = expr_tests
    return {"rule_files": [RULE_FILE], "evaluation_interval": duration(step_s), "tests": [test]}


def describe_checks(tests: Sequence[dict]) -> tuple[int, int]:
    """(expected firings, expected silences) of a test file's alert tests."""
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    firing = sum(1 for case in cases if case["exp_alerts"])
    return firing, len(cases) - firing
