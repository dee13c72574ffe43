"""Run folders (``runs/<name>/``): :mod:`~nas.runs.writer` writes them (:class:`RunFolder`, the only writer) and
:mod:`~nas.runs.reader` reads them back (:func:`load_run`, :class:`Run`, :class:`Individual`).

This package never imports the engine (the engine imports it); the reader loads the data package only when asked for
a run's data set.
"""
from __future__ import annotations

from .reader import BEST_MODEL, FINAL_MODEL, Individual, Run, load_run
from .writer import RunFolder, config_differences, latest_attempts, list_runs, read_config, read_jsonl

__all__ = ["RunFolder", "Run", "Individual", "load_run", "list_runs", "read_config", "read_jsonl", "latest_attempts",
           "config_differences", "FINAL_MODEL", "BEST_MODEL"]
