"""Alias of :mod:`nas.objectives` (shared by the engine and the run reader), kept for existing imports."""
from __future__ import annotations

from ..objectives import WORST, Fitness, Objectives, parse_objectives

__all__ = ["WORST", "Fitness", "Objectives", "parse_objectives"]
