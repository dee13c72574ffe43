"""The interface of a search algorithm. A strategy decides which genomes to evaluate and what to keep; the shared
:class:`~nas.engine.state.SearchState` logs, caches, checkpoints and restores, and the
:class:`~nas.engine.dispatch.Dispatcher` trains each genome once.

A strategy sees every completion before it decides anything, so schedules that act on partial results (promotion
between rungs of a multi-fidelity search, early stopping) belong in a strategy, not in the shared loop.
"""
from __future__ import annotations

import abc

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
