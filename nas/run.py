"""Alias of :mod:`nas.runs.reader` (reading a run folder back), kept for existing imports."""
from __future__ import annotations

from .runs.reader import BEST_MODEL, FINAL_MODEL, Individual, Run, load_run

__all__ = ["Run", "Individual", "load_run", "FINAL_MODEL", "BEST_MODEL"]
