"""Shared by the report, plot and evaluate tests: compose configs and run tasks in this process."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from detectors.base import Detector, Reading
from harness.cli import CONF_DIR
from harness.tasks import task_module

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
    "report.overhead_units=[2,8]",
)


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


class Broken(Detector):
    """A detector that fails on its 10th health check: a study must report it and carry on."""

    name = "broken"

    def __init__(self, fail_at: int = 10) -> None:
        self.fail_at = fail_at

    def reset(self, layout) -> None:
        super().reset(layout)
        self._seen = 0

    def step(self, obs) -> Reading:
        self._seen += 1
        if self._seen >= self.fail_at:
            raise RuntimeError("broken on purpose")
        return Reading(0.0, 0)
