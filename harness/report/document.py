"""report.md and figures/ of a run folder: the scorecard, the main tables, every figure, the config
and the package versions.

``write_report`` is a pure function of the run folder's ledger (and its config.yaml): the tables,
the per-step readings of one seed per scenario for the timelines (``harness.report.timelines``,
exported as timeline.parquet and timeline_marks.parquet), the per-cell overhead. It never
simulates. It draws the figures (in parallel, through the executor: ``ReportFigures``, which a
study and ``task=report`` run beside the summary, since no figure reads it) and writes the
markdown, at the end of a study (``finish_study``) and for ``task=report``, so a rebuilt report
equals the original.
"""

from __future__ import annotations

import importlib
import platform
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.headline import Headline
from harness.analysis.identical import identical_detectors
from harness.analysis.phase4 import phase4_section
from harness.analysis.summary import ALL, alarm_rates
from harness.config import ExecutorSpec, ReportSpec, StudyConfig, build, demand_label
from harness.report.palette import palette
from harness.report.screen import announce
from harness.report.timelines import representative_seed, score_thresholds, timeline_tables
from harness.run.executors import execute
from harness.run.files import write_parquet, write_text
from harness.run.ledger import Ledger
from harness.run.stopping import STOPPING, stopping_text
from harness.run.study import StudyResult
from harness.run.version import MODEL_VERSION, code_version
from scenarios.errors import InputError
from scenarios.params import config_dict
from scenarios.truth import TARGETS, TruthSpec

FIGURES = "figures"
RANKING = "ranking.png"
AMOC = "amoc.png"
COVERAGE = "lead_coverage_headline.png"
HEADLINE_FIGURES = (RANKING, AMOC, COVERAGE)  # drawn under the headline, at the top of the report
#: Written by calibration (issue 4) when it ran: the sweep and the chosen thresholds.
OPERATING_CURVE = "operating_curve.parquet"
CALIBRATED = "calibrated.parquet"
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "simpy", "matplotlib", "hydra-core", "joblib", "tdbench")


def report_spec(raw: Mapping[str, Any] | None, seeds: tuple[int, ...] = ()) -> ReportSpec:
    """Validate the ``report:`` block of the config."""
    spec = ReportSpec(**(raw or {}))
    seed = spec.timeline_seed
    if seed is not None and seeds and seed not in seeds:
        raise InputError(
            "report.timeline_seed",
            f"must be null or one of the study's seeds ({seeds[0]}..{seeds[-1]}); got {seed!r}",
        )
    return spec


def report_settings(cfg: Mapping[str, Any], seeds: tuple[int, ...] = ()) -> ReportSpec:
    """The validated ``report:`` block of a composed config."""
    raw = cfg.get("report")
    return report_spec(config_dict(raw or {}), seeds)


# ----------------------------------------------------------------------------------------- study


def finish_study(
    study: StudyConfig, result: StudyResult, spec: ReportSpec, drawn: ReportFigures | None = None
) -> Path | None:
    """After a study: the report, unless ``report.enabled=false`` (``drawn``: its figures, if the
    study drew them beside its summary)."""
    if not spec.enabled:
        return None
    return write_report(result, study, timeline_seed=spec.timeline_seed, drawn=drawn)


# ---------------------------------------------------------------------------------------- report


@dataclass
class FigureJob:
    """One figure of the report: where it goes, how it is drawn (``draw``: the name of its function
    in ``harness.report.figures``, imported where it is drawn) and how to read it."""

    file: str
    title: str
    caption: str
    draw: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    error: str = ""


def draw_figure(figure: FigureJob) -> FigureJob:
    """Draw one figure; a failure is recorded in ``error``, never raised."""
    try:
        draw = getattr(importlib.import_module("harness.report.figures"), figure.draw)
        draw(*figure.args, **figure.kwargs)
    except Exception:
        figure.error = traceback.format_exc().strip().splitlines()[-1]
    figure.args, figure.kwargs = (), {}
    return figure


def read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


