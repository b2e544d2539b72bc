"""The evaluation figures, one function per figure, all in one style (PNG via matplotlib's Agg).

Each function takes tables of a run folder (pandas frames), writes one PNG and returns its path.
"""

from harness.plots.coverage import lead_coverage
from harness.plots.lead_times import lead_times
from harness.plots.operating_curve import operating_curves
from harness.plots.overhead import overhead
from harness.plots.recovery import recovery
from harness.plots.style import palette
from harness.plots.timeline import timeline

__all__ = ["lead_coverage", "lead_times", "operating_curves", "overhead", "palette", "recovery", "timeline"]
