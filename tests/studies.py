"""Small studies for the tests: composed like the CLI composes them, run in this process or as the
``tdbench`` command; and a detector that fails on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from detectors.base import Detector, Level, Reading
from harness.cli import CONF_DIR
from harness.config import StudyConfig, load_study
from harness.tasks import task_module

ROOT = Path(__file__).resolve().parent.parent
TDBENCH = str(Path(sys.executable).with_name("tdbench"))
#: Few units and days: a (scenario, seed) job takes a fraction of a second.
SMALL = ("org.n_units=4", "org.warmup_days=1", "org.scenario_days=2", "progress=false")
TIMING = ("seconds", "sim_seconds")  # the only columns allowed to differ between two runs
#: A small but complete study: a ramp, a recovery (for the recovery figure) and a null control.
SMALL_STUDY = (
    "scenario=[ramp,recovery,steady]",
    "detector=[transport,utilization,utilization_busy]",
    "seeds=2",
    "org.n_units=4",
    "org.warmup_days=1",
    "org.scenario_days=3",
    "scenario.ramp.ramp_days=2",
    "scenario.recovery.onset_day=0.5",
    "scenario.recovery.high_days=1",
    "executor=serial",
    "progress=false",
)


def raw_config(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[*SMALL, *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def study_config(
    *overrides: str, extra_detectors: dict | None = None, scenarios: dict | None = None
) -> StudyConfig:
    """The composed study, with detectors (or scenarios) given as ``{name: {"_target_": ...}}`` added."""
    raw = raw_config(*overrides)
    raw["detector"] = {**raw["detector"], **(extra_detectors or {})}
    raw["scenario"] = {**raw["scenario"], **(scenarios or {})}
    return load_study(raw)


def target(cls: type) -> str:
    """The ``_target_`` string of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def tdbench(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    """Start the ``tdbench`` command with the SMALL settings (only ``progress=false`` for a task that
    reads no organisation, such as task=report); test modules are importable as ``_target_``s."""
    no_org = any(a in ("task=report", "task=compare", "task=bench") for a in args)
    small = ("progress=false",) if no_org else SMALL
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    return subprocess.Popen(
        [
            TDBENCH,
            *[a for a in args if a in ("-m", "--multirun")],
            *small,
            *[a for a in args if a not in ("-m", "--multirun")],
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def without_timings(frame: pd.DataFrame) -> pd.DataFrame:
    """A results table less its timing columns (seconds, sim_seconds, the overhead's *_ms)."""
    timing = [c for c in frame if c in TIMING or c.endswith("_ms")]
    return frame.drop(columns=timing).reset_index(drop=True)


def compose_config(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_task(out_dir: Path, *overrides: str) -> int:
    """What ``tdbench ARGS hydra.run.dir=out_dir`` does, in this process: validate, save the
    resolved config, run the task."""
    cfg = compose_config(*overrides)
    module = task_module(cfg.task)
    module.validate(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)
    return module.run(cfg, out_dir)


class RaisingDetector(Detector):
    """Raises on its fourth health check."""

    name = "raising"

    def __init__(self, after: int = 3) -> None:
        self.after = after

    def reset(self, layout) -> None:
        super().reset(layout)
        self._steps = 0

    def step(self, obs) -> Reading:
        self._steps += 1
        if self._steps > self.after:
            raise RuntimeError("deliberate failure in a test detector")
        return Reading(0.0, Level.OK)