class ReportFigures:
    """Every figure of a run's report, drawn from its stored rows and its headline: the timelines
    are exported from the ledger first (timeline.parquet, timeline_marks.parquet), then the figures
    are drawn through the executor. None of them reads the summary, so a study draws them beside
    it (``run_study``'s ``beside``); ``figures`` holds them drawn, in report order."""

    def __init__(
        self,
        run_dir: Path,
        study: StudyConfig,
        executor: ExecutorSpec | None = None,
        timeline_seed: int | None = None,
    ) -> None:
        self.run_dir, self.study, self.timeline_seed = Path(run_dir), study, timeline_seed
        self.executor = executor or study.executor
        self.figures: list[FigureJob] | None = None

    def __call__(self, tables: Mapping[str, pd.DataFrame], headline: Headline | None) -> list[FigureJob]:
        study = self.study
        with Ledger.open_existing(self.run_dir) as ledger:
            timelines = timeline_tables(
                ledger, list(study.scenarios), list(study.detectors), tables["cells"], self.timeline_seed
            )
        for name, table in timelines.items():
            write_parquet(self.run_dir / f"{name}.parquet", table)
        planned = plan_figures(
            self.run_dir, tables, headline, study, timelines["timeline"], timelines["timeline_marks"]
        )
        announce(study.progress, f"figures: drawing {len(planned)}")
        done = {f.file: f for f in execute(draw_figure, planned, self.executor)}
        self.figures = [done[f.file] for f in planned]
        return self.figures


def write_report(
    result: StudyResult,
    study: StudyConfig,
    executor: ExecutorSpec | None = None,
    intro: str = "",
    timeline_seed: int | None = None,
    drawn: ReportFigures | None = None,
) -> Path:
    """Export the timelines from the ledger, draw every figure the run allows and write report.md
    (``intro`` opens it); returns its path. ``drawn``: the figures, when they were drawn already
    (beside the summary)."""
    if drawn is not None and drawn.figures is not None:
        figures = drawn.figures
    else:
        draw = ReportFigures(result.run_dir, study, executor, timeline_seed)
        figures = draw(result.tables, result.headline)
    announce(study.progress, "report: writing report.md")
    text = render_markdown(result, study, figures, intro)
    path = result.run_dir / "report.md"
    write_text(path, text)
    return path


def false_alarms(cells: pd.DataFrame) -> pd.DataFrame | None:
    """Per detector, over its cells that succeeded: the FP rate and the quiet-time alert fraction
    (as summary.csv's ALL rows); None without any."""
    ok = cells[cells["status"] == "ok"]
    if ok.empty:
        return None
    return pd.DataFrame([{"detector": d, **alarm_rates(c)} for d, c in ok.groupby("detector", sort=True)])


