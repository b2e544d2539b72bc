"""Nothing silently ignored, and fail fast: every bad input of issue 9 is one line on stderr, exit
code 2, before anything is written; the real settings that look like them keep working."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from studies import SMALL, TDBENCH

from harness import cli
from harness.tasks import study as study_task

NO_PLUS_HINT = "+"  # the error for a key tdbench does not read never suggests adding it


def run_cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tdbench", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr().err


def search_dir(root: Path, body: str) -> Path:
    """A folder for hydra.searchpath / --config-dir holding detector/mine.yaml."""
    (root / "detector").mkdir(parents=True)
    (root / "detector" / "mine.yaml").write_text(body)
    return root


MINE = "mine:\n  _target_: detectors.utilization.UtilizationDetector\n  window_h: 2.0\n"
BAD_MINE = "mine:\n  _target_: detectors.utilization.UtilizationDetector\n  windw_h: 2.0\n"

CASES = [
    (["+sedes=3"], "sedes: no such setting; did you mean seeds?"),
    (["sedes=3"], "sedes: no such setting; did you mean seeds?"),
    (["+foo.bar=1"], "foo: no such setting"),
    (["+report.foo=1"], "report.foo: no such setting; settings here: enabled"),
    (["+historical.foo=1"], "historical.foo: no such setting"),
    (["org.n_unit=3"], "org.n_unit: no such setting; did you mean org.n_units?"),
    (["statistics.reference=transport"], "statistics.reference: no such setting"),
    (["statistics.baseline=nosuch"], "statistics.baseline: names no selected detector ('nosuch')"),
    (
        ["scoring.criteria.lead_scenarios=[nope]"],
        "scoring.criteria.lead_scenarios: names no selected scenario",
    ),
    (["+scoring.thresholds.nosuch=1"], "scoring.thresholds.nosuch: names no selected detector"),
    (["detector=[utilization]", "+scoring.thresholds.transport=1"], "scoring.thresholds.transport: names no"),
    (["task=calibrate", "calibrate.fp_analysis.detector=nosuch"], "calibrate.fp_analysis.detector: names no"),
    (["task=calibrate", "calibrate.detectors=[nosuch]"], "calibrate.detectors: must list selected detectors"),
    (["task=calibrate", "calibrate.target=nosuch"], "calibrate.target: must be one of"),
    (
        ["task=calibrate", "calibrate.fp_analysis.thresholds=[a,b]"],
        "calibrate.fp_analysis.thresholds: must be a",
    ),
    (["progress=maybe"], "progress: must be true or false; got 'maybe'"),
    (["report.enabled=maybe"], "report.enabled: must be true or false"),
    (["seeds=${nope}"], "seeds: cannot resolve: Interpolation key 'nope' not found"),
    (
        ["+detector.x._target_=collections.OrderedDict"],
        "detector.x._target_: 'collections.OrderedDict' is not a",
    ),
    (["+detector.x._target_=collections.Counter"], "builds a Counter, not a detectors.base.Detector"),
    (["+detector.x._target_=nowhere.Nothing"], "detector.x._target_: cannot import 'nowhere.Nothing'"),
    (["org.staff_per_unit=0"], "org.staff_per_unit: must be an integer >= 1; got 0"),
    (["org.dt_h=1e9"], "org.dt_h: must be <= the run's length"),
    (["org.dt_h=1e-6"], "org.dt_h: must be >= 1/60 h"),
    (["org.n_units=10000000"], "org.n_units=10000000"),
    (["seeds=100000000"], "seeds=100000000: the study's"),
    (["org.scenario_days=1e6"], "org.scenario_days=1000000.0"),
    (["scenario.steady.rho=1e6"], "scenario.steady.rho=1000000.0"),
    (["executor.max_job_memory_gb=0.001"], "one job's observations would need about"),
    (["executor.max_job_memory_gb=-1"], "executor.max_job_memory_gb: must be a number of GB > 0, or null"),
    (["--no-such-flag"], "command line: unrecognized arguments: --no-such-flag"),
    (
        ["task=calibrate", "stop.compare=[transport,utilization]"],
        "stop.compare: task=calibrate does not read it; it reads: calibrate, detector,",
    ),
    (["task=tune", "report.enabled=false"], "report.enabled: task=tune does not read it"),
    (["first_seed=18446744073709551616"], "first_seed: must be an integer >= 0 and <= 9223372036854775807"),
    (["seeds=2", "first_seed=9223372036854775807"], "first_seed: must leave room for 2 seeds below 2**63"),
    (["executor.cell_timeout_s=nan"], "executor.cell_timeout_s: must be a number of seconds > 0, or null"),
    (["executor.cell_timeout_s=inf"], "executor.cell_timeout_s: must be a number of seconds > 0, or null"),
    (["executor=ray"], "executor.address: executor=ray needs a running Ray cluster's address (ray://"),
    (["executor=dask", "executor.address=local"], "executor.address: local starts a Ray instance: only with"),
    (["scenario.ramp.n_hot=1"], "scenario.ramp.n_hot: no such setting; settings here: _target_, jitter_h,"),
    (["scenario.uneven.n_hot=1.5"], "scenario.uneven.n_hot: must be an integer >= 1; got 1.5"),
    (
        ["scoring.truth.backlog_on_h=nan"],
        "scoring.truth.backlog_on_h: must be a number of hours >= 0; got nan",
    ),
    (["detector=[]"], "detector: select at least one detector, e.g. detector=[transport]"),
    (["scenario=[]"], "scenario: select at least one scenario"),
    (
        ["scenario=ramp,spike"],
        "scenario: use scenario=[ramp,spike] for a list; to run one study per value, add",
    ),
    (["seeds=1,2"], "seeds: use seeds=[1,2] for a list"),
    (
        ["hydra.searchpath=[file:///nonexistent/dir]"],
        "hydra.searchpath: no such config folder: /nonexistent/dir",
    ),
    (["hydra.searchpath=file:///nonexistent/dir"], "hydra.searchpath: no such config folder: /nonexistent"),
    (["scenario.steady.rho=1e308"], "scenario.steady.rho=1e+308: one job of scenario steady would need"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    code, err = run_cli(monkeypatch, capsys, [*SMALL, *args, f"hydra.run.dir={run}"])
    assert code == 2
    assert err.startswith("tdbench: error: ") and err.count("\n") == 1, err
    assert message in err
    assert NO_PLUS_HINT + "sedes" not in err and "+foo" not in err
    assert not run.exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["task=evaluate", "data=x.csv", "historical.origin=nan"],
            "historical.origin: must be a date-time such as 2025-01-31T00:00 or null; got nan",
        ),
        (["task=monitor", "monitor.host=nosuch.invalid"], "monitor.host: cannot resolve 'nosuch.invalid'"),
        (["task=monitor", "monitor.host=''"], "monitor.host: must not be empty"),
    ],
)
def test_bad_input_of_other_tasks_is_one_line_exit_2(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(monkeypatch, capsys, [*args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert (code, err.count("\n")) == (2, 1) and err.startswith(f"tdbench: error: {message}"), err
    assert not (tmp_path / "run").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("how", ["searchpath", "config-dir"])
def test_detectors_on_the_search_path_are_validated_like_the_built_in_ones(
    monkeypatch, capsys, tmp_path, how
):
    folder = search_dir(tmp_path / "mine", BAD_MINE)
    where = [f"hydra.searchpath=[file://{folder}]"] if how == "searchpath" else ["--config-dir", str(folder)]
    args = [*where, "detector=[mine]", *SMALL, f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_cli(monkeypatch, capsys, args)
    assert code == 2 and err.count("\n") == 1
    assert "detector.mine.windw_h: unknown parameter; allowed: window_h" in err
    code, err = run_cli(monkeypatch, capsys, [*where, "detector=[nosuch]", *SMALL])
    assert code == 2 and "detector: unknown option 'nosuch'; allowed: burnout" in err and "mine" in err


def test_config_dir_keeps_a_single_search_path_folder_whole(monkeypatch, capsys, tmp_path):
    """--config-dir adds its folder to a hydra.searchpath given as one folder, not as a list."""
    folder = search_dir(tmp_path / "mine", BAD_MINE)
    (tmp_path / "empty").mkdir()
    where = ["--config-dir", str(tmp_path / "empty"), f"hydra.searchpath=file://{folder}"]
    args = [*where, "detector=[mine]", *SMALL, f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_cli(monkeypatch, capsys, args)
    assert code == 2 and err.count("\n") == 1, err
    assert "detector.mine.windw_h: unknown parameter; allowed: window_h" in err


@pytest.mark.parametrize(
    "args",
    [
        ["+scoring.thresholds.transport=1.3"],
        ["+experiment=quick"],
        ["detector=[utilization]"],
        ["seeds=${first_seed}", "first_seed=2"],
        ["executor.max_job_memory_gb=2"],
    ],
)
def test_real_settings_that_look_alike_are_accepted(args):
    cli.check([*args, *SMALL])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task=bench", "seeds=3"], "seeds: task=bench does not read it; it reads: progress"),
        (
            ["task=compare", "sweep_dir=/nowhere", "scenario=[ramp]"],
            "scenario: task=compare does not read it",
        ),
        (["task=report", "run_dir=/nowhere", "org.n_units=4"], "org.n_units: task=report does not read it"),
        (["task=evaluate", "data=x.csv", "seeds=3"], "seeds: task=evaluate does not read it"),
    ],
)
def test_a_setting_the_task_does_not_read_is_refused(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(monkeypatch, capsys, [*args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_a_search_path_detector_runs_in_a_study(tmp_path):
    folder = search_dir(tmp_path / "mine", MINE)
    args = ["detector=[mine]", "scenario=[steady]", "seeds=1", "executor=serial", "report.enabled=false"]
    command = [TDBENCH, "--config-dir", str(folder), *SMALL, *args, f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cells = pd.read_parquet(tmp_path / "run" / "cells.parquet")
    assert cells["detector"].tolist() == ["mine"] and cells["status"].tolist() == ["ok"]


@pytest.mark.parametrize(
    ("number", "reason"), [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_a_full_disk_or_read_only_folder_is_one_line_exit_74(monkeypatch, capsys, tmp_path, number, reason):
    target = tmp_path / "run" / "cells.parquet"

    def full(cfg, out_dir):
        raise OSError(number, reason, str(target))

    monkeypatch.setattr(study_task, "run", full)
    code, err = run_cli(monkeypatch, capsys, ["seeds=1", *SMALL, f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == cli.STORAGE_EXIT
    assert err == f"tdbench: error: {target}: {reason}\n"


def test_an_output_folder_that_cannot_be_created_is_one_line_exit_74(monkeypatch, capsys, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    run = tmp_path / "file" / "run"
    code, err = run_cli(monkeypatch, capsys, ["seeds=1", *SMALL, f"hydra.run.dir={run}"])
    assert code == cli.STORAGE_EXIT
    assert err.count("\n") == 1 and "Not a directory" in err and str(tmp_path / "file") in err


def test_a_corrupt_export_given_to_the_report_is_rebuilt_from_the_ledger(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    assert (
        run_cli(
            monkeypatch,
            capsys,
            [
                "seeds=1",
                "scenario=[steady]",
                "detector=[utilization]",
                "executor=serial",
                "report.enabled=false",
                *SMALL,
                f"hydra.run.dir={run}",
            ],
        )[0]
        == 0
    )
    (run / "cells.parquet").write_bytes(b"PAR1 this is not parquet")
    code, err = run_cli(
        monkeypatch, capsys, ["task=report", f"run_dir={run}", f"hydra.run.dir={tmp_path / 'r'}"]
    )
    assert code == 0, err
    assert pd.read_parquet(run / "cells.parquet")["detector"].tolist() == ["utilization"]


@pytest.mark.parametrize("how", ["call", "import"])
def test_a_run_folder_config_naming_an_unregistered_class_runs_nothing(monkeypatch, capsys, tmp_path, how):
    """task=report rebuilds a folder someone may have sent: its config.yaml is data, never code."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    study = [
        "seeds=1",
        "scenario=[steady]",
        "detector=[utilization]",
        "executor=serial",
        "report.enabled=false",
    ]
    assert run_cli(monkeypatch, capsys, [*study, *SMALL, f"hydra.run.dir={run}"])[0] == 0
    pwned = tmp_path / "PWNED"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "pwn_on_import.py").write_text(
        f"from pathlib import Path\nPath({str(pwned)!r}).mkdir()\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(modules))
    evil = {
        "call": f"  _target_: os.mkdir\n    path: {pwned}\n",
        "import": "  _target_: pwn_on_import.Thing\n",
    }
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("detector:\n", f"detector:\n  evil:\n  {evil[how]}", 1))
    before = sorted(p.name for p in run.iterdir())
    code, err = run_cli(
        monkeypatch, capsys, ["task=report", f"run_dir={run}", f"hydra.run.dir={tmp_path / 'r'}"]
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("tdbench: error: detector.evil._target_: ") and "not a registered detector" in err
    assert not pwned.exists() and "pwn_on_import" not in sys.modules
    assert sorted(p.name for p in run.iterdir()) == before and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--shell-completion"], "--shell-completion: needs install=SHELL, uninstall=SHELL or query=SHELL"),
        (["--config-dir", "/nonexistent/conf"], "--config-dir: no such config folder: /nonexistent/conf"),
    ],
)
def test_a_bad_flag_is_one_line_exit_2_and_writes_nothing(monkeypatch, capsys, tmp_path, flag, message):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(monkeypatch, capsys, [*flag, *SMALL, f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2 and err.startswith(f"tdbench: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "results").exists()


def test_a_config_file_that_is_not_yaml_is_one_line(monkeypatch, capsys, tmp_path):
    folder = search_dir(
        tmp_path / "mine", "mine:\n  _target_: detectors.utilization.UtilizationDetector\n  window_h: [2\n"
    )
    run = tmp_path / "run"
    code, err = run_cli(
        monkeypatch, capsys, ["--config-dir", str(folder), "detector=[mine]", f"hydra.run.dir={run}"]
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"tdbench: error: {folder / 'detector' / 'mine.yaml'}: not valid YAML: ")
    assert "at line 4, column 1" in err and not run.exists()


@pytest.mark.parametrize("folder", ["/", "someones"])
def test_an_output_folder_holding_other_files_is_refused_before_writing(
    monkeypatch, capsys, tmp_path, folder
):
    monkeypatch.chdir(tmp_path)
    out = Path(folder) if folder == "/" else tmp_path / folder
    if folder != "/":
        out.mkdir()
        (out / "thesis.tex").write_text("not a run")
    before = sorted(p.name for p in out.iterdir())
    code, err = run_cli(monkeypatch, capsys, [*SMALL, "seeds=1", f"hydra.run.dir={out}"])
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"tdbench: error: hydra.run.dir: {out} holds files that are not a tdbench run (")
    assert sorted(p.name for p in out.iterdir()) == before


def test_an_error_that_spans_lines_is_printed_as_one(monkeypatch, capsys, tmp_path):
    """SQLite's message for a corrupt page has a newline in it."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    study = [
        "seeds=1",
        "scenario=[steady]",
        "detector=[utilization]",
        "executor=serial",
        "report.enabled=false",
    ]
    assert run_cli(monkeypatch, capsys, [*study, *SMALL, f"hydra.run.dir={run}"])[0] == 0
    ledger = run / "ledger.sqlite"
    data = bytearray(ledger.read_bytes())
    data[2 * 4096 + 8 : 3 * 4096] = b"\xff" * (4096 - 8)  # page 3 (SQLite's default page size)
    ledger.write_bytes(data)
    code, err = run_cli(
        monkeypatch, capsys, ["task=report", f"run_dir={run}", f"hydra.run.dir={tmp_path / 'r'}"]
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"tdbench: error: {ledger}: not a readable tdbench ledger (") and "page 3" in err
    assert cli.error_line("a\nb  c") == "tdbench: error: a b c"


@pytest.mark.parametrize("alert_log", ["a folder", "/proc/self/status"])
def test_a_monitor_that_cannot_start_leaves_no_folder(monkeypatch, capsys, tmp_path, alert_log):
    monkeypatch.chdir(tmp_path)
    log = str(tmp_path) if alert_log == "a folder" else alert_log
    out = tmp_path / "new" / "run"
    args = ["task=monitor", f"monitor.alert_log={log}", "monitor.port=0", "monitor.max_checks=1"]
    code, err = run_cli(monkeypatch, capsys, [*args, f"hydra.run.dir={out}"])
    assert code == 2 and err.count("\n") == 1 and err.startswith("tdbench: error: monitor.alert_log: "), err
    assert not (tmp_path / "new").exists()
