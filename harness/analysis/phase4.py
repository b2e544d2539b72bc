"""The roadmap's gate for phase 4 (DESIGN section 12): does the online tuner add value over the
transport detector it extends, at the headline's matched false-alarm budget?

Both detectors run at their headline thresholds (chosen on the calibration seeds); the answer is
the headline's paired difference (``harness.analysis.headline.paired``) on the test seeds: recall
of the target events and lead time over the events both detect, each with its bootstrap CI over
seeds. Phase 4 adds value when an interval excludes zero in its favour and none against it.
"""

from __future__ import annotations

from harness.analysis.headline import Headline, pair_sentence, paired
from harness.analysis.statistics import StatisticsSpec

ONLINE = "transport_online"
REFERENCE = "transport"
TITLE = "Does phase 4 add value?"


def phase4_pair(headline: Headline, stats: StatisticsSpec) -> dict | None:
    """The paired difference transport_online - transport on the test seeds (the headline's row of
    it when it has one), or None when either is not in the study or has no threshold within the
    budget."""
    table = headline.table.set_index("detector")
    if not {ONLINE, REFERENCE} <= set(table.index):
        return None
    if not (bool(table.loc[ONLINE, "feasible"]) and bool(table.loc[REFERENCE, "feasible"])):
        return None
    pairs = headline.pairs
    if len(pairs):  # the headline's own pair, when transport is one of its references
        mine = pairs[(pairs["detector"] == ONLINE) & (pairs["reference"] == REFERENCE)]
        if len(mine):
            return mine.drop(columns="sentence").to_dict("records")[0]
    return paired(headline.events, ONLINE, REFERENCE, headline.test_seeds, headline.spec, stats)


def verdict(row: dict) -> str:
    """Yes, no or undecided, from the intervals of the recall and lead differences."""
    better = [row["recall_diff_lo"] > 0, row["lead_diff_h_lo"] > 0]
    worse = [row["recall_diff_hi"] < 0, row["lead_diff_h_hi"] < 0]
    if any(better) and not any(worse):
        return "yes: the online forecast " + " and ".join(
            w for w, b in zip(("detects more events", "warns earlier"), better, strict=True) if b
        )
    if any(worse) and not any(better):
        return "no: the online forecast " + " and ".join(
            w for w, b in zip(("detects fewer events", "warns later"), worse, strict=True) if b
        )
    if any(better) and any(worse):
        return "mixed: it gains on one measure and loses on the other"
    return "not shown: the test seeds do not distinguish it from transport"


def phase4_section(headline: Headline | None, stats: StatisticsSpec) -> list[str]:
    """Markdown lines of the report's section, or [] when the study lacks either detector."""
    if headline is None or not {ONLINE, REFERENCE} <= set(headline.table["detector"]):
        return []
    spec = headline.spec
    lines = [
        f"## {TITLE}",
        "",
        f"The roadmap's gate (\"only implement if phases 1-3 prove value\"): `{ONLINE}` (transport's Pe "
        f"forecast one horizon ahead by the online tuner) against `{REFERENCE}`, both at their headline "
        f"thresholds ({spec.label}, chosen on calibration seeds {headline.calibration_seeds}), paired by "
        f"{spec.target} event on test seeds {headline.test_seeds}. Brackets: {stats.label}.",
        "",
    ]
    row = phase4_pair(headline, stats)
    if row is None:
        table = headline.table.set_index("detector")
        infeasible = [d for d in (ONLINE, REFERENCE) if not bool(table.loc[d, "feasible"])]
        answer = {
            (ONLINE,): f"no: only {REFERENCE} meets the budget",
            (REFERENCE,): f"yes at this budget: only {ONLINE} meets it",
        }.get(tuple(infeasible), "not shown: neither meets the budget")
        return [
            *lines,
            f"No paired comparison: {' and '.join(infeasible)} has no threshold within the budget on the "
            f"calibration seeds. Answer: {answer}.",
            "",
        ]
    counts = (
        f"{row['events']} {spec.target} events on {len(headline.test_seeds)} test seeds, "
        f"{row['both_detected']} detected by both"
    )
    sentence = pair_sentence(row, spec).removesuffix(".")
    return [*lines, f"- {sentence} ({counts}).", "", f"Answer: {verdict(row)}.", ""]