def plan_figures(
    run_dir: Path,
    tables: Mapping[str, pd.DataFrame],
    headline: Headline | None,
    study: StudyConfig,
    timeline: pd.DataFrame,
    marks: pd.DataFrame,
) -> list[FigureJob]:
    """The figures of this run, in report order, with their data (``tables``: the stored cells,
    events, episodes and overhead; ``timeline`` and ``marks``: the rows of timeline.parquet and
    timeline_marks.parquet)."""
    out = run_dir / FIGURES
    cells = tables["cells"]
    ok_keys = set(cells.loc[cells["status"] == "ok", "key"])
    events, episodes, overhead = (
        frame[frame["key"].isin(ok_keys)] if len(frame) else frame
        for frame in (tables["events"], tables["episodes"], tables["overhead"])
    )
    colors = palette(study.detectors)
    labels = score_labels(study)
    scenarios = list(study.scenarios)
    scoring = study.scoring
    truth = TruthSpec(**study.truth)
    planned: list[FigureJob] = []
    if headline is not None and len(headline.table):
        spec = headline.spec
        planned.append(
            FigureJob(
                RANKING,
                "Who warns first: the ranking",
                f"Each detector's share of {spec.target} events warned at least {spec.min_lead_h:g} h ahead "
                f"at the budget ({spec.label}), macro over scenarios, every seed out of fold, with its "
                f"{study.stats.confidence:.0%} interval over seeds, in rank order (hollow: infeasible). "
                "Right: the pairs decided on warned at family-wise 5% (Holm) and how many are not.",
                "ranking",
                (headline.table, headline.pairs, out / RANKING),
                {
                    "min_lead_h": spec.min_lead_h,
                    "target": spec.target,
                    "colors": colors,
                    "confidence": study.stats.confidence,
                },
            )
        )
    if headline is not None and len(headline.amoc):
        planned.append(
            FigureJob(
                AMOC,
                "Events warned against quiet-time alerting",
                "Threshold-free view on all seeds: for every threshold of each detector, the share of events "
                "warned at least 0, 2 and 8 h ahead (and any detection, grey) against the share of quiet "
                "time spent alerting. Shaded: the partial AUC's range; dotted: the budget; dot: the "
                "deployable threshold (hollow: infeasible, its nearest point).",
                "amoc",
                (headline.amoc, headline.table, out / AMOC),
                {
                    "budget": headline.spec.quiet_alert_fraction,
                    "area_to": headline.spec.partial_auc_to,
                    "colors": colors,
                    "min_lead_h": headline.spec.min_lead_h,
                },
            )
        )
    coverage_scales = {
        "horizon_h": scoring.horizon_h,
        "grace_h": scoring.grace_h,
        "criterion_h": study.criteria.lead_h,
        "colors": colors,
    }
    if headline is not None and len(headline.events):
        planned.append(headline_coverage(headline, out, coverage_scales))

    evaluation = is_evaluation(study)
    thresholds = score_thresholds(timeline, scoring)
    runs = timeline[["scenario", "seed"]].drop_duplicates()
    order = {name: i for i, name in enumerate(scenarios)}
    runs = runs.sort_values("scenario", key=lambda s: s.map(order).fillna(len(order))) if len(runs) else runs
    if len(runs):
        for scenario, seed in runs.itertuples(index=False):
            readings = timeline[(timeline["scenario"] == scenario) & (timeline["seed"] == seed)]
            planned.append(
                FigureJob(
                    f"timeline_{scenario}.png",
                    f"Timeline: {scenario}",
                    timeline_caption(cells, scenario, int(seed), evaluation),
                    "timeline",
                    (readings, out / f"timeline_{scenario}.png"),
                    {
                        "events": of_run(events, scenario, seed),
                        "episodes": of_run(episodes, scenario, seed),
                        "marks": of_run(marks, scenario, seed),
                        "thresholds": thresholds,
                        "title": (
                            f"{scenario}: {study.scenarios[scenario]['data']}"
                            if evaluation
                            else f"{scenario}, seed {seed}"
                        ),
                        "breach_level": truth.utilization_on,
                        "load_label": (
                            "arrived work / capacity (observed)"
                            if evaluation
                            else "offered load ρ (work arriving / capacity)"
                        ),
                        "colors": colors,
                        "score_labels": labels,
                        "origin": study.scenarios[scenario].get("origin") if evaluation else None,
                        **headline_order(headline),
                    },
                )
            )
    for target in TARGETS:
        planned.append(
            FigureJob(
                f"lead_times_{target}.png",
                f"Lead times at the shipped thresholds: {target.replace('_', ' ')}",
                f"Lead time of every scored {target.replace('_', ' ')} event, per scenario and detector, "
                "each detector at its shipped levels (not matched in cost: a detector that alerts most of "
                "the time shows long leads and few misses here; the headline compares them at one budget). "
                f"A lead is capped at the horizon H = {scoring.horizon_h:g} h and may be as late as G = "
                f"{scoring.grace_h:g} h after onset (negative); missed events have none and are counted.",
                "lead_times",
                (events, out / f"lead_times_{target}.png"),
                {
                    "target": target,
                    "horizon_h": scoring.horizon_h,
                    "grace_h": scoring.grace_h,
                    "criterion_h": study.criteria.lead_h,
                    "scenarios": scenarios,
                    "colors": colors,
                },
            )
        )
    curve, chosen = read_optional(run_dir / OPERATING_CURVE), read_optional(run_dir / CALIBRATED)
    if curve is not None:
        planned.append(
            FigureJob(
                "operating_curves.png",
                "Operating curves",
                "Recall and median lead against the share of quiet time spent alerting as each detector's "
                "score threshold sweeps its range (from calibration); stars mark the calibrated thresholds.",
                "operating_curves",
                (curve, out / "operating_curves.png"),
                {
                    "chosen": chosen,
                    "budget": study.headline.quiet_alert_fraction,
                    "lead_h": study.criteria.lead_h,
                    "grace_h": scoring.grace_h,
                    "colors": colors,
                },
            )
        )
    planned.append(
        FigureJob(
            "lead_coverage.png",
            "Lead-time coverage W(h) at the shipped thresholds",
            "The detectors as shipped (the levels `tdbench monitor` alerts with), not matched in cost: W(h) "
            "= share of events warned at least h hours before onset, pooled over every scenario and seed; "
            "missed events count in the denominator, so W(-G) is the recall. Right: what that coverage "
            "costs, the share of quiet time each detector spends alerting and its FP rate (a detector that "
            "always alerts covers every event). The colours name the detectors there. The comparison at "
            "one false-alarm budget is the headline's coverage figure.",
            "lead_coverage",
            (events, out / "lead_coverage.png"),
            {
                "false_alarms": false_alarms(cells),
                "title": "Lead-time coverage W(h) at the shipped thresholds, all scenarios and seeds",
                **coverage_scales,
            },
        )
    )
    if len(overhead):
        planned.append(
            FigureJob(
                "overhead.png",
                "Overhead per health check",
                "Wall time of one update() call in the study's streaming replays: median over cells of "
                "each cell's p99, at the study's organisation size. (The cost against the number of "
                "units is `tdbench task=overhead`.)",
                "overhead",
                (None, overhead, out / "overhead.png"),
                {"limit_ms": study.criteria.overhead_ms, "colors": colors},
            )
        )
    relief = _relief(marks)
    if relief is not None:
        scenario, seed, relief_h = relief
        planned.append(
            FigureJob(
                "recovery.png",
                "Recovery",
                f"The `{scenario}` scenario after its overload ends. Left: each detector's score divided by "
                "its alert threshold (the dashed line in the timelines) in one run, with triangles where "
                "its alert ended. Right: reset time (hours from the breach's end to the end of the "
                "detector's last alert over it) of every utilization breach in every seed.",
                "recovery",
                (of_run(timeline, scenario, seed), out / "recovery.png"),
                {
                    "relief_h": relief_h,
                    "events": of_run(events, scenario, seed),
                    "thresholds": thresholds,
                    "reset_events": events[events["scenario"] == scenario],
                    "colors": colors,
                },
            )
        )
    return planned


