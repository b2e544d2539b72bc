"""One table across the jobs of a sweep (Hydra multirun): every job's headline rows, with each swept
parameter as a column.

A sweep folder holds one folder per job (``0/``, ``1/``, ...), each with Hydra's
``.hydra/overrides.yaml`` (the job's command-line overrides) and, after a study, ``headline.csv``
(one row per detector at the matched false-alarm budget). A swept parameter is an override whose
value differs between jobs; its values are parsed as YAML (``8`` is a number, ``ring`` a string).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from scenarios.errors import InputError

HEADLINE = "headline.csv"
OVERRIDES = Path(".hydra") / "overrides.yaml"
#: Headline columns drawn against each numeric swept parameter, with their axis labels.
METRICS = {
    "warned": "share warned ahead at the budget",
    "median_lead_h": "median lead (h)",
    "quiet_alert_fraction": "quiet alert fraction",
}


@dataclass
class Sweep:
    """The rows (one per job and detector), the swept parameters, and the jobs left out."""

    folder: Path
    rows: pd.DataFrame
    parameters: list[str]
    missing: list[str] = field(default_factory=list)  # "job 3: no headline.csv"

    @property
    def numeric(self) -> list[str]:
        """Swept parameters whose every value is a number (the ones drawn as an x axis)."""
        return [p for p in self.parameters if pd.api.types.is_numeric_dtype(self.rows[p].dropna())]


def job_folders(sweep_dir: Path) -> list[Path]:
    """The sweep's job folders, in job order."""
    jobs = [p for p in Path(sweep_dir).iterdir() if p.is_dir() and (p / OVERRIDES).is_file()]
    return sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def job_overrides(folder: Path) -> dict[str, str]:
    """A job's overrides as key -> value text (``+``/``~`` prefixes dropped)."""
    lines = yaml.safe_load((folder / OVERRIDES).read_text()) or []
    pairs = (str(line).partition("=") for line in lines)
    return {key.lstrip("+~"): value for key, _, value in pairs}


def parse(value: str | None) -> object:
    """An override's value as YAML would read it (lists and dicts stay text).

    >>> parse("8"), parse("0.5"), parse("ring"), parse("[a,b]")
    (8, 0.5, 'ring', '[a,b]')
    """
    if value is None:
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if isinstance(parsed, list | dict) else parsed


def collect(sweep_dir: str | Path) -> Sweep:
    """Every job's headline rows with the swept parameters as columns (``job`` first)."""
    folder = Path(sweep_dir)
    if not folder.is_dir():
        raise InputError("sweep_dir", f"no such folder {str(folder)!r}")
    jobs = job_folders(folder)
    if not jobs:
        raise InputError("sweep_dir", f"{str(folder)!r} holds no job folders of a multirun (no {OVERRIDES})")
    overrides = {job.name: job_overrides(job) for job in jobs}
    keys = list(dict.fromkeys(k for o in overrides.values() for k in o))
    parameters = [k for k in keys if len({o.get(k) for o in overrides.values()}) > 1]
    frames, missing = [], []
    for job in jobs:
        if not (job / HEADLINE).is_file():
            code = job / "exit_code"
            why = f" (exit code {code.read_text().strip()})" if code.is_file() else ""
            missing.append(f"job {job.name}: no {HEADLINE}{why}")
            continue
        headline = pd.read_csv(job / HEADLINE)
        values = {p: parse(overrides[job.name].get(p)) for p in parameters}
        frames.append(headline.assign(**values).assign(job=job.name))
    if not frames:
        raise InputError("sweep_dir", f"no job of {str(folder)!r} has a {HEADLINE}; " + "; ".join(missing))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[["job", *parameters, *[c for c in rows if c not in {"job", *parameters}]]]
    for p in parameters:  # numbers stay numbers when every value is one
        numeric = pd.to_numeric(rows[p], errors="coerce")
        if numeric.notna().all() and not rows[p].map(lambda v: isinstance(v, bool)).any():
            rows[p] = numeric
    return Sweep(folder, rows, parameters, missing)
