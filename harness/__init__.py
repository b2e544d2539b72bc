"""Orchestration: CLI, study runner, scoring, calibration, statistics, results (DESIGN section 1)."""
