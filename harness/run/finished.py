"""A finished study's record, so that running the same command into the same folder again prints
the stored output at once instead of recomputing the summary, the headline and the report.

The record (``.finished.json``) is written last, after every output, and holds the digest of what
determined them: the resolved settings (all but ``progress``), the code version, and the SHA-256 of
the ledger and of every other file in the folder (``config.yaml``, Hydra's ``.hydra/`` and log, the
lock and the record itself aside). A rerun uses it only when all of them are unchanged; anything
else (another setting, a cell added or recomputed, a deleted or edited output, a kill before the
record was written) finds no valid record, and the study runs as usual. A study starting to
recompute removes the record first, so a record never outlives the outputs it describes.

>>> import tempfile
>>> from omegaconf import OmegaConf
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "summary.csv").write_text("a,b\\n1,2\\n")
>>> cfg = OmegaConf.create({"seeds": 2, "progress": True})
>>> FinishedRun(cfg, folder).keep("printed", 0)
>>> FinishedRun(OmegaConf.create({"seeds": 2, "progress": False}), folder).stored()
('printed', 0)
>>> FinishedRun(OmegaConf.create({"seeds": 3}), folder).stored() is None  # another setting
True
>>> _ = (folder / "summary.csv").write_text("a,b\\n1,3\\n")
>>> FinishedRun(cfg, folder).stored() is None  # an output changed
True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from harness.run.files import write_text
from harness.run.lock import LOCK_FILE
from harness.run.version import code_version

RECORD = ".finished.json"
UNTRACKED = {RECORD, LOCK_FILE, "config.yaml"}  # rewritten by every run (config.yaml: by the settings)
IGNORED_SETTINGS = ("progress",)  # settings that change no output


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class FinishedRun:
    """The record of the study ``cfg`` in ``run_dir``: ``stored()`` reads it back while it is still
    valid, ``keep()`` writes it after a finished run, ``forget()`` removes it."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        settings = OmegaConf.to_container(cfg, resolve=True)
        for name in IGNORED_SETTINGS:
            settings.pop(name, None)
        text = json.dumps(settings, sort_keys=True, default=str)
        self.settings = hashlib.sha256(text.encode()).hexdigest()

    def files(self) -> dict[str, str]:
        """SHA-256 of every tracked file of the folder, by relative path."""
        out = {}
        for path in sorted(self.run_dir.rglob("*")):
            relative = path.relative_to(self.run_dir)
            hidden = relative.parts[0] == ".hydra" or path.suffix == ".log"
            if path.is_file() and not hidden and relative.as_posix() not in UNTRACKED:
                out[relative.as_posix()] = file_digest(path)
        return out

    def fingerprint(self) -> dict:
        return {"settings": self.settings, "code": code_version(), "files": self.files()}

    def stored(self) -> tuple[str, int] | None:
        """(printed output, exit code) of the finished run, or None when anything has changed."""
        try:
            record = json.loads((self.run_dir / RECORD).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("fingerprint") != self.fingerprint():
            return None
        return str(record["printed"]), int(record["exit_code"])

    def keep(self, printed: str, exit_code: int) -> None:
        """Record the finished run (call after its last output is written)."""
        record = {"fingerprint": self.fingerprint(), "printed": printed, "exit_code": exit_code}
        write_text(self.run_dir / RECORD, json.dumps(record, indent=1))

    def forget(self) -> None:
        (self.run_dir / RECORD).unlink(missing_ok=True)
