"""Plugins: a package outside the repository adds a detector and a scenario through the entry-point
groups ``tdbench.detectors`` and ``tdbench.scenarios``. The test writes a tiny package, pip-installs
it into this environment (offline: no dependencies, no build isolation) and uninstalls it after."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from studies import tdbench

import detectors
import scenarios
from harness.config import build
from scenarios.errors import InputError
from scenarios.params import param
from scenarios.plugins import DETECTORS, load_class, merged

DIST = "tdbench-demo-plugin"
CONTRACT = str(Path(__file__).with_name("test_contract.py"))
PYPROJECT = f"""
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "0.1"

[project.entry-points."tdbench.detectors"]
queue_alarm = "tdbench_demo_plugin:QueueAlarm"
queue_watch = "tdbench_demo_plugin:QueueWatch"

[project.entry-points."tdbench.scenarios"]
surge = "tdbench_demo_plugin:Surge"
"""
MODULE = '''
import numpy as np

from detectors.base import Detector, Level, Reading
from scenarios.catalogue import Plan, Scenario
from scenarios.errors import InputError
from scenarios.params import param


def queue_alarm(obs, limit):
    """WARNING while some unit's queue per staff member on duty reaches ``limit``."""
    per_staff = obs.queue / np.maximum(obs.staff_on_duty, 1.0)
    hot = per_staff >= limit
    return Reading(float(per_staff.max()), Level.WARNING if hot.any() else Level.OK,
                   tuple(np.flatnonzero(hot).tolist()))


class QueueAlarm(Detector):
    """Written the old way: its own ``__init__`` names and checks its parameters."""

    name = "queue_alarm"
    score_label = "longest queue per staff member (tasks)"

    def __init__(self, limit: float = 2.0) -> None:
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
            raise InputError(f"detector.{self.name}.limit", f"must be a number > 0; got {limit!r}")
        self.limit = limit

    def step(self, obs):
        return queue_alarm(obs, self.limit)


class QueueWatch(Detector):
    """Its setting declared once, as the built-in detectors do."""

    name = "queue_watch"
    score_label = "longest queue per staff member (tasks)"

    limit: float = param(2.0, "WARNING at this queue per staff member", unit="tasks", gt=0)

    def step(self, obs):
        return queue_alarm(obs, self.limit)


class Surge(Scenario):
    """Load ``base``, then ``peak`` for ``hours`` from ``onset_day``."""

    name = "surge"

    base: float = param(0.6, "offered load outside the surge", ge=0)
    peak: float = param(1.25, "offered load during the surge", ge=0)
    onset_day: float = param(1.0, "scenario day the surge starts", unit="days", ge=0)
    hours: float = param(8.0, "length of the surge", unit="hours", ge=0)

    def plan(self, rng, org):
        on = self._onset(rng, org, self.onset_day, 6.0)
        off, base, peak = on + self.hours, self.base, self.peak
        return Plan(rho=lambda t: np.where((np.asarray(t) >= on) & (np.asarray(t) < off), peak, base),
                    onsets_h={"surge": on})