def headline_order(headline: Headline | None) -> dict[str, Any]:
    """The timelines' panel order and headline thresholds: the headline's rows, in its order."""
    if headline is None:
        return {}
    table = headline.table
    return {
        "order": table["detector"].tolist(),
        "headline_thresholds": {
            row.detector: (float(row.threshold), bool(row.feasible)) for row in table.itertuples()
        },
    }


def headline_coverage(headline: Headline, out: Path, scales: dict[str, Any]) -> FigureJob:
    """W(h) at the headline's matched thresholds on its scored seeds (out of fold), beside their cost."""
    table = headline.table
    infeasible = table.loc[~table["feasible"].astype(bool), "detector"].tolist()
    test = headline.test_seeds
    seeds = f"seeds {test}" if len(test) <= 12 else f"{len(test)} seeds"
    return FigureJob(
        COVERAGE,
        "Lead-time coverage W(h) at the headline's thresholds",
        f"Each detector at its headline thresholds (every seed of {test} scored at the threshold chosen "
        "on the other folds): W(h) = share of events warned at least h hours before onset, pooled over "
        "the scenarios; missed events count in the denominator, so W(-G) is the share detected. Right, in "
        "the headline's order: the quiet-time alerting and FP rate that coverage costs on those seeds, "
        "beside the budget (dotted). Dashed lines and "
        "hatched bars: infeasible detectors, at their nearest point, not at the budget.",
        "lead_coverage",
        (headline.events, out / COVERAGE),
        {
            "false_alarms": table[["detector", "quiet_alert_fraction", "fp_rate"]],
            "title": f"Lead-time coverage W(h) at the headline's thresholds, {seeds}",
            "infeasible": infeasible,
            "budget": headline.spec.quiet_alert_fraction,
            **scales,
        },
    )


