"""The search engine, on DEAP: a generational genetic algorithm (tournament + elitism for one objective, NSGA-II for
several) or asynchronous aging evolution (regularized evolution, Real et al. 2019) that keeps every worker busy.

Modules, one job each:

* :mod:`~nas.engine.api`: ``evolve`` and ``resume`` (arguments -> :class:`SearchConfig` -> a strategy on a state);
* :mod:`~nas.engine.config`: the frozen :class:`SearchConfig` recorded in ``config.json`` and reloaded whole;
* :mod:`~nas.engine.state`: the shared search state (log and cache, records, hall of fame, generation records,
  checkpoint, restore, retrying machinery failures); :mod:`~nas.engine.dispatch`: dispatch with deduplication and
  replay of the log on resume;
* :mod:`~nas.engine.strategy`, :mod:`~nas.engine.generational`, :mod:`~nas.engine.aging`: the algorithms;
* :mod:`~nas.engine.operators`: selection and variation as pure functions of an explicit ``random.Random``;
  :mod:`~nas.engine.admission`: repair and the parameter budget; fitness comes from :mod:`nas.objectives` (shared
  with the run reader, so the reader never imports the engine).

What the design keeps on purpose: plain-dict genomes are the only thing that crosses processes; no DEAP ``creator``
globals; one ``random.Random(seed)`` drives every choice and is checkpointed; each genome trains with a seed derived
from (run seed, genome hash), never from scheduling order; the evaluation log is fsynced and append-only, and doubles
as the cache.
"""
from __future__ import annotations

from ..objectives import Fitness, Objectives, parse_objectives
from .aging import Aging
from .api import evolve, resume
from .config import SearchConfig, Settings
from .generational import Generational
from .algorithms import STRATEGIES, resolve_strategy
from .signals import Terminated
from .strategy import Strategy

__all__ = ["evolve", "resume", "SearchConfig", "Settings", "Strategy", "Generational", "Aging", "Objectives",
           "Fitness", "parse_objectives", "Terminated", "resolve_strategy", "STRATEGIES"]
