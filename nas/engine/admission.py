"""Which genomes may be trained: repaired to fit the input, within ``Budget.max_params`` and ``Budget.max_flops``,
and new to the run."""
from __future__ import annotations

import random
from typing import Callable, Iterable

from ..errors import ConfigError, InvalidGenomeError
from ..space import SearchSpace
from ..training import Budget

#: tries at making a valid, new genome before giving up
TRIES = 100


class Admission:
    """Repairs genomes and rejects those over the budget, with the parameter and FLOP counts of each architecture
    memoised."""

    def __init__(self, space: SearchSpace, input_shape: tuple, num_classes: int, budget: Budget) -> None:
        self.space, self.input_shape, self.num_classes, self.budget = space, tuple(input_shape), num_classes, budget
        self._counts: dict[tuple[str, str], int] = {}

    def _count(self, what: str, genome: dict) -> int:
        """``space.count_params`` (``what`` "params") or ``space.count_flops`` ("flops") of ``genome``, memoised."""
        key = (what, self.space.hash(genome))
        if key not in self._counts:
            count = self.space.count_params if what == "params" else self.space.count_flops
            self._counts[key] = count(genome, self.input_shape, self.num_classes)
        return self._counts[key]

    def problem(self, genome: dict) -> str | None:
        """Why ``genome`` cannot be trained within the budget, or None."""
        limits = (("params", "parameters", self.budget.max_params), ("flops", "FLOPs", self.budget.max_flops))
        for what, unit, limit in limits:
            if limit is None:
                continue
            try:
                count = self._count(what, genome)
            except Exception as error:  # noqa: BLE001 - an unbuildable genome is just rejected
                return f"cannot be built: {type(error).__name__}: {error}"
            if count > limit:
                return f"{count:,} {unit} > max_{what}"
        return None

    def admit(self, genome: dict, taken: set[str], fresh: Callable[[dict], dict], what: str) -> dict:
        """Repair ``genome`` and make it new (not evaluated, not already taken); ``fresh`` proposes alternatives."""
        reason = "?"
        candidate = genome
        for _ in range(TRIES):
            try:
                candidate = self.space.repair(candidate, self.input_shape)
                reason = self.problem(candidate)
                if reason is None and self.space.hash(candidate) not in taken:
                    return candidate
                reason = reason or "already evaluated"
            except InvalidGenomeError as error:
                reason = str(error)
            candidate = fresh(candidate)
        if reason == "already evaluated":
            return candidate  # a small space can run out of new genomes: the cache serves the repeat
        raise ConfigError(f"could not make a valid {what} genome of space {self.space.name!r} at input shape "
                          f"{self.input_shape} in {TRIES} tries; last problem: {reason}")

    def initial(self, initial: Iterable[dict], size: int, seen: set[str], rng: random.Random) -> list[dict]:
        """The first generation: the given genomes (checked and repaired), then random ones, all distinct."""
        initial = list(initial)
        if len(initial) > size:
            raise ConfigError(f"{len(initial)} initial genomes for a population of {size}")
        taken = set(seen)
        genomes = []
        for genome in initial:
            self.space.check(genome)
            genome = self.admit(genome, set(), lambda g: self.space.mutate(g, rng), "initial")
            genomes.append(genome)
            taken.add(self.space.hash(genome))
        while len(genomes) < size:
            genome = self.random(taken, rng)
            genomes.append(genome)
            taken.add(self.space.hash(genome))
        return genomes

    def random(self, taken: set[str], rng: random.Random) -> dict:
        """A random genome within the budget and new to ``taken`` (not added to it)."""
        return self.admit(self.space.sample(rng), taken, lambda g: self.space.sample(rng), "random")
