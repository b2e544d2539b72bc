"""Alerts (the roadmap's phase 3) as JSON lines, written to stdout or a file and optionally POSTed
to a webhook off the health check's thread. Prometheus' alerting rules and Alertmanager are the
production path (``tdbench task=rules``); these lines serve setups without them.

Two policies decide when a line is written:

- ``ThresholdEpisodes`` (``monitor.from_run``): a detector alerts while its score >= the threshold
  the study chose, and alert runs closer than the scoring's refractory gap are one episode, so the
  lines are exactly the harness's alert episodes: one ``firing`` line when an episode opens, one
  ``resolved`` line (with the episode's end) once the refractory gap has passed without an alert.
- ``LevelChanges`` (no ``from_run``: the shipped levels): one line per message of each detector whose
  level changed. The transport detector's messages are the roadmap's phase-3 messages of its new
  reading; every other change (and a transport reading back to OK) gets one line saying what changed.

Each line holds ``time`` (UTC wall clock), ``time_h`` (the observation's time), ``detector``,
``basis`` (where the alert rule came from), ``score``, ``metrics`` and ``message``. JSON has no
infinity or NaN: an infinite metric is written as the string "+Inf" (Prometheus' spelling), an
undefined one as null.

>>> from detectors.base import Reading
>>> check = HealthCheck(12.5, {"utilization": Reading(0.85, 2)})
>>> [line["message"] for line in LevelChanges(transport=None).lines(check)]
['utilization: WARNING (was OK)']
>>> episodes = ThresholdEpisodes({"utilization": 0.8}, refractory_h=1.0, transport=None, basis="study")
>>> [line["state"] for line in episodes.lines(check)]
['firing']
>>> quiet = lambda t: HealthCheck(t, {"utilization": Reading(0.1, 0)})
>>> [episodes.lines(quiet(t)) for t in (12.75, 13.0, 13.25)]
[[], [], []]
>>> [(line["state"], line["start_h"], line["end_h"]) for line in episodes.lines(quiet(13.5))]
[('resolved', 12.5, 12.75)]
"""

from __future__ import annotations

import ipaddress
import json
import queue
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from detectors.base import Level
from harness.live.service import HealthCheck, json_number

WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_ATTEMPTS = 3  # each alert line is tried this many times, RETRY_S apart, then dropped
RETRY_S = 1.0
QUEUE_SIZE = 1000  # alert lines waiting for the webhook; beyond that a new line is dropped (counted)
RESPONSE_CAP = 64 * 1024  # bytes of a webhook's response that are read
DRAIN_S = 10.0  # at shutdown, how long lines still queued may take to be delivered


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _metrics(check: HealthCheck, name: str, transport: str | None) -> dict:
    if name == transport and check.transport is not None:
        return dict(check.transport["metrics"])  # JSON-safe already
    return {k: json_number(v) for k, v in check.readings[name].detail.items()}


class LevelChanges:
    """The shipped levels: a line per message of each detector whose level changed since the last
    check it was given (every detector starts at OK)."""

    basis = "shipped levels"

    def __init__(self, transport: str | None) -> None:
        self.transport = transport
        self._levels: dict[str, int] = {}

    def lines(self, check: HealthCheck) -> list[dict]:
        now = utc_now()
        lines = []
        for name, reading in check.readings.items():
            before, level = self._levels.get(name, int(Level.OK)), int(reading.level)
            if level == before:
                continue
            self._levels[name] = level
            head = {
                "time": now,
                "time_h": check.time_h,
                "detector": name,
                "basis": self.basis,
                "level": Level(level).name,
                "previous_level": Level(before).name,
                "score": json_number(reading.score),
                "metrics": _metrics(check, name, self.transport),
            }
            change = f"{name}: {Level(level).name} (was {Level(before).name})"
            messages = [change]
            if name == self.transport and check.transport is not None:
                messages = check.transport["messages"] or [change]
            lines.extend({**head, "message": message} for message in messages)
        return lines


