"""Files tdbench writes: each appears whole or not at all, with the mode the user's umask gives.

A file is written to a temporary name beside its destination and renamed into place, so a kill
never leaves a torn file. ``tempfile.mkstemp`` creates 0600 files; the mode is set to
``0o666 & ~umask`` before the rename, as ``open()`` would have created it. A write the storage
refuses (disk full, read-only folder, no permission) raises StorageError: one line naming the
file and what to do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from harness.run.version import MODEL_VERSION

#: The simulation model version in every parquet file, read back by ``pd.read_parquet(path).attrs``.
MODEL_VERSION_ATTR = "tdbench_model_version"

#: errno values that mean "the storage refused", as opposed to a bug in tdbench.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


class StorageError(Exception):
    """The run folder cannot be written: disk full, read-only, or no permission."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"cannot write {path}: {reason}; free space or fix the folder's permissions, then run the "
            "same command again (everything already stored is kept)"
        )


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the umask."""
    return 0o666 & ~umask()


def storage_error(path: Path | str, error: OSError) -> StorageError | None:
    """The StorageError for ``error``, or None when it is not a storage refusal."""
    if error.errno in STORAGE_ERRNOS:
        return StorageError(path, error.strerror or str(error))
    return None


def write_atomic(path: Path, write: Callable[[str], object]) -> None:
    """Write a file through ``write(tmp_path)`` and move it into place in one step."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as error:
        refused = storage_error(path, error)
        if refused is None:
            raise
        raise refused from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (without its index), with the simulation model version in its attrs."""
    frame = frame.copy(deep=False)
    frame.attrs[MODEL_VERSION_ATTR] = MODEL_VERSION
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def remove_temporaries(folder: Path) -> None:
    """Delete the temporary files a killed write left in ``folder`` and its ``figures/``."""
    for pattern in (".*.tmp", "figures/.*.tmp"):
        for tmp in Path(folder).glob(pattern):
            tmp.unlink(missing_ok=True)
