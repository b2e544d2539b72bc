"""The README: short, and every recipe in it works.

Recipes are the fenced bash blocks after a ``<!-- recipe: MODE -->`` comment, run in order in one
folder (later recipes read what earlier ones wrote). ``tdbench`` inside them is a shell function
that adds small settings:

- ``run``: the recipe runs in full at a small size (2 seeds, 4 units, 1 + 2 days, serially, no
  report figures);
- ``cfg``: the expensive ones (every scenario and detector, a sweep, a dask cluster) are composed
  and validated exactly as the command does before it writes anything, then not run;
- ``monitor``: runs a few health checks on a free port when this checkout has ``monitor.from_run``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from omegaconf import OmegaConf
from studies import ROOT, TDBENCH

README = (ROOT / "README.md").read_text()
RECIPE = re.compile(r"<!-- recipe: (run|cfg|monitor) -->\n```bash\n(.*?)```", flags=re.S)
RECIPES = RECIPE.findall(README)

SMALL = "seeds=2 org.n_units=4 org.warmup_days=1 org.scenario_days=2"
VALIDATE = (
    "import sys; from harness.cli import check, normalise, store_plugin_configs; "
    "store_plugin_configs(); check(normalise(sys.argv[1:]))"
)
SHELL_FUNCTION = f"""
python() {{ {sys.executable} "$@"; }}  # the recipes assume the virtualenv is active
tdbench() {{
  case "$MODE" in
    cfg) {sys.executable} -c "{VALIDATE}" "$@"; return ;;
    monitor) {TDBENCH} "$@" monitor.port=0 monitor.max_checks=4; return ;;
  esac
  case " $* " in
    *" task=evaluate "*) {TDBENCH} "$@" executor=serial progress=false report.enabled=false ;;
    *" task=calibrate "*) {TDBENCH} "$@" executor=serial progress=false {SMALL} ;;
    *) {TDBENCH} "$@" executor=serial progress=false report.enabled=false {SMALL} ;;
  esac
}}
"""


def has_monitor_from_run() -> bool:
    return "from_run" in OmegaConf.load(ROOT / "conf" / "config.yaml").monitor


def test_readme_is_short_and_has_ten_recipes():
    assert len(README.splitlines()) <= 300
    assert len(RECIPES) == 10, [mode for mode, _ in RECIPES]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipes")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


@pytest.mark.parametrize(("number", "mode", "script"), [(i + 1, m, s) for i, (m, s) in enumerate(RECIPES)])
def test_recipe_runs(workdir, number, mode, script):
    if mode == "monitor" and not has_monitor_from_run():
        pytest.skip("monitor.from_run is not a setting of this checkout")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", SHELL_FUNCTION + script],
        cwd=workdir,
        env={**os.environ, "MODE": mode},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"recipe {number}:\n{script}\n{done.stderr[-3000:]}"
    if mode == "run" and "hydra.run.dir=" in script:
        folder = re.search(r"hydra\.run\.dir=(\S+)", script).group(1)
        assert (workdir / folder / "events.parquet").is_file()
