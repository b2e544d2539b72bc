"""Jobs in a killable child process: the per-cell time limit (``executor.cell_timeout_s``).

Python cannot stop a running thread, and a worker thread of dask or ray cannot take a signal, so
the limit is enforced the one way that works on every executor: the worker hands each job to a
long-lived child Python process and waits for each stage of the job (the simulation, then each
detector's replay and scoring) with a deadline. When a stage overruns, the child is killed, so the
work really stops; that cell is recorded as ``timeout`` and the job's remaining detectors go to a
fresh child. A child that dies (a crash in native code, the kernel's out-of-memory killer)
records ``error`` for the cell it was running. Children are reused from job to job and exit when
their worker does.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import replace
from typing import Any

from harness.run.jobs import Job, Tables, failed_cells, job_stages, merge

_HEADER = struct.Struct("!Q")
_STARTUP_S = 300.0  # a child must import the package within this time


class ChildDied(Exception):
    """The child process exited while running a stage."""


def _write(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _read(fd: int, deadline: float | None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


class Child:
    """A child Python process that runs jobs it is sent and reports each stage as it finishes."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.run.isolation"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # pipes, as asked for
        self.to_child, self.from_child = self.proc.stdin, self.proc.stdout
        try:
            self.recv(_STARTUP_S)  # "ready": imports are done, so they do not count against a stage
        except (ChildDied, TimeoutError) as problem:
            self.kill()
            raise RuntimeError(
                f"cannot start a cell process ({sys.executable} -m harness.run.isolation): {problem}"
            ) from None

    def send(self, job: Job) -> None:
        _write(self.to_child.fileno(), job)

    def recv(self, timeout_s: float) -> Any:
        """The next message; TimeoutError when none arrives in time, ChildDied when the child exited."""
        try:
            return _read(self.from_child.fileno(), time.monotonic() + timeout_s)
        except EOFError:
            raise ChildDied(f"the process running it died (exit code {self.proc.wait()})") from None

    def kill(self) -> None:
        self.proc.kill()
        self.close()

    def close(self) -> None:
        self.to_child.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.from_child.close()


_idle: list[Child] = []
_lock = threading.Lock()


def _acquire() -> Child:
    with _lock:
        while _idle:
            child = _idle.pop()
            if child.proc.poll() is None:  # still alive
                return child
            child.close()
    return Child()


def _release(child: Child) -> None:
    with _lock:
        _idle.append(child)


@atexit.register
def _close_idle() -> None:
    with _lock:
        children = list(_idle)
        _idle.clear()
    for child in children:
        child.close()


def run_isolated(job: Job, timeout_s: float) -> Tables:
    """All rows of one job, each stage run in a child process and limited to ``timeout_s`` seconds."""
    parts: list[Tables] = []
    todo = list(job.detectors)
    while todo:
        child = _acquire()
        child.send(replace(job, detectors=tuple(todo)))
        context = None
        try:
            stage, payload = child.recv(timeout_s)
            if stage == "failed":
                parts.append(payload)
                todo = []
            if stage == "simulated":
                context, record = payload
                if not any("runs" in part for part in parts):  # a fresh child simulates again
                    parts.append(record)
            while todo:
                _, tables = child.recv(timeout_s)
                parts.append(tables)
                todo.pop(0)
        except (TimeoutError, ChildDied) as problem:
            child.kill()
            lost = todo[:1] if context is not None else todo
            doing = f"detector {lost[0][0]!r}" if context is not None else "the simulation"
            if isinstance(problem, TimeoutError):
                status = "timeout"
                error = f"{doing} exceeded executor.cell_timeout_s = {timeout_s:g} s; its process was killed"
            else:
                status, error = "error", f"{doing}: {problem}"
            seconds = timeout_s if status == "timeout" else None
            parts.append(failed_cells(job, lost, status, error, context, seconds))
            todo = todo[len(lost) :]
            continue
        except BaseException:  # the study is stopping (harness.run.signals): its cell goes with it
            child.kill()
            raise
        _release(child)
    return merge(parts)


def serve() -> None:
    """The child's loop: read a job, send each stage as it is done, until stdin or stdout closes.
    Ctrl-C is left to the study's driver, which stops its children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.dup(1)
    os.dup2(2, 1)  # anything the job prints goes to stderr, never into the message stream
    sys.stdout = sys.stderr
    _write(out, "ready")
    while True:
        try:
            job = _read(0, None)
        except EOFError:
            return
        try:
            for stage in job_stages(job):
                _write(out, stage)
        except BrokenPipeError:  # the worker that sent the job is gone
            return


if __name__ == "__main__":
    serve()
