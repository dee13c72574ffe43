"""Run folders (``runs/<name>/``): :mod:`~nas.runs.writer` writes them (:class:`RunFolder`, the only writer) and
:mod:`~nas.runs.reader` reads them back (:func:`load_run`, :class:`Run`, :class:`Individual`).

This package imports neither the engine nor the data package at import time: the engine imports it, not the other way.
"""
from __future__ import annotations

from .reader import BEST_MODEL, FINAL_MODEL, Individual, Run, load_run
from .writer import RunFolder, config_differences, default_run_dir, latest_attempts, list_runs, read_config, read_jsonl

__all__ = ["RunFolder", "Run", "Individual", "load_run", "list_runs", "read_config", "read_jsonl", "latest_attempts",
           "config_differences", "default_run_dir", "FINAL_MODEL", "BEST_MODEL"]