class ThresholdEpisodes:
    """A study's thresholds: alert episodes as the harness scores them (score >= threshold; runs
    closer than ``refractory_h`` merge), a ``firing`` line at each start, a ``resolved`` line at each end."""

    def __init__(
        self, thresholds: Mapping[str, float], refractory_h: float, transport: str | None, basis: str
    ) -> None:
        self.thresholds = dict(thresholds)
        self.refractory_h = refractory_h
        self.transport = transport
        self.basis = basis
        self._start: dict[str, float] = {}  # open episodes: detector -> start time
        self._last: dict[str, float] = {}  # detector -> time of its last alerting check
        self._after: dict[str, float] = {}  # detector -> time of the first quiet check after it

    def lines(self, check: HealthCheck) -> list[dict]:
        lines = []
        for name, threshold in self.thresholds.items():
            reading = check.readings.get(name)
            if reading is None:  # the detector failed: no information at this check
                continue
            if reading.score >= threshold:
                self._after.pop(name, None)
                self._last[name] = check.time_h
                if name not in self._start:
                    self._start[name] = check.time_h
                    lines.append(self._line(check, name, "firing", self._message(check, name, threshold)))
                continue
            if name not in self._start:
                continue
            self._after.setdefault(name, check.time_h)
            if check.time_h - self._last[name] >= self.refractory_h:
                start, end = self._start.pop(name), self._after.pop(name)
                line = self._line(
                    check, name, "resolved", f"{name}: alert episode over ({start:g} h to {end:g} h)"
                )
                lines.append({**line, "start_h": start, "end_h": end})
        return lines

    def _message(self, check: HealthCheck, name: str, threshold: float) -> str:
        score = check.readings[name].score
        text = f"{name}: score {score:.4g} >= {threshold:.4g}"
        if name == self.transport and check.transport is not None and check.transport["messages"]:
            text += ": " + "; ".join(check.transport["messages"])
        return text

    def _line(self, check: HealthCheck, name: str, state: str, message: str) -> dict:
        return {
            "time": utc_now(),
            "time_h": check.time_h,
            "detector": name,
            "basis": self.basis,
            "state": state,
            "threshold": self.thresholds[name],
            "score": json_number(check.readings[name].score),
            "start_h": self._start.get(name, check.time_h),
            "metrics": _metrics(check, name, self.transport),
            "message": message,
        }


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: a POST must not turn into a request elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


def refused_address(host: str) -> str | None:
    """Why ``host`` may not receive alerts (a link-local, multicast or unspecified address), or None.
    Names are resolved: a name that points at such an address is refused too."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"cannot resolve {host!r}: {error.strerror or error}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            return f"{host!r} is a link-local, multicast or unspecified address ({address})"
    return None


class Webhook:
    """Delivers alert lines to ``url`` from a background thread: a bounded queue, ``WEBHOOK_ATTEMPTS``
    tries per line, no redirects, at most ``RESPONSE_CAP`` bytes of a response read. A line that
    cannot be queued or delivered is dropped, counted with ``on_drop`` and reported with ``report``."""

    def __init__(self, url: str, report: Callable[[str], None], on_drop: Callable[[], None]) -> None:
        self.url = url
        self.report = report
        self.on_drop = on_drop
        self.dropped = 0
        self._queue: queue.Queue[str | None] = queue.Queue(QUEUE_SIZE)
        self._opener = urllib.request.build_opener(NoRedirects)
        self._thread = threading.Thread(target=self._deliver, name="tdbench-webhook", daemon=True)
        self._thread.start()

    def send(self, text: str) -> None:
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            self._drop(f"{QUEUE_SIZE} alert lines are already waiting")

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self.on_drop()
        self.report(f"monitor.webhook: an alert to {self.url} was dropped: {reason}")

    def _deliver(self) -> None:
        while (text := self._queue.get()) is not None:
            problem = None
            for attempt in range(WEBHOOK_ATTEMPTS):
                problem = self._post(text)
                if problem is None:
                    break
                if attempt + 1 < WEBHOOK_ATTEMPTS:
                    time.sleep(RETRY_S)
            if problem is not None:
                self._drop(f"{problem} ({WEBHOOK_ATTEMPTS} attempts)")
            self._queue.task_done()
        self._queue.task_done()

    def _post(self, text: str) -> str | None:
        host = urlparse(self.url).hostname or ""
        refused = refused_address(host)
        if refused:
            return refused
        request = urllib.request.Request(
            self.url, data=text.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with self._opener.open(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                response.read(RESPONSE_CAP)
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            return str(getattr(error, "reason", None) or error)
        return None

    def close(self, drain_s: float = DRAIN_S) -> None:
        """Deliver what is queued (for at most ``drain_s``), then stop; what is left is dropped."""
        deadline = time.monotonic() + drain_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        left = 0
        while True:
            try:
                if self._queue.get_nowait() is not None:
                    left += 1
                self._queue.task_done()
            except queue.Empty:
                break
        for _ in range(left):
            self._drop(f"still queued after {drain_s:g} s at shutdown")
        self._queue.put(None)
        self._thread.join(timeout=WEBHOOK_TIMEOUT_S * 2)


class AlertSink:
    """Writes alert lines to ``path`` (appended; None: stdout) and queues each for ``webhook``."""

    def __init__(
        self,
        path: str | Path | None = None,
        webhook: str | None = None,
        report: Callable[[str], None] = print,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self._file = None if self.path is None else self.path.open("a", encoding="utf-8")
        self.webhook = None if webhook is None else Webhook(webhook, report, on_drop)

    def emit(self, lines: list[dict]) -> None:
        """Write ``lines`` and queue them for the webhook (never waits for it)."""
        out = self._file or sys.stdout
        for line in lines:
            text = json.dumps(line, allow_nan=False)
            out.write(text + "\n")
            if self.webhook is not None:
                self.webhook.send(text)
        out.flush()

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
            self.webhook = None
        if self._file is not None:
            self._file.close()
            self._file = None
