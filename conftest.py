"""Doctests of modules that need an optional extra are collected only when it is installed."""

import importlib.util

collect_ignore = (
    [] if importlib.util.find_spec("river") else ["detectors/tuner.py", "detectors/transport_online.py"]
)
