"""Orchestration: CLI, study runner, scoring, calibration, statistics, results (DESIGN section 1).

The Python API (``harness.api``): ``tdbench`` runs a study like the command, ``load`` reads a run
folder, ``evaluate`` scores a frame of historical data.
"""

from harness.api import Run, evaluate, load, tdbench
from scenarios.errors import InputError

__all__ = ["InputError", "Run", "evaluate", "load", "tdbench"]
