"""Alias of :mod:`nas.runs.writer` (writing a run folder), kept for existing imports; ``now`` is
:func:`nas.clock.now` and ``dumps``/``write_atomic`` are in :mod:`nas.files`."""
from __future__ import annotations

from .clock import now
from .files import dumps, write_atomic
from .runs import RunFolder, config_differences, latest_attempts, list_runs, read_config, read_jsonl
from .runs.writer import CHECKPOINT, CONFIG, EVALUATIONS, GENERATIONS, PREVIOUS_CHECKPOINT, default_run_dir

__all__ = ["RunFolder", "config_differences", "list_runs", "read_config", "read_jsonl", "latest_attempts",
           "default_run_dir", "now", "dumps", "write_atomic", "CONFIG", "EVALUATIONS", "GENERATIONS", "CHECKPOINT",
           "PREVIOUS_CHECKPOINT"]
