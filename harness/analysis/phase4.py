"""The roadmap's gate for phase 4 (DESIGN section 12): does the online tuner add value over the
transport detector it extends, at the headline's matched false-alarm budget?

Both detectors run at their headline thresholds (out of fold); the answer is the headline's paired
comparison of the two (harness.analysis.headline.inference): ``warned`` and the median lead, paired
by seed, Holm-adjusted within the headline's family when the pair is in it (alone otherwise). Phase
4 adds value when a difference is decided in its favour and none against it.
"""

from __future__ import annotations

from harness.analysis.headline import Headline
from harness.analysis.headline.inference import FAMILY_ALPHA, oriented, pair_table
from harness.analysis.statistics import StatisticsSpec

ONLINE = "transport_online"
REFERENCE = "transport"
TITLE = "Does phase 4 add value?"


def phase4_pair(headline: Headline, stats: StatisticsSpec) -> dict | None:
    """The pair transport_online - transport (the headline's row of it when it has one), or None
    when either is not in the study or has no threshold within the budget."""
    table = headline.table.set_index("detector")
    if not {ONLINE, REFERENCE} <= set(table.index):
        return None
    if not (bool(table.loc[ONLINE, "feasible"]) and bool(table.loc[REFERENCE, "feasible"])):
        return None
    mine = oriented(headline.pairs, ONLINE, REFERENCE)
    if mine is not None:
        return mine
    inputs = {name: headline.pair_inputs[name] for name in (ONLINE, REFERENCE)}
    alone = pair_table([ONLINE], inputs, headline.spec.model_copy(update={"references": (REFERENCE,)}), stats)
    return alone.to_dict("records")[0]


def verdict(row: dict) -> str:
    """Yes, no or undecided, from the pair's Holm-adjusted p-values and the signs of its differences."""
    decided = [row["warned_p_holm"] < FAMILY_ALPHA, row["lead_p_holm"] < FAMILY_ALPHA]
    signs = [row["warned_diff"] > 0, row["lead_diff_h"] > 0]
    better = [d and s for d, s in zip(decided, signs, strict=True)]
    worse = [d and not s for d, s in zip(decided, signs, strict=True)]
    if any(better) and not any(worse):
        return "yes: the online forecast " + " and ".join(
            w for w, b in zip(("warns ahead of more events", "warns earlier"), better, strict=True) if b
        )
    if any(worse) and not any(better):
        return "no: the online forecast " + " and ".join(
            w for w, b in zip(("warns ahead of fewer events", "warns later"), worse, strict=True) if b
        )
    if any(better) and any(worse):
        return "mixed: it gains on one measure and loses on the other"
    return f"not shown: the seeds do not distinguish it from transport at family-wise {FAMILY_ALPHA:.0%}"


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
        f"thresholds ({spec.label}, out of fold), paired by seed on the same {spec.target} events of seeds "
        f"{headline.test_seeds}. Brackets: {stats.confidence:.0%} intervals over seeds.",
        "",
    ]
    row = phase4_pair(headline, stats)
    if row is None:
        table = headline.table.set_index("detector")
        infeasible = [d for d in (ONLINE, REFERENCE) if not bool(table.loc[d, "feasible"])]
        answers: dict[tuple[str, ...], str] = {
            (ONLINE,): f"no: only {REFERENCE} meets the budget",
            (REFERENCE,): f"yes at this budget: only {ONLINE} meets it",
        }
        answer = answers.get(tuple(infeasible), "not shown: neither meets the budget")
        return [
            *lines,
            f"No paired comparison: {' and '.join(infeasible)} has no threshold within the budget in "
            f"some fold. Answer: {answer}.",
            "",
        ]
    counts = f"{row['events']} {spec.target} events on {len(headline.test_seeds)} seeds"
    sentence = row["sentence"].removesuffix(".")
    return [*lines, f"- {sentence} ({counts}).", "", f"Answer: {verdict(row)}.", ""]
