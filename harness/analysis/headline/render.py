"""headline.md: the answer in one sentence, the ranked table, the scenarios, and the pairs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.analysis.headline.inference import FAMILY_ALPHA
from harness.analysis.headline.spec import HeadlineSpec
from harness.analysis.statistics import StatisticsSpec

ANSWERED = 4  # detectors named in the answer sentence


def percent(x: float, digits: int = 0) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def hours(x: float) -> str:
    if x == -np.inf:
        return "missed"
    if x == np.inf:
        return "not reached"
    return "n/a" if not np.isfinite(x) else f"{x:.1f} h"


def number(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.2f}"


def with_ci(row: Mapping, name: str, fmt) -> str:
    value, lo, hi = row.get(name, np.nan), row.get(f"{name}_lo", np.nan), row.get(f"{name}_hi", np.nan)
    text = fmt(value)
    if not (pd.isna(lo) or pd.isna(hi)):
        text += f" [{fmt(lo).removesuffix('%').removesuffix(' h')}, {fmt(hi)}]"
    return text


def flags(row: Mapping) -> list[str]:
    out = []
    if row.get("circular"):
        out.append("circular")
    if row.get("over_budget_test"):
        out.append("over budget on the scored seeds")
    return out


def named(row: Mapping) -> str:
    tags = flags(row)
    return f"{row['detector']} ({', '.join(tags)})" if tags else str(row["detector"])


def answer(table: pd.DataFrame, pairs: pd.DataFrame, spec: HeadlineSpec) -> str:
    """The first line: who warns ahead most at the budget, and whether the seeds decide it."""
    head = f"At {spec.label}, {spec.warned_label} (macro over scenarios, every seed out of fold)"
    ranked = table[table["rank"].notna()]
    if ranked.empty:
        return f"{head}: no detector has a threshold within the budget."
    top = ranked.head(ANSWERED).to_dict("records")
    listed = ", ".join(f"{named(r)} {with_ci(r, 'warned', percent)}" for r in top)
    names = {r["detector"] for r in top}
    decided = pairs[pairs["warned_p_holm"] < FAMILY_ALPHA] if len(pairs) else pairs
    among = (
        decided[decided["detector"].isin(names) & decided["reference"].isin(names)]
        if len(decided)
        else decided
    )
    if not len(among):
        verdict = f"no pair among them is decided on warned at family-wise {FAMILY_ALPHA:.0%}"
    else:
        said = [
            f"{r['detector']} {'ahead of' if r['warned_diff'] > 0 else 'behind'} {r['reference']}"
            for r in among.to_dict("records")
        ]
        verdict = f"decided at family-wise {FAMILY_ALPHA:.0%}: " + "; ".join(said)
    return f"{head}: {listed}; {verdict}."


def render_headline(headline, stats: StatisticsSpec) -> str:
    """headline.md's body (``headline``: a Headline)."""
    spec = headline.spec
    folds = headline.folds
    if len(folds) == 1:
        how = (
            f"Thresholds chosen on calibration seeds {list(folds[0].calibration)}; every number is measured "
            f"on test seeds {list(folds[0].test)}."
        )
    else:
        how = (
            f"Cross-fitted over {len(folds)} folds of seeds: each fold's threshold is chosen on the other "
            f"folds and scored on the fold's own seeds, so every seed ({headline.test_seeds}) is reported "
            "once, never at a threshold it helped choose."
        )
    if spec.folds > len(folds) > 1:
        how += f" (headline.folds={spec.folds}, but there are only {len(folds)} seeds: one fold per seed.)"
    lines = [
        headline.answer,
        "",
        f"Every detector at the same false-alarm budget: {spec.label}. {how} Brackets: "
        f"{stats.confidence:.0%} intervals over seeds (the seed is the unit).",
        "",
        f"| rank | detector | flags | warned >= {spec.min_lead_h:g} h | pooled | before onset | detected "
        "| median lead | W(8 h) | unit_saturation warned | quiet alerting | false / quiet week "
        "| budget use (scored seeds) | ARL0 (null controls) | FP rate | partial AUC "
        "| threshold (deploy; folds) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in headline.table.to_dict("records"):
        place = "–" if pd.isna(r["rank"]) else str(int(r["rank"]))
        if not np.isfinite(r["threshold"]):
            threshold = "none (no score)"
        else:
            threshold = (
                f"{r['threshold']:.4g}; {r['threshold_fold_median']:.4g} "
                f"[{r['threshold_fold_min']:.4g}, {r['threshold_fold_max']:.4g}]"
            )
            if not r["feasible"]:
                threshold = f"infeasible; nearest {threshold} (budget x{r['budget_use']:.3g})"
        arl = (
            with_ci(r, "arl0_h", hours)
            if np.isfinite(r.get("arl0_h", np.nan))
            else (
                f"> {r.get('arl0_exposure_h', np.nan):.0f} h (no false alarm)"
                if r.get("arl0_exposure_h", 0) > 0
                else "n/a"
            )
        )
        lines.append(
            f"| {place} | {r['detector']} | {', '.join(flags(r)) or '–'} | {with_ci(r, 'warned', percent)} "
            f"| {percent(r.get('warned_pooled', np.nan))} | {with_ci(r, 'before_onset', percent)} "
            f"| {with_ci(r, 'detected', percent)} | {with_ci(r, 'median_lead_h', hours)} "
            f"| {with_ci(r, 'lead_coverage_8h', percent)} | {with_ci(r, 'warned_unit_saturation', percent)} "
            f"| {with_ci(r, 'quiet_alert_fraction', lambda x: percent(x, 2))} "
            f"| {with_ci(r, 'false_per_quiet_week', number)} | {with_ci(r, 'budget_use_test', number)} "
            f"| {arl} | {with_ci(r, 'fp_rate', percent)} | {with_ci(r, 'partial_auc', number)} "
            f"| {threshold} |"
        )
    lines += [
        "",
        f"Warned: share of {spec.target} events alerted at least {spec.min_lead_h:g} h before onset, the "
        "mean over scenarios of each scenario's share (scenarios weigh equally; 'pooled': over events). "
        "Before onset: alerted ahead at all. Detected: any alert up to the grace period late. Ranked by "
        "warned, then median lead (misses below every detection); infeasible detectors (no threshold within "
        "the budget in some fold; shown at their nearest point) are not ranked. Budget use: max(quiet "
        f"alerting / {spec.quiet_alert_fraction:g}, false per quiet week / {spec.false_per_quiet_week:g}) "
        "on the seeds scored; over 1 is flagged. ARL0: quiet hours to the first false alarm on null-control "
        "runs (steady, diurnal), exposure over alarms. Circular: the detector's score is the target's own "
        "defining quantity, so the unit_saturation column is the fairer test. Threshold: the one the rule "
        "chooses on all seeds (what to deploy; it scores nothing), then the folds' median [range]. Partial "
        f"AUC: mean warned share over quiet-alerting budgets 0..{spec.partial_auc_to:.0%} (all seeds, "
        "threshold-free, bootstrap interval).",
    ]
    lines += infeasible_text(headline)
    lines += ["", *scenario_table(headline.scenarios, headline.table)]
    if len(headline.pairs):
        lines += [
            "",
            f"Paired by seed (same events; each unordered pair once; Holm over all {2 * len(headline.pairs)} "
            "p-values of the family):",
            "",
            *[f"- {s}" for s in headline.pairs["sentence"]],
        ]
    absent = [r for r in spec.references if r not in set(headline.pairs.get("reference", []))]
    if absent:
        lines += [
            "",
            "No pairs against " + ", ".join(absent) + " (not in this study, or infeasible at this budget; "
            "infeasible detectors are not paired: their nearest point is not at the matched budget).",
        ]
    return "\n".join(lines)


def infeasible_text(headline) -> list[str]:
    """Why detectors are infeasible: how much quiet time and how many target events the seeds that
    choose a fold's threshold hold, what the budget allows in them, and what would make it reachable."""
    table, spec = headline.table, headline.spec
    out = table[~table["feasible"].astype(bool)]
    if out.empty or headline.cells.empty:
        return []
    runs = headline.cells.drop_duplicates(["scenario", "seed"])
    share = 1.0 - 1.0 / len(headline.folds) if len(headline.folds) > 1 else 1.0  # of the seeds, per fold
    quiet_h = share * float(runs["quiet_h"].sum())
    events = share * float(runs[f"n_events_{spec.target}"].sum())
    nearest = ", ".join(f"{r['detector']} (x{r['budget_use']:.3g})" for r in out.to_dict("records"))
    return [
        "",
        f"Infeasible at this budget: {nearest} of the budget at their nearest thresholds. The seeds that "
        f"choose a fold's threshold hold about {quiet_h:.0f} quiet hours and {events:.0f} {spec.target} "
        f"events; the budget allows {spec.quiet_alert_fraction * quiet_h:.1f} alert-hours and "
        f"{spec.false_per_quiet_week * quiet_h / 168:.2f} false episodes in them. More seeds or longer runs "
        "give the budget more quiet time to spend (one false episode needs "
        f"{168 / spec.false_per_quiet_week if spec.false_per_quiet_week else float('inf'):.0f} quiet hours); "
        "or set a budget the data can resolve (headline.budget).",
    ]


def scenario_table(scenarios: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Markdown: warned per scenario (rows) and detector (columns, in rank order)."""
    if scenarios.empty:
        return []
    order = [d for d in table["detector"] if d in set(scenarios["detector"])]
    wide = scenarios.pivot(index="scenario", columns="detector", values="warned")[order]
    events = scenarios.groupby("scenario")["events"].max()
    chance = scenarios.groupby("scenario")["chance_breaches"].max()
    lines = [
        "Warned by scenario (share of the scenario's events, all seeds out of fold; null controls' events "
        "are chance breaches):",
        "",
        "| scenario | events | " + " | ".join(order) + " |",
        "|---|---|" + "---|" * len(order),
    ]
    for scenario, row in wide.iterrows():
        label = f"{scenario} (chance breaches)" if chance[scenario] else str(scenario)
        lines.append(
            f"| {label} | {int(events[scenario])} | " + " | ".join(percent(row[d]) for d in order) + " |"
        )
    return lines