'''


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (folder / "tdbench_demo_plugin.py").write_text(textwrap.dedent(MODULE))
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(folder))
    importlib.invalidate_caches()
    yield folder
    pip("uninstall", "-y", DIST)
    importlib.invalidate_caches()


def test_plugins_are_available_and_built_by_name(plugin):
    assert "queue_alarm" in detectors.available() and detectors.is_plugin("queue_alarm")
    assert "surge" in scenarios.available() and scenarios.is_plugin("surge")
    assert detectors.make("queue_alarm", limit=3.0).limit == 3.0
    assert detectors.make("queue_watch", limit=3).limit == 3.0
    trace = scenarios.simulate("surge", seed=1, n_units=3, warmup_days=0.5, scenario_days=2)
    assert trace.meta["scenario"] == "surge" and "surge" in trace.meta["onsets_h"]


def test_a_study_runs_the_plugins_by_name(plugin, tmp_path):
    run = tdbench(
        "detector=[queue_alarm,queue_watch,utilization]",
        "scenario=[surge,steady]",
        "seeds=2",
        "executor=serial",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    cells = pd.read_parquet(tmp_path / "run" / "cells.parquet")
    assert set(cells["detector"]) == {"queue_alarm", "queue_watch", "utilization"}
    assert set(cells["scenario"]) == {"surge", "steady"} and (cells["status"] == "ok").all()
    assert "cells: 12 ok, 0 error, 0 timeout" in out
    assert (tmp_path / "run" / "figures" / "timeline_surge.png").is_file()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("detector.queue_alarm.limit=0", "detector.queue_alarm.limit: must be a number > 0"),
        ("detector.queue_alarm.nope=1", "detector.queue_alarm.nope: no such setting"),
        ("detector.queue_watch.limit=0", "detector.queue_watch.limit: must be a number of tasks > 0; got 0"),
        ("detector.queue_watch.limit=nan", "detector.queue_watch.limit: must be a number of tasks > 0"),
        ("scenario.surge.peak=-1", "scenario.surge.peak: must be a number >= 0; got -1"),
    ],
)
def test_plugins_are_validated_like_built_ins(plugin, tmp_path, override, message):
    run = tdbench("detector=[queue_alarm,queue_watch]", "scenario=[surge]", override, cwd=tmp_path)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "results").exists()


def test_the_contract_suite_covers_the_plugins(plugin):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", CONTRACT, "-k", "queue_alarm or queue_watch or surge"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    passed = int(done.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 10, done.stdout[-500:]


class NotADetector:
    name = "stray"


class Misnamed(detectors.Detector):
    name = "other"

    def step(self, obs):  # pragma: no cover - never stepped
        raise AssertionError


class NoDefault(detectors.Detector):
    name = "nodefault"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def step(self, obs):  # pragma: no cover - never stepped
        raise AssertionError


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("stray", f"{__name__}:NotADetector", "must be a subclass of detectors.base.Detector"),
        ("mine", f"{__name__}:Misnamed", "name must be the entry point's name 'mine'"),
        ("nodefault", f"{__name__}:NoDefault", "parameter 'limit' needs a default"),
        ("gone", "no_such_module:Thing", "cannot import 'no_such_module:Thing'"),
    ],
)
def test_a_broken_plugin_is_one_clear_error(name, target, message):
    with pytest.raises(InputError, match=message) as raised:
        load_class(DETECTORS, name, target, detectors.Detector)
    assert raised.value.field == f"tdbench.detectors.{name}"


def test_a_plugin_may_not_reuse_a_built_in_name(monkeypatch):
    monkeypatch.setattr("scenarios.plugins.entry_point_targets", lambda group: {"transport": "x:Y"})
    with pytest.raises(InputError, match="'transport' .* reuses the name of a built-in"):
        merged(DETECTORS, {"transport": "detectors.transport:TransportDetector"})


class OldAlarm(detectors.Detector):
    """A plugin written before declarations: its own ``__init__`` names its parameter."""

    name = "old_alarm"
    score_label = "longest queue (tasks)"

    def __init__(self, limit: float = 2.0) -> None:
        self.limit = limit

    def step(self, obs):
        return detectors.Reading(float(obs.queue.max()), int(obs.queue.max() >= self.limit))


class NewAlarm(detectors.Detector):
    """A plugin that declares its setting as the built-ins do."""

    name = "new_alarm"
    score_label = "longest queue (tasks)"

    limit: float = param(2.0, "WATCH at this many waiting tasks in a unit", unit="tasks", gt=0)

    def step(self, obs):
        return detectors.Reading(float(obs.queue.max()), int(obs.queue.max() >= self.limit))


@pytest.fixture
def in_process_plugins(monkeypatch):
    """Both kinds of plugin detector, registered without installing a package."""
    targets = {"old_alarm": f"{__name__}:OldAlarm", "new_alarm": f"{__name__}:NewAlarm"}
    monkeypatch.setattr(
        "scenarios.plugins.entry_point_targets", lambda group: targets if group == DETECTORS else {}
    )


@pytest.mark.parametrize("name", ["old_alarm", "new_alarm"])
def test_plugins_old_style_and_declared_are_built_and_run(in_process_plugins, name):
    assert detectors.is_plugin(name) and detectors.params_of(name) == {"limit": 2.0}
    cls = detectors.detector_class(name)
    spec = {"_target_": f"{cls.__module__}.{cls.__qualname__}", "limit": 3.0}
    assert build(spec, f"detector.{name}").limit == detectors.make(name, limit=3.0).limit == 3.0
    with pytest.raises(InputError, match="unknown parameter; allowed: limit") as raised:
        detectors.make(name, limt=1.0)
    assert raised.value.field == f"detector.{name}.limt"
    trace = scenarios.simulate("spike", seed=0, n_units=3, warmup_days=0.25, scenario_days=0.25)
    readings = detectors.make(name, limit=1.0).run(trace)
    assert len(readings) == len(trace) and set(readings.level.tolist()) <= {0, 1}


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "3"])
def test_a_declared_plugin_setting_is_checked_by_its_declaration(in_process_plugins, bad):
    with pytest.raises(
        InputError, match=r"^detector\.new_alarm\.limit: must be a number of tasks > 0; got "
    ) as e:
        detectors.make("new_alarm", limit=bad)
    assert e.value.field == "detector.new_alarm.limit"
