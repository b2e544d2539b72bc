"""The evaluation figures, one function per figure, all in one style (PNG via matplotlib's Agg).

Each function takes tables of a run folder (pandas frames), writes one PNG and returns its path.
"""

from harness.report.figures.amoc import amoc
from harness.report.figures.coverage import lead_coverage
from harness.report.figures.lead_times import lead_times
from harness.report.figures.operating_curve import operating_curves
from harness.report.figures.overhead import overhead
from harness.report.figures.ranking import ranking
from harness.report.figures.recovery import recovery
from harness.report.figures.timeline import timeline

__all__ = [
    "amoc",
    "lead_coverage",
    "lead_times",
    "operating_curves",
    "overhead",
    "ranking",
    "recovery",
    "timeline",
]
