"""The exclusive lock a study holds on its run folder, so two studies never write one folder.

``hold(folder)`` takes ``flock(LOCK_EX | LOCK_NB)`` on ``folder/.tdbench.lock`` and writes the
holder's PID into it. The kernel releases the lock when the holder exits, however it dies, so a
lock left by a killed process is simply taken over. A second study into the folder gets
FolderBusy at once, naming the folder and the holder's PID. Within one process the lock is
re-entrant (the CLI holds it around the task, and the ledger takes it again). On Linux NFS
clients flock is carried by the server's byte-range locks, so it also holds across machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness.run.files import StorageError, file_mode, storage_error

LOCK_FILE = ".tdbench.lock"
HYDRA_ONLY = {".hydra", "config.yaml", "cli.log", LOCK_FILE}  # what a command leaves before its work

_held: dict[Path, list[int]] = {}  # folder -> [fd, depth]
_guard = threading.Lock()


class FolderBusy(Exception):
    """Another process holds the run folder's lock."""

    def __init__(self, folder: Path, pid: str) -> None:
        holder = f"PID {pid}" if pid else "a process that has not written its PID yet"
        super().__init__(
            f"run folder {folder} is in use by another tdbench study ({holder}); wait for it to finish "
            "or choose another folder (hydra.run.dir=...)"
        )


def holder_pid(folder: Path, wait_s: float = 1.0) -> str:
    """The PID the holder wrote in the folder's lock file ('' when none came within ``wait_s``: a
    holder writes it just after taking the lock)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid = (Path(folder) / LOCK_FILE).read_text().strip()
        except OSError:
            pid = ""
        if pid or time.monotonic() >= deadline:
            return pid
        time.sleep(0.02)


@contextlib.contextmanager
def hold(folder: Path | str) -> Iterator[None]:
    """Hold the folder's exclusive lock for the duration of the block."""
    folder = Path(folder).resolve()
    with _guard:
        entry = _held.get(folder)
        if entry is not None:
            entry[1] += 1
        else:
            _held[folder] = [_acquire(folder), 1]
    try:
        yield
    finally:
        with _guard:
            entry = _held[folder]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[folder]
                os.close(entry[0])  # releases the flock


def check_free(folder: Path | str) -> None:
    """Before any file is written: FolderBusy if a live process holds ``folder``'s lock, StorageError
    if the existing folder cannot be written. Nothing is created."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in (folder, folder / LOCK_FILE, folder / "ledger.sqlite"):
        if path.exists() and not os.access(path, os.W_OK):
            raise StorageError(path, "read-only (no write permission, or a read-only filesystem)")
    if folder.resolve() in _held or not (folder / LOCK_FILE).exists():
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderBusy(folder.resolve(), holder_pid(folder)) from None
    finally:
        os.close(fd)  # releases the probe's lock


def _acquire(folder: Path) -> int:
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    except OSError as error:
        refused = storage_error(path, error)
        if refused is None:
            raise
        raise refused from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(folder, holder_pid(folder)) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        os.close(fd)
        raise StorageError(path, error.strerror or str(error)) from None
    return fd
