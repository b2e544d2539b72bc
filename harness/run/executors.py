"""Where jobs run: ``serial`` (this process), ``local`` (joblib's loky processes), ``dask`` (a
``distributed`` scheduler, or a LocalCluster started for the study on 127.0.0.1) and ``ray``.

Every job is deterministic on its own, so each executor yields the same rows; only the timing
columns differ. Results come back in completion order, one job at a time, so the study can store
them as they arrive. With ``cell_timeout_s`` every job runs under harness.run.isolation's time limit.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import warnings
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

from joblib import Parallel, delayed, parallel_config

from harness.config import ExecutorSpec
from harness.run.isolation import run_isolated
from harness.run.jobs import run_job
from harness.run.signals import WorkersLost, remove_stale_shared_memory

# loky's resource tracker outlives the study and, after an interruption, warns on stderr about the
# semaphores it then removes (harness.run.signals removes them too); it starts with this process's
# warning options, so this keeps it quiet and leaves the clean-up to it.
TRACKER_QUIET = "ignore::UserWarning:joblib.externals.loky.backend.resource_tracker"
if TRACKER_QUIET not in sys.warnoptions:
    sys.warnoptions.append(TRACKER_QUIET)


def job_runner(spec: ExecutorSpec) -> Callable[[Any], Any]:
    """The function each worker applies to a job: in-process, or under the per-cell time limit."""
    if spec.cell_timeout_s is None:
        return run_job
    return partial(run_isolated, timeout_s=float(spec.cell_timeout_s))


def execute(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Generator[Any]:
    """Yield ``fn(job)`` for every job, in completion order."""
    if spec.name == "serial" or spec.name == "local" and (len(jobs) <= 1 or spec.workers == 1):
        return (fn(job) for job in jobs)  # in this process (the CLI says so: harness.cli.in_driver)
    if spec.name == "local":
        return _joblib(fn, jobs, n_jobs=spec.n_jobs, backend="loky", initializer=ignore_interrupt)
    if spec.name == "dask":
        return _dask(fn, jobs, spec)
    return _ray(fn, jobs, spec)


def ignore_interrupt() -> None:
    """In a worker process: leave Ctrl-C to the study's driver, which stops the workers itself
    (a terminal sends SIGINT to the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: joblib's warning when its generator is closed with jobs still running.
CANCELLED = r".*tasks which were still being processed by the workers"


def _joblib(
    fn: Callable[[Any], Any], jobs: list[Any], n_jobs: int, backend: str, **params: Any
) -> Generator[Any]:
    remove_stale_shared_memory()
    with parallel_config(backend=backend, **params):
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        results = parallel(delayed(fn)(job) for job in jobs)
        try:
            for result in results:  # noqa: UP028 (yield from would close it outside the filter)
                yield result
        finally:  # an interrupted study cancels the running jobs on purpose and says so in one line
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=CANCELLED, category=UserWarning)
                results.close()


#: How long a dask cluster may have no worker at all before the study stops (WorkersLost).
NO_WORKERS_GRACE_S = 60.0
LOOPBACK = "127.0.0.1"


def local_cluster(spec: ExecutorSpec) -> Any:
    """A LocalCluster of single-threaded worker processes (the model holds the GIL, so threads would
    not help) whose scheduler, workers and nannies listen on 127.0.0.1 only."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=spec.workers,
        threads_per_worker=1,
        processes=True,
        host=LOOPBACK,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # a lost worker is tdbench's one line (WorkersLost), not dask's log
    )


def _dask(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Generator[Any]:
    """Every job as a task on the scheduler at ``spec.address``, or on a LocalCluster started here;
    each runs on a worker (never in this process, however few workers there are)."""
    from distributed import Client, wait
    from distributed.scheduler import KilledWorker

    cluster = local_cluster(spec) if spec.address is None else None
    client = Client(cluster if cluster is not None else spec.address, set_as_default=False)
    try:
        pending = set(client.map(fn, jobs, pure=False))
        alone_since = None
        while pending:
            try:
                with client.as_current():
                    done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:  # none finished within the second
                done = set()
            for future in done:
                try:
                    yield future.result()
                except KilledWorker as error:
                    raise WorkersLost(f"a job killed its worker {error.args[2] + 1} times") from None
            if done or client.scheduler_info(n_workers=1)["workers"]:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > NO_WORKERS_GRACE_S:
                raise WorkersLost(f"no worker for {NO_WORKERS_GRACE_S:g} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(fn: Callable[[Any], Any], jobs: list[Any], spec: ExecutorSpec) -> Generator[Any]:
    """Ray tasks, collected as they finish. (joblib's ray backend cannot stream results, which the
    study needs to store cells as they finish, so this uses ray's own task API.)"""
    import ray

    started = not ray.is_initialized()
    if started:
        if spec.address == "local":  # the user's choice (harness.config.RAY_NEEDS_ADDRESS)
            ray.init(address="local", num_cpus=spec.workers, include_dashboard=False, log_to_driver=False)
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