def score_labels(study: StudyConfig) -> dict[str, str]:
    """What each detector's score measures, with its unit (the class's ``score_label``)."""
    return {name: build(spec, f"detector.{name}").score_label for name, spec in study.detectors.items()}


def _relief(marks: pd.DataFrame) -> tuple[str, int, float] | None:
    """(scenario, seed, time) of the first stored run that marks a load removal."""
    rows = marks[marks["mark"] == "relief"]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return str(row["scenario"]), int(row["seed"]), float(row["time_h"])


def is_evaluation(study: StudyConfig) -> bool:
    """Whether the run scored historical data (``task=evaluate``) rather than simulations."""
    return any("data" in spec for spec in study.scenarios.values())


def timeline_caption(cells: pd.DataFrame, scenario: str, seed: int, evaluation: bool = False) -> str:
    if evaluation:
        return (
            "The historical data. Top: arrived work over nominal capacity (the observed load) and system "
            "utilization (trailing mean, the quantity behind utilization breaches); shaded: the labelled or "
            "derived critical periods. Below, per detector: its score, its alert threshold (dashed) and its "
            "alert episodes (shaded)."
        )
    mine = cells[cells["scenario"] == scenario]
    how = (
        "its most typical seed (event counts, episode counts and alert hours closest to the "
        "scenario's medians)"
        if representative_seed(mine) == seed and mine["seed"].nunique() > 1
        else "this seed"
    )
    return (
        f"One run of `{scenario}`, {how}. Top: offered load and system utilization (trailing mean, the "
        "quantity behind utilization breaches); shaded: critical periods of the ground truth. Below, per "
        "detector: its score, its alert threshold (dashed) and its alert episodes (shaded)."
    )


# -------------------------------------------------------------------------------------- markdown


