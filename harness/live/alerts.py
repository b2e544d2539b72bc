"""Alerts (the roadmap's phase 3): on each level change, one JSON line per message, written to stdout
or a file and optionally POSTed to a webhook.

Each line holds ``time`` (UTC wall clock), ``time_h`` (the observation's time), ``detector``,
``level`` and ``previous_level`` (names), ``score``, ``metrics`` and ``message``. The transport
detector's messages are the roadmap's phase-3 messages of its new reading; every other change (and a
transport reading back to OK) gets one line saying what changed. JSON has no infinity or NaN: an
infinite metric is written as the string "+Inf" (Prometheus' spelling), an undefined one as null.

>>> from detectors.base import Reading
>>> check = HealthCheck(12.5, {"utilization": Reading(0.85, 2)}, changes={"utilization": (0, 2)})
>>> [line["message"] for line in alert_lines(check, transport=None)]
['utilization: WARNING (was OK)']
"""

from __future__ import annotations

import json
import math
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from detectors.base import Level
from harness.live.service import HealthCheck

WEBHOOK_TIMEOUT_S = 5.0


def alert_lines(check: HealthCheck, transport: str | None) -> list[dict]:
    """The alert lines of one health check, one per message of each detector whose level changed."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    lines = []
    for name, (before, level) in check.changes.items():
        reading = check.readings[name]
        head = {
            "time": now,
            "time_h": check.time_h,
            "detector": name,
            "level": Level(level).name,
            "previous_level": Level(before).name,
            "score": json_number(reading.score),
        }
        change = f"{name}: {Level(level).name} (was {Level(before).name})"
        if name == transport and check.transport is not None:
            metrics = {k: json_number(v) for k, v in check.transport["metrics"].items()}
            messages = check.transport["messages"] or [change]
        else:
            metrics = {k: json_number(v) for k, v in reading.detail.items()}
            messages = [change]
        lines.extend({**head, "metrics": metrics, "message": message} for message in messages)
    return lines


def json_number(x: float) -> float | str | None:
    """A float JSON can hold: "+Inf" / "-Inf" for infinities, null for NaN."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return x


class AlertSink:
    """Writes alert lines to ``path`` (appended; None: stdout) and POSTs each to ``webhook``."""

    def __init__(self, path: str | Path | None = None, webhook: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.webhook = webhook
        self._file = None if self.path is None else self.path.open("a", encoding="utf-8")

    def emit(self, lines: list[dict]) -> list[str]:
        """Write and send ``lines``; return one problem line per webhook delivery that failed."""
        problems = []
        for line in lines:
            text = json.dumps(line, allow_nan=False)
            out = self._file or sys.stdout
            out.write(text + "\n")
            out.flush()
            if self.webhook is not None:
                problem = self._post(text)
                if problem:
                    problems.append(problem)
        return problems

    def _post(self, text: str) -> str | None:
        request = urllib.request.Request(
            self.webhook, data=text.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            return f"monitor.webhook: cannot deliver an alert to {self.webhook}: {reason}"
        return None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
