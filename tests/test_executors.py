"""Executors: the same study gives the same cells wherever it runs; Hydra multirun sweeps studies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pandas as pd
import psutil
import pytest
import yaml
from joblib import cpu_count
from omegaconf import OmegaConf
from studies import RaisingDetector, study_config, target, tdbench, without_timings

from harness import cli, config
from harness.cli import composition_error
from harness.config import ExecutorSpec
from harness.run import signals
from harness.run.executors import LOOPBACK, execute, local_cluster
from harness.run.ledger import ROW_TABLES as TABLES
from harness.run.signals import WorkersLost
from harness.run.study import run_study
from harness.tasks import study as study_task
from scenarios.errors import InputError

STUDY = ("seeds=2", "scenario=[ramp,uneven,steady]", "detector=[transport,utilization]")


# its detectors' parts run in the workers
HEADLINE = ("headline.csv", "headline_pairs.csv", "headline_scenarios.csv", "headline.md")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The study run serially in this process."""
    run_dir = tmp_path_factory.mktemp("serial")
    run_study(study_config(*STUDY, "executor=serial"), run_dir)
    tables = {table: pd.read_parquet(run_dir / f"{table}.parquet") for table in TABLES}
    return tables | {name: (run_dir / name).read_text() for name in HEADLINE}


def assert_same_as(reference: dict, run_dir) -> None:
    for table in TABLES:
        got = pd.read_parquet(run_dir / f"{table}.parquet")
        pd.testing.assert_frame_equal(without_timings(got), without_timings(reference[table]))
    for name in HEADLINE:
        assert (run_dir / name).read_text() == reference[name]


@pytest.mark.parametrize(
    "overrides",
    [
        ("executor=local", "executor.n_jobs=2"),
        ("executor=local", "executor.n_jobs=2", "executor.cell_timeout_s=120"),
        ("executor=dask", "executor.n_jobs=2"),
        ("executor=ray", "executor.address=local", "executor.n_jobs=2"),
    ],
    ids=["local", "local-isolated", "dask-localcluster", "ray"],
)
def test_every_executor_gives_the_same_cells(tmp_path, reference, overrides):
    name = overrides[0].split("=")[1]
    if name in config.EXTRAS:
        pytest.importorskip(config.EXTRAS[name])
    result = run_study(study_config(*STUDY, *overrides), tmp_path)
    assert result.failed == 0 and len(result.cells) == 12
    assert_same_as(reference, tmp_path)


def test_dask_connects_to_a_running_scheduler(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        study = study_config(*STUDY, "executor=dask", f"executor.address={cluster.scheduler_address}")
        run_study(study, tmp_path)
        assert cluster.scheduler.task_prefixes  # the work went through this scheduler
    assert_same_as(reference, tmp_path)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"cell_timeout_s": -1}, "executor.cell_timeout_s"),
        ({"cell_timeout_s": True}, "executor.cell_timeout_s"),
        ({"name": "local", "address": "tcp://host:8786"}, "executor.address"),
        ({"name": "dask", "address": ""}, "executor.address"),
        ({"name": "cloud"}, "executor.name"),
        ({"n_jobs": 0}, "executor.n_jobs"),
    ],
)
def test_bad_executor_settings(spec, field):
    with pytest.raises(InputError) as error:
        ExecutorSpec(**spec)
    assert error.value.field == field


def test_a_missing_extra_is_named(monkeypatch):
    monkeypatch.setattr(config.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"pip install -e '\.\[ray\]'") as error:
        ExecutorSpec(name="ray", address="auto")
    assert error.value.field == "executor.name"


def test_n_workers_follows_joblib():
    assert ExecutorSpec(n_jobs=3).workers == 3
    assert ExecutorSpec(n_jobs=-1).workers == cpu_count()
    assert ExecutorSpec(n_jobs=-1000).workers == 1


