"""How long the next piece of work is expected to take, so that a search with a time limit starts nothing that would
end past it (``evolve(timeout=)``): an evaluation at a rung takes about what the run's finished evaluations at that
rung took; a rung with none yet is priced from the rung below by the training images its epochs add; a promotion
is scaled by the genome's own speed at the rung below; a generation takes about what this session's generations
took."""
from __future__ import annotations

import statistics
from typing import Iterable

from ..fidelity import Fidelity
from ..training import Budget


def _trained(record: dict) -> bool:
    return record.get("status") == "ok" and not record.get("error") and not record.get("replicate")


class Pace:
    """Expected seconds of the evaluations and generations of one search, from the ones it has finished."""

    def __init__(self, fidelity: Fidelity | None, budget: Budget, train_size: int) -> None:
        self.fidelity, self.budget, self.train_size = fidelity, budget, train_size
        self.generations: list[float] = []  # seconds of each generation run in this session

    def image_epochs(self, rung: int) -> int:
        """The training images an evaluation at ``rung`` goes through: the epochs it adds to the rung below, each
        on that epoch's images (``Budget.train_samples``)."""
        if self.fidelity is None:
            first, last = 0, self.budget.epochs
        else:
            first, last = (self.fidelity.rungs[rung - 1] if rung else 0), self.fidelity.rungs[rung]
        return sum(min(self.budget.train_samples(e) or self.train_size, self.train_size) for e in range(first, last))

    def evaluation(self, records: Iterable[dict], rung: int, genome_hash: str | None = None) -> float:
        """Seconds an evaluation at ``rung`` is expected to take: the mean over the finished evaluations at that
        rung; with none, the rung below's mean per training image times this rung's images; 0 when nothing at or
        below the rung has finished. For the promotion of ``genome_hash`` measured at the rung below, its own speed
        there counts (:meth:`_promotion`): genomes differ in cost far more than rungs do."""
        trained = [r for r in records if _trained(r)]
        own = self._promotion(trained, rung, genome_hash) if genome_hash is not None and rung else None
        if own is not None:
            return own
        for below in range(rung, -1, -1):
            seconds = [r["seconds"] for r in trained if r.get("rung", 0) == below and r.get("seconds") is not None]
            if seconds:
                return statistics.fmean(seconds) * self.image_epochs(rung) / self.image_epochs(below)
        return 0.0

    def _promotion(self, trained: list[dict], rung: int, genome_hash: str) -> float | None:
        """Seconds the promotion of ``genome_hash`` to ``rung`` is expected to take: each finished evaluation at
        ``rung`` scaled by how long this genome took at the rung below against how long that one's genome did (a
        genome twice as fast below is expected twice as fast above); with none at ``rung``, its own seconds below
        per training image times this rung's images; None when the genome was not measured below."""
        below = {r["genome_hash"]: r["seconds"] for r in trained if r.get("rung", 0) == rung - 1 and r.get("seconds")}
        own = below.get(genome_hash)
        if own is None:
            return None
        scaled = [r["seconds"] * own / below[r["genome_hash"]] for r in trained
                  if r.get("rung", 0) == rung and r.get("seconds") is not None and r["genome_hash"] in below]
        return statistics.fmean(scaled) if scaled else own * self.image_epochs(rung) / self.image_epochs(rung - 1)

    def generation(self) -> float:
        """Seconds a generation is expected to take: the mean of this session's generations (0 before the first)."""
        return statistics.fmean(self.generations) if self.generations else 0.0
