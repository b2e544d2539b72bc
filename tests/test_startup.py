"""Start-up stays light: ``import harness.cli`` and ``tdbench --help`` leave the heavy libraries that
only some tasks use (river, SciPy's stats, matplotlib, joblib) and the task modules unimported."""

import subprocess
import sys

LAZY = ("river", "scipy.stats", "matplotlib", "joblib")

PROBE = """
import contextlib, io, sys
import harness.cli
after_import = sorted(m for m in {lazy!r} if m in sys.modules)
sys.argv = ["tdbench", "--help"]
with contextlib.redirect_stdout(io.StringIO()) as shown, contextlib.suppress(SystemExit):
    harness.cli.main()
after_help = sorted(m for m in sys.modules if m in {lazy!r} or m.startswith("harness.tasks."))
print(after_import, after_help, "task=study" in shown.getvalue(), sep="|")
"""


def test_import_and_help_leave_heavy_libraries_unimported():
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(lazy=LAZY)], capture_output=True, text=True, check=True
    )
    after_import, after_help, listed = done.stdout.strip().splitlines()[-1].split("|")
    assert after_import == "[]", after_import
    assert after_help == "[]", after_help
    assert listed == "True"  # the help still lists the tasks
