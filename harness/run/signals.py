"""One signal policy for every task: SIGINT (Ctrl-C), SIGTERM and SIGHUP each stop the task the
way Ctrl-C does.

The signal raises ``Stopped`` (a KeyboardInterrupt) in the driver's main thread, so the task
unwinds: the executor stops its workers, the run folder's lock is released, a study says how many
of its jobs are stored (every job committed before the signal is kept). The command then exits
with 128 + the signal's number (130, 143, 129) after removing the shared-memory files its
workers' pool left in /dev/shm (a pool started later also removes those of pools whose process was
killed outright). A second signal while it stops is ignored, and so is a signal the
command was started ignoring (``nohup tdbench ...`` keeps running when its terminal closes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SHARED_MEMORY = Path("/dev/shm")


class Stopped(KeyboardInterrupt):
    """The task was stopped by ``signum``."""

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    for each in SIGNALS:
        signal.signal(each, signal.SIG_IGN)  # let the stop under way finish its cleanup
    raise Stopped(signum)


def signal_policy() -> None:
    """From now on (call it in the main thread), SIGINT, SIGTERM and SIGHUP raise Stopped; a signal
    the command was started ignoring (``nohup``, a background job's SIGINT) stays ignored."""
    for each in SIGNALS:
        if signal.getsignal(each) is not signal.SIG_IGN:
            signal.signal(each, _stop)


def signal_of(stop: BaseException) -> int:
    """The signal behind an interruption (a bare KeyboardInterrupt is Ctrl-C's SIGINT)."""
    return int(getattr(stop, "signum", signal.SIGINT))


def exit_code(stop: BaseException) -> int:
    """The shell's convention: 128 + the signal's number."""
    return 128 + signal_of(stop)


#: The /dev/shm names joblib's memory-mapping folders and loky's semaphores take: the creating
#: process's id comes first.
SHARED_NAMES = (re.compile(r"joblib_memmapping_folder_(\d+)_"), re.compile(r"sem\.loky-(\d+)-"))


def remove_shared_memory(pid: int | None = None) -> None:
    """Remove joblib's memory-mapping folders and loky's semaphores that process ``pid`` (default:
    this one) created in /dev/shm; its workers are gone, so nothing uses them any more."""
    pid = os.getpid() if pid is None else pid
    for path in SHARED_MEMORY.glob(f"joblib_memmapping_folder_{pid}_*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in SHARED_MEMORY.glob(f"sem.loky-{pid}-*"):
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_shared_memory() -> None:
    """Remove the /dev/shm files of joblib and loky pools whose creating process no longer exists
    (``kill -9`` leaves them): only this user's, and never those of a live process."""
    if not SHARED_MEMORY.is_dir():
        return
    uid = os.getuid()
    for path in SHARED_MEMORY.iterdir():
        match = next((m for name in SHARED_NAMES if (m := name.match(path.name))), None)
        with contextlib.suppress(OSError):
            if match and path.lstat().st_uid == uid and not alive(int(match[1])):
                remove_shared_memory(int(match[1]))


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class WorkersLost(Exception):
    """The dask cluster lost the workers running the study's jobs."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"executor.name: dask lost its workers ({reason}); every job finished before is stored: "
            "restart the cluster and run the same command again"
        )
