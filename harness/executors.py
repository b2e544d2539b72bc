"""Where jobs run: in this process, or through joblib (loky processes by default)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from joblib import Parallel, delayed

from harness.config import ExecutorSpec


def execute(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Iterator[Any]:
    """Yield ``fn(job)`` for every job, in completion order."""
    if spec.name == "serial" or len(jobs) <= 1:
        return (fn(job) for job in jobs)
    if spec.name == "local":
        return _joblib(fn, jobs, n_jobs=spec.n_jobs, backend="loky")
    raise NotImplementedError(f"executor {spec.name!r} is not available yet")


def _joblib(fn: Callable[[Any], Any], jobs: Iterable[Any], n_jobs: int, backend: str) -> Iterator[Any]:
    parallel = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")
    return iter(parallel(delayed(fn)(job) for job in jobs))
