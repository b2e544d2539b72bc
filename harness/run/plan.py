"""The plan of a study: one job per (scenario, seed), each carrying every detector's cell key."""

from __future__ import annotations

from dataclasses import replace

from harness.config import StudyConfig
from harness.run.jobs import Job, cell_key, job_key


def plan_jobs(study: StudyConfig) -> list[Job]:
    """One job per (scenario, seed); each carries every detector with its cell key. The jobs of one
    seed in ``overhead_every()`` (the first seed always) also time the streaming replay."""
    scoring = study.scoring.to_dict()
    every = study.overhead_every
    jobs = []
    for scenario, scenario_spec in study.scenarios.items():
        for index, seed in enumerate(study.seeds):
            detectors = tuple(
                (
                    name,
                    spec,
                    cell_key(scenario, scenario_spec, seed, study.org, study.truth, scoring, name, spec),
                )
                for name, spec in study.detectors.items()
            )
            key = job_key(scenario, scenario_spec, seed, study.org, study.truth)
            jobs.append(
                Job(
                    scenario,
                    scenario_spec,
                    seed,
                    study.org,
                    study.truth,
                    scoring,
                    detectors,
                    key,
                    index % every == 0,
                )
            )
    return jobs


def pending(jobs: list[Job], done: set[str]) -> list[Job]:
    """Jobs reduced to the detectors whose cells are not stored yet (ok)."""
    out = []
    for job in jobs:
        todo = tuple(d for d in job.detectors if d[2] not in done)
        if todo:
            out.append(replace(job, detectors=todo))
    return out
