"""Running ``tdbench task=monitor`` in the tests: the process, its endpoint, and polling for conditions.

Deadlines are generous (the machine may be loaded): every wait polls for its condition.
"""

import os
import re
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from prometheus_client.parser import text_string_to_metric_families
from studies import ROOT, TDBENCH, compose_config

import scenarios
from harness.config import build, load_study

DEADLINE_S = 90.0
#: a spike 6 simulated hours in, on a small organisation: 2 simulated hours per wall second
SPIKE = (
    "monitor.scenario=spike",
    "scenario.spike.onset_day=0.0",
    "scenario.spike.jitter_h=0",
    "org.n_units=4",
    "org.warmup_days=0.25",
    "org.scenario_days=10",
)


def wait_for(condition, what: str, process: "Monitor"):
    """Poll ``condition`` until it returns something true; fail if the monitor exits or time runs out."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if process.proc.poll() is not None:
            pytest.fail(f"the monitor exited ({process.proc.returncode}) before {what}:\n{process.stderr()}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {DEADLINE_S:g} s:\n{process.stderr()}")


class Monitor:
    """A running ``tdbench task=monitor``, its output in files (no pipe can fill up)."""

    def __init__(self, tmp_path: Path, *overrides: str, environ: dict | None = None) -> None:
        self.tmp_path = tmp_path
        self._err = (tmp_path / "stderr.txt").open("w")
        self._out = (tmp_path / "stdout.txt").open("w")
        env = {**os.environ, **(environ or {})}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
        self.proc = subprocess.Popen(
            [TDBENCH, "task=monitor", "monitor.port=0", f"hydra.run.dir={tmp_path / 'run'}", *overrides],
            cwd=tmp_path,
            env=env,
            stdout=self._out,
            stderr=self._err,
        )
        self.url = wait_for(self._url, "endpoint", self)

    def stderr(self) -> str:
        return (self.tmp_path / "stderr.txt").read_text()

    def _url(self) -> str | None:
        found = re.search(r"serving (http://\S+/metrics)", self.stderr())
        return found and found.group(1)

    def scrape(self) -> dict:
        with urllib.request.urlopen(self.url, timeout=30) as response:
            text = response.read().decode()
        return {f.name: f for f in text_string_to_metric_families(text)}

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=DEADLINE_S)

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()
        self._out.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(args: list, log: Path):
    """A server process (Prometheus, Alertmanager) with its output in ``log``, stopped on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def gauge(families, name, **labels):
    samples = [s.value for s in families[name].samples if s.labels == labels]
    return samples[0] if samples else None


def health_checks(families) -> int:
    """The number of health checks so far: the duration histogram's count."""
    samples = families["resilience_health_check_duration_seconds"].samples
    return int(next(s.value for s in samples if s.name.endswith("_count")))


def spike_trace():
    """The run SPIKE simulates (seed 0), for batch references."""
    return scenarios.simulate(
        "spike", 0, n_units=4, warmup_days=0.25, scenario_days=10, onset_day=0.0, jitter_h=0.0
    )


def transport_readings(trace):
    """The configured transport detector's readings over a whole trace (the batch reference)."""
    return detector_readings("transport", trace)


def detector_readings(name, trace):
    """A configured detector's readings over a whole trace (the batch reference)."""
    return build(load_study(compose_config()).detectors[name], f"detector.{name}").run(trace)


#: a finished study as far as monitor.from_run and task=rules read it: thresholds that alert during
#: SPIKE's spike, the baselines infeasible as in every study
THRESHOLDS = {"transport": 1.2, "utilization": 0.9, "null": 0.0}


def study_folder(folder: Path, *overrides: str, thresholds=None, feasible=("transport", "utilization")):
    """A run folder with the two files monitor.from_run reads: the resolved config of ``overrides``
    and a headline.csv in today's format (detector, threshold, feasible)."""
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(compose_config(*overrides), folder / "config.yaml", resolve=True)
    rows = [
        f"{rank},{name},{value!r},{name in feasible}"
        for rank, (name, value) in enumerate((thresholds or THRESHOLDS).items(), start=1)
    ]
    (folder / "headline.csv").write_text("rank,detector,threshold,feasible\n" + "\n".join(rows) + "\n")
    return folder
