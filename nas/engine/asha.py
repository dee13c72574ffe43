"""Asynchronous promotion for aging evolution with fidelity (the ASHA rule, Li et al. 2020): whenever a slot is
free, a genome measured at rung ``k`` continues to rung ``k + 1`` if it is among the best ``1/eta`` of all genomes
measured at rung ``k`` so far and has not continued yet; otherwise a new child is trained. No worker ever waits for
a rung to fill up, and the promotions are a function of the completions in log order, so a resume replays them.
"""
from __future__ import annotations

from ..fidelity import Fidelity
from .operators import Member
from .state import Rung, SearchState, rung_rank


class Promotions:
    """The genomes measured at each rung and those already promoted from it."""

    def __init__(self, state: SearchState, fidelity: Fidelity) -> None:
        self.state, self.fidelity = state, fidelity
        self.measured: list[dict[str, tuple[Member, dict]]] = [{} for _ in fidelity.rungs]
        self.promoted: list[set[str]] = [set() for _ in fidelity.rungs]

    def finished(self, member: Member, record: dict) -> None:
        """Note a completion: a genome measured at its rung (failed evaluations are measured at none)."""
        rung = rung_rank(record)
        if rung >= 0:
            self.measured[rung].setdefault(member.hash, (member, record))

    def _key(self, entry: tuple[Member, dict]) -> tuple:
        record = entry[1]
        weights = self.state.objectives.weights
        return tuple(w * v for w, v in zip(weights, self.state.objectives.values(record))), -record["index"]

    def next(self) -> tuple[Member, Rung] | None:
        """The promotion due now (the highest rung first), or None: then a new genome is due. It counts as started
        only once :meth:`take` is called."""
        for rung in reversed(range(self.fidelity.top)):
            measured = self.measured[rung]
            best = sorted(measured.values(), key=self._key, reverse=True)[:len(measured) // self.fidelity.eta]
            for member, record in best:
                if member.hash not in self.promoted[rung]:
                    return member, Rung(rung + 1, record)
        return None

    def take(self, promotion: tuple[Member, Rung]) -> None:
        """Note that ``promotion`` (from :meth:`next`) has started."""
        member, rung = promotion
        self.promoted[rung.number - 1].add(member.hash)
