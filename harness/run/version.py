"""The code version that goes into every cell key: a hash of the package sources."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGES = ("harness", "scenarios", "detectors")


@cache
def code_version() -> str:
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
