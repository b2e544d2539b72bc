"""The headline (DESIGN section 5, "Headline"): who warns first, at one false-alarm budget.

Modules: ``spec`` (the settings and the budget), ``folds`` (selection and cross-fitting over seeds),
``metrics`` (one detector's numbers out of fold), ``inference`` (pairs and multiplicity), ``amoc``
(the threshold-free view), ``render`` (headline.md and the first line), ``build`` (all of it).
Everything is a pure function of Runs (``{detector: {(scenario, seed): Run}}``).
"""

from harness.analysis.headline.build import Headline, build_headline
from harness.analysis.headline.folds import Fold, budget_rule, make_folds
from harness.analysis.headline.render import render_headline
from harness.analysis.headline.spec import HeadlineSpec

__all__ = [
    "Fold",
    "Headline",
    "HeadlineSpec",
    "budget_rule",
    "build_headline",
    "make_folds",
    "render_headline",
]