def render_markdown(
    result: StudyResult, study: StudyConfig, figures: list[FigureJob], intro: str = ""
) -> str:
    """The whole report as markdown; deterministic given the run folder."""
    run_dir = result.run_dir
    cells = result.cells
    ok = int((cells["status"] == "ok").sum())
    label = demand_label(study)
    lines = [
        f"# tdbench report: {label}" if label else "# tdbench report",
        "",
        *([intro, ""] if intro else []),
        f"{len(study.scenarios)} scenario(s) x {len(study.seeds)} seed(s) x "
        f"{len(study.detectors)} detector(s) = {len(cells)} cells, {ok} ok, {len(cells) - ok} failed.",
        "",
        f"Scenarios: {', '.join(study.scenarios)}. Detectors: {', '.join(study.detectors)}. "
        f"Seeds: {_seed_text(study.seeds)}.",
        "",
        *identical_note(result, study),
        *stopping_section(run_dir),
    ]
    if result.headline_text:
        lines += ["## Headline", "", result.headline_text, ""]
    for figure in figures:
        if figure.file in HEADLINE_FIGURES:
            lines += _figure_lines(figure)
    lines += phase4_section(result.headline, study.stats)
    lines += tuning_section(run_dir)
    lines += ["## Scorecard as shipped", "", result.scorecard_text, ""]
    if result.matched_scorecard_text:
        lines += ["## Scorecard at the headline's thresholds", "", result.matched_scorecard_text, ""]
    summary = result.summary
    for target in TARGETS:
        lines += [
            f"## Detection: {target.replace('_', ' ')}",
            "",
            "Detected / scored events and median lead time (missed events ranked below every detected one, "
            "so 'missed' means at least half were missed).",
            "",
            pivot_table(summary, partial(_detection, target=target), list(study.scenarios)),
            "",
        ]
    lines += [
        "## False alarms",
        "",
        "False episodes / all episodes (FP rate), and false episodes per 1,000 quiet hours.",
        "",
        pivot_table(summary, _false_alarms, list(study.scenarios)),
        "",
        "## Reset time after utilization breaches",
        "",
        "Kaplan-Meier median hours from a breach's end to the end of the last alert over it (0: the alert "
        "ended first; an alert still on at the run's end is a censored value; 'not reached': fewer than "
        "half the resets are known to have ended by the longest time observed).",
        "",
        pivot_table(
            summary,
            lambda r: _hours(r.get("median_reset_h_utilization_breach", np.nan)),
            list(study.scenarios),
        ),
        "",
        "## Overhead",
        "",
        overhead_table(result.overhead),
        "",
        "## Figures",
        "",
    ]
    for figure in figures:
        if figure.file not in HEADLINE_FIGURES:
            lines += _figure_lines(figure)
    missing = missing_figures(run_dir, study, figures)
    if missing:
        lines += ["Not in this report: " + "; ".join(missing) + ".", ""]
    config = run_dir / "config.yaml"
    lines += ["## Configuration", ""]
    if config.exists():
        lines += ["```yaml", config.read_text().rstrip(), "```", ""]
    else:
        lines += ["(no config.yaml in the run folder)", ""]
    lines += ["## Environment of this report's build", "", environment_table(), ""]
    return "\n".join(lines)


def _figure_lines(figure: FigureJob) -> list[str]:
    lines = [f"### {figure.title}", "", figure.caption, ""]
    if figure.error:
        return [*lines, f"*Not drawn: {figure.error}*", ""]
    return [*lines, f"![{figure.title}]({FIGURES}/{figure.file})", ""]


def tuning_section(run_dir: Path) -> list[str]:
    """The stored tuning.md of a study with ``headline.tune=true``, if it has one."""
    path = run_dir / "tuning.md"
    if not path.is_file():
        return []
    return ["## Tuning", "", path.read_text().removeprefix("# Tuning\n").strip(), ""]


def stopping_section(run_dir: Path) -> list[str]:
    """Why a study with a stopping rule stopped (from stopping.csv), if it had one."""
    path = run_dir / STOPPING
    if not path.is_file():
        return []
    return ["## Stopping rule", "", stopping_text(pd.read_csv(path)), ""]


def identical_note(result: StudyResult, study: StudyConfig) -> list[str]:
    """A paragraph naming the detectors whose alerts are identical in every cell (if any)."""
    groups = identical_detectors(result.cells, result.episodes)
    if not groups:
        return []
    combos = {
        name for name, spec in study.detectors.items() if getattr(build(spec, name), "is_combination", False)
    }
    alerting = set(result.episodes["detector"]) if len(result.episodes) else set()
    parts = []
    for group in groups:
        text = " = ".join(f"`{name}`" for name in group)
        members = [name for name in group if name not in combos]
        if not alerting & set(group):
            text += " (none of them ever alerts)"
        elif members and combos & set(group):
            added = ", ".join(f"`{c}`" for c in group if c in combos)
            text += f" (the combination {added} adds nothing to `{members[0]}` here)"
        parts.append(text)
    return [
        "**Identical alerts.** These detectors raise the same alert episodes in every cell, so every "
        "number in this report is the same for them: " + "; ".join(parts) + ".",
        "",
    ]


