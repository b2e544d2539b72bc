"""Where jobs run: ``serial`` (this process), ``local`` (joblib's loky processes), ``dask`` (a
``distributed`` scheduler, or a LocalCluster started for the study) and ``ray``.

Every job is deterministic on its own, so each executor yields the same rows; only the timing
columns differ. Results come back in completion order, one job at a time, so the study can store
them as they arrive. With ``cell_timeout_s`` every job runs under harness.run.isolation's time limit.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from joblib import Parallel, delayed, parallel_config

from harness.config import ExecutorSpec
from harness.run.isolation import run_isolated
from harness.run.jobs import run_job

# An interrupted study (Ctrl-C) cancels the jobs still running on purpose and says so in one line;
# joblib's own warning about the cancelled tasks would add two more.
warnings.filterwarnings(
    "ignore", message=r".*tasks which were still being processed by the workers", category=UserWarning
)


def job_runner(spec: ExecutorSpec) -> Callable[[Any], Any]:
    """The function each worker applies to a job: in-process, or under the per-cell time limit."""
    if spec.cell_timeout_s is None:
        return run_job
    return partial(run_isolated, timeout_s=float(spec.cell_timeout_s))


def execute(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Iterator[Any]:
    """Yield ``fn(job)`` for every job, in completion order."""
    if spec.name == "serial" or len(jobs) <= 1:
        return (fn(job) for job in jobs)
    if spec.name == "local":
        return _joblib(fn, jobs, n_jobs=spec.n_jobs, backend="loky", initializer=ignore_interrupt)
    if spec.name == "dask":
        return _dask(fn, jobs, spec)
    return _ray(fn, jobs, spec)


def ignore_interrupt() -> None:
    """In a worker process: leave Ctrl-C to the study's driver, which stops the workers itself
    (a terminal sends SIGINT to the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _joblib(
    fn: Callable[[Any], Any], jobs: list[Any], n_jobs: int, backend: str, **params: Any
) -> Iterator[Any]:
    with parallel_config(backend=backend, **params):
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(delayed(fn)(job) for job in jobs)


def _dask(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Iterator[Any]:
    """joblib's dask backend on the scheduler at ``spec.address``, or on a LocalCluster of
    single-threaded worker processes (the model holds the GIL, so threads would not help)."""
    from distributed import Client, LocalCluster

    cluster = None
    if spec.address is None:
        cluster = LocalCluster(
            n_workers=spec.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(cluster if cluster is not None else spec.address, set_as_default=False)
    try:
        yield from _joblib(fn, jobs, n_jobs=-1, backend="dask", client=client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Iterator[Any]:
    """Ray tasks, collected as they finish. (joblib's ray backend cannot stream results, which the
    study needs to store cells as they finish, so this uses ray's own task API.)"""
    import ray

    started = not ray.is_initialized()
    if started:
        if spec.address is None:
            ray.init(num_cpus=spec.workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=spec.address, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_apply)
        pending = [task.remote(fn, job) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _apply(fn: Callable[[Any], Any], job: Any) -> Any:
    return fn(job)
