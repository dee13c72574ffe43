"""The interface of a search algorithm. A strategy decides which genomes to evaluate and what to keep; the shared
:class:`~nas.engine.state.SearchState` logs, caches, checkpoints and restores, and the
:class:`~nas.engine.dispatch.Dispatcher` trains each genome once.

A strategy sees every completion before it decides anything, so schedules that act on partial results (promotion
between rungs of a multi-fidelity search, early stopping) belong in a strategy, not in the shared loop.
"""
from __future__ import annotations

import abc

from ..errors import ConfigError
from .state import SearchState


class Strategy(abc.ABC):
    """A search algorithm; ``name`` is what ``config.json`` records as ``algorithm``."""

    name: str = ""

    def in_flight(self, capacity: int, total: int) -> int | None:
        """How many evaluations this strategy keeps in flight on an executor of ``capacity`` slots, when that number
        changes the search (then it is recorded in ``config.json`` so a resume is exact); None when it does not."""
        return None

    @abc.abstractmethod
    def run(self, state: SearchState, initial: list[dict], resume: bool) -> None:
        """Run (or, with ``resume``, continue) the search on ``state`` until it has done its generations."""


def strategies() -> dict[str, type[Strategy]]:
    """The built-in strategies by name."""
    from .aging import Aging
    from .generational import Generational

    return {"generational": Generational, "aging": Aging}


def resolve_strategy(algorithm: "str | Strategy") -> Strategy:
    """A strategy object from itself or its name ("generational", "aging")."""
    if isinstance(algorithm, Strategy):
        return algorithm
    known = strategies()
    if algorithm not in known:
        raise ConfigError(f"algorithm must be one of {', '.join(known)} or a nas.engine.Strategy, got {algorithm!r}")
    return known[algorithm]()