def test_multirun_sweeps_a_study_parameter(tmp_path):
    sweep = tmp_path / "sweep"
    run = tdbench(
        "-m",
        "org.rebalance_capacity_per_h=0,16",
        "seeds=1",
        "scenario=[uneven]",
        "detector=[utilization]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    capacity = {}
    for job in ("0", "1"):
        config = yaml.safe_load((sweep / job / "config.yaml").read_text())
        capacity[job] = config["org"]["rebalance_capacity_per_h"]
        assert pd.read_parquet(sweep / job / "cells.parquet")["status"].eq("ok").all()
    assert capacity == {"0": 0, "1": 16}
    keys = [set(pd.read_parquet(sweep / job / "cells.parquet")["key"]) for job in ("0", "1")]
    assert not keys[0] & keys[1]  # the organisation is part of each cell's key


def test_joblib_launcher_reports_a_failed_job(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "sweep"
    run = tdbench(
        "-m",
        "hydra/launcher=tdbench_joblib",
        "hydra.launcher.n_jobs=2",
        "executor=serial",
        "org.rebalance_capacity_per_h=0,8",
        "seeds=1",
        "scenario=[steady]",
        "detector=[utilization]",
        f"+detector.raising._target_={target(RaisingDetector)}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, err  # the jobs ran in joblib's worker processes, not in this one
    assert sorted(p.parent.name for p in sweep.glob("*/cells.parquet")) == ["0", "1"]


@pytest.mark.parametrize(
    ("preset", "plugin"),
    [
        ("tdbench_joblib", "hydra_joblib_launcher"),
        ("tdbench_slurm", "hydra_submitit_launcher"),
        ("tdbench_submitit_local", "hydra_submitit_launcher"),
    ],
)
def test_launcher_presets_compose(tmp_path, preset, plugin):
    pytest.importorskip(f"hydra_plugins.{plugin}")
    run = tdbench(f"hydra/launcher={preset}", "--cfg", "hydra", "--package", "hydra.launcher", cwd=tmp_path)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    launcher = yaml.safe_load(out.split("\n", 1)[1])
    assert plugin in launcher["_target_"]
    if "submitit" in plugin:
        assert launcher["timeout_min"] == 1440


def test_a_missing_launcher_plugin_is_named():
    error = composition_error(
        Exception("In 'hydra/launcher/tdbench_slurm': Could not load 'hydra/launcher/submitit_slurm'.")
    )
    assert error.field == "hydra/launcher"
    assert "pip install -e '.[launchers]'" in error.problem


def own_pid(job) -> int:
    return os.getpid()


def kill_own_process(job) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_local_dask_cluster_listens_on_loopback_only():
    pytest.importorskip("distributed")
    with local_cluster(ExecutorSpec(name="dask", n_jobs=1)) as cluster:
        addresses = [cluster.scheduler_address, *cluster.scheduler_info["workers"]]
        assert all(a.startswith(f"tcp://{LOOPBACK}:") for a in addresses), addresses
        processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
        listening = {
            c.laddr.ip for p in processes for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN
        }
        assert listening == {LOOPBACK}


def test_dask_runs_every_job_on_a_worker_even_with_one_worker():
    pytest.importorskip("distributed")
    pids = list(execute(own_pid, [1, 2, 3], ExecutorSpec(name="dask", n_jobs=1)))
    assert len(pids) == 3 and os.getpid() not in pids


def test_losing_the_dask_workers_is_its_own_error(monkeypatch, capsys, tmp_path):
    pytest.importorskip("distributed")
    dask = pytest.importorskip("dask")
    killed_one = pytest.raises(WorkersLost, match=r"a job killed its worker 1 times")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), killed_one:
        list(execute(kill_own_process, [1, 2], ExecutorSpec(name="dask", n_jobs=1)))

    def lost(cfg, out_dir):
        raise WorkersLost("no worker for 60 s")

    monkeypatch.setattr(study_task, "run", lost)
    monkeypatch.setattr(sys, "argv", ["tdbench", "seeds=1", f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == cli.WORKERS_LOST_EXIT != cli.STORAGE_EXIT
    assert err == f"tdbench: error: {WorkersLost('no worker for 60 s')}\n"


def test_a_local_executor_of_one_worker_says_it_runs_in_this_process(capsys):
    cli.note_in_driver(OmegaConf.create({"executor": {"name": "local", "n_jobs": 1}}))
    assert capsys.readouterr().err.count("runs every job in this process") == 1
    cli.note_in_driver(OmegaConf.create({"executor": {"name": "local", "n_jobs": 2}}))
    assert capsys.readouterr().err == ""


def test_a_local_pool_removes_what_a_killed_pool_left_in_shared_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(signals, "SHARED_MEMORY", tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid, live_pid = int(dead.stdout), os.getpid()
    for pid in (dead_pid, live_pid):
        (tmp_path / f"joblib_memmapping_folder_{pid}_a1_b2").mkdir()
        (tmp_path / f"joblib_memmapping_folder_{pid}_a1_b2" / "x.pkl").write_bytes(b"0")
        (tmp_path / f"sem.loky-{pid}-xk2a").write_bytes(b"0")
    (tmp_path / "unrelated").write_bytes(b"0")
    assert sorted(execute(own_pid, [1, 2], ExecutorSpec(name="local", n_jobs=2)))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f"joblib_memmapping_folder_{live_pid}_a1_b2", f"sem.loky-{live_pid}-xk2a", "unrelated"]