def missing_figures(run_dir: Path, study: StudyConfig, figures: list[FigureJob]) -> list[str]:
    names = {f.file for f in figures}
    out = []
    if not any(n.startswith("timeline_") for n in names):
        out.append("timelines (no cell succeeded)")
    if "operating_curves.png" not in names:
        out.append(f"operating curves (calibration did not run: no {OPERATING_CURVE})")
    if "recovery.png" not in names:
        out.append("recovery (no scenario with a load removal in the timelines)")
    return out


def of_run(frame: pd.DataFrame, scenario: str, seed: int) -> pd.DataFrame:
    """The rows of ``frame`` from one run: ``scenario`` at ``seed``."""
    return frame[(frame["scenario"] == scenario) & (frame["seed"] == seed)]


def pivot_table(summary: pd.DataFrame, cell: Callable[[pd.Series], str], order: list[str]) -> str:
    """Scenarios as rows (in ``order``, ALL last), detectors as columns, ``cell(row)`` in each."""
    if summary.empty:
        return "(no results)"
    detectors = sorted(summary["detector"].unique())
    present = set(summary["scenario"])
    scenarios = [s for s in order if s in present] + [ALL]
    index = summary.set_index(["scenario", "detector"])
    rows = []
    for scenario in scenarios:
        row = [f"**{scenario}**" if scenario == ALL else scenario]
        for detector in detectors:
            key = (scenario, detector)
            row.append(cell(index.loc[key]) if key in index.index else "n/a")
        rows.append(row)
    return markdown_table(["scenario", *detectors], rows)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table.

    >>> print(markdown_table(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _hours(x: float) -> str:
    if x == -np.inf:
        return "missed"
    if x == np.inf:
        return "not reached"
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2f} h"


def _detection(row: pd.Series, target: str) -> str:
    n = row.get(f"events_{target}", 0)
    if not n or not np.isfinite(n):
        return "no events"
    found = int(round(row.get(f"recall_{target}", 0.0) * n))
    return f"{found}/{int(n)} · {_hours(row.get(f'median_lead_h_{target}', np.nan))}"


def _false_alarms(row: pd.Series) -> str:
    episodes = int(row.get("episodes", 0))
    if not episodes:
        return "no alerts"
    per_1000 = row.get("false_per_1000_quiet_h", np.nan)
    rate = "n/a" if not np.isfinite(per_1000) else f"{per_1000:.1f}"
    return f"{row['fp_rate']:.1%} of {episodes} · {rate}"


def overhead_table(overhead: pd.DataFrame) -> str:
    """Per detector: the study's per-update cost."""
    if overhead.empty or "wall_p99_ms" not in overhead:
        return "(no overhead measured)"
    header = ["detector", "units", "cells timed", "p50 (ms)", "p99 (ms)", "max (ms)"]
    rows = []
    for detector, mine in overhead.groupby("detector", sort=True):
        rows.append(
            [
                detector,
                ",".join(str(n) for n in sorted(mine["n_units"].unique())),
                str(len(mine)),
                f"{mine['wall_p50_ms'].median():.3f}",
                f"{mine['wall_p99_ms'].median():.3f}",
                f"{mine['wall_max_ms'].max():.3f}",
            ]
        )
    note = (
        "Timed on a sample of the study's cells (overhead.sample: the cells of one seed in round(1 / "
        "sample), the first seed always), each a streaming replay of update() whose readings must equal "
        "the detector's batch run(), which scores every cell. Median over the timed cells of each "
        "replay's p50 and p99, and the largest single update. The cost against the number of units: "
        "`tdbench task=overhead`."
    )
    return markdown_table(header, rows) + "\n\n" + note


def environment_table() -> str:
    rows = [["python", platform.python_version()], ["platform", platform.platform()]]
    for name in PACKAGES:
        try:
            rows.append([name, metadata.version(name)])
        except metadata.PackageNotFoundError:
            rows.append([name, "not installed"])
    rows.append(["tdbench code version", code_version()])
    rows.append(["simulation model version", str(MODEL_VERSION)])
    return markdown_table(["package", "version"], rows)


def _seed_text(seeds: tuple[int, ...]) -> str:
    if seeds and list(seeds) == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))
