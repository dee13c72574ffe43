"""Former home of the evolution loop, kept so that ``from nas.evolution import evolve`` goes on working; the engine
lives in :mod:`nas.engine`."""
from __future__ import annotations

from .engine import Terminated, evolve, parse_objectives, resume

__all__ = ["evolve", "resume", "parse_objectives", "Terminated"]
