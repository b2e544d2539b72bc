"""The ``tdbench`` command with one fault injected, for tests/test_ledger_faults.py.

``TDBENCH_FAULT=<point>:<n>[:<fault>]`` makes the n-th arrival at ``point`` fail with ``fault``:
``kill`` (default: SIGKILL to this process, as ``kill -9`` or the out-of-memory killer would),
``sigint`` (Ctrl-C) or ``enospc`` (the storage refuses the write: disk full). Points:

- ``simulate``: inside a job's simulation, before it returns;
- ``commit``: just after a job's transaction committed (between two jobs' commits);
- ``in-commit``: inside a job's transaction, its rows written, before COMMIT;
- ``export``: after an exported table was written, before the next one;
- ``report``: while the report draws a figure.

The production code has no hooks: this script wraps the functions before running the command.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import sys
from collections.abc import Callable

import pandas as pd

from harness import cli
from harness.report import document
from harness.run import jobs, study
from harness.run.ledger import Ledger


def fail(fault: str, where: str) -> None:
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
    elif where in ("commit", "in-commit"):
        raise sqlite3.OperationalError("database or disk is full")  # what SQLite raises
    else:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def counted(fn: Callable, n: int, fault: str, where: str, before: bool) -> Callable:
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if before and calls[0] == n:
            fail(fault, where)
        out = fn(*args, **kwargs)
        if not before and calls[0] == n:
            fail(fault, where)
        return out

    return wrapper


def install(spec: str) -> None:
    where, n, *rest = spec.split(":")
    fault, n = (rest[0] if rest else "kill"), int(n)
    if where == "simulate":
        jobs.simulate = counted(jobs.simulate, n, fault, where, before=False)
    elif where == "commit":
        Ledger.commit_job = counted(Ledger.commit_job, n, fault, where, before=False)
    elif where == "in-commit":
        Ledger._write_rows = counted(Ledger._write_rows, n, fault, where, before=False)
    elif where == "export" and fault == "enospc":  # inside the atomic write, as the disk would
        pd.DataFrame.to_parquet = counted(pd.DataFrame.to_parquet, n, fault, where, before=True)
    elif where == "export":
        study.write_parquet = counted(study.write_parquet, n, fault, where, before=False)
    elif where == "report":
        document.draw_figure = counted(document.draw_figure, n, fault, where, before=True)
    else:
        raise SystemExit(f"unknown fault point {where!r}")


if __name__ == "__main__":
    install(os.environ["TDBENCH_FAULT"])
    sys.argv[0] = "tdbench"
    cli.main()
