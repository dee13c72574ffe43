"""Genetic operators as pure functions of their inputs and an explicit ``random.Random``: selection, variation and
the diversity measure. No operator touches the global ``random``, so a search is reproducible from its seed and the
checkpointed generator state."""
from __future__ import annotations

import copy
import random
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

from deap import tools

from ..objectives import Fitness
from ..space import SearchSpace
from .config import Settings


@dataclass
class Member:
    """One genome of a population, its fitness and the evaluation record that gave it."""

    genome: dict
    hash: str
    fitness: Fitness
    record: dict | None = None

    def ranking(self) -> tuple:
        """Sort key of a scored member: its weighted fitness, then the earlier evaluation first."""
        return self.fitness.wvalues, -(self.record["index"] if self.record else 0)

    def copy(self) -> "Member":
        """An independent copy (the genome dict and the fitness are copied, the record is shared)."""
        return Member(dict(self.genome), self.hash, copy.deepcopy(self.fitness), self.record)


def same(a: Member, b: Member) -> bool:
    """Two members are the same architecture (DEAP's ``similar`` for halls of fame)."""
    return a.hash == b.hash


def tournament(population: Sequence[Member], size: int, rng: random.Random) -> Member:
    """The best of ``size`` members drawn with replacement."""
    contestants = [rng.choice(population) for _ in range(size)]
    return max(contestants, key=lambda m: m.fitness.wvalues)


def nsga2_parents(population: list[Member], k: int, rng: random.Random) -> list[Member]:
    """``k`` parents by binary tournaments on (Pareto rank, crowding distance), ties broken by ``rng``."""
    rank: dict[int, int] = {}
    for number, front in enumerate(tools.sortNondominated(population, len(population))):
        tools.emo.assignCrowdingDist(front)
        for member in front:
            rank[id(member)] = number

    def better(a: Member, b: Member) -> Member:
        key_a = (-rank[id(a)], a.fitness.crowding_dist)
        key_b = (-rank[id(b)], b.fitness.crowding_dist)
        if key_a == key_b:
            return a if rng.random() < 0.5 else b
        return a if key_a > key_b else b

    return [better(rng.choice(population), rng.choice(population)) for _ in range(k)]


def sample_winner(population: Sequence[Member], size: int, multi: bool, rng: random.Random) -> Member:
    """Aging evolution's parent: the best of a ``size`` sample; with several objectives, the first sample member no
    other sample member dominates."""
    sample = [rng.choice(population) for _ in range(size)]
    if not multi:
        return max(sample, key=lambda m: m.fitness.wvalues)
    return next(m for m in sample if not any(o.fitness.dominates(m.fitness) for o in sample))


Admit = Callable[[dict, set, Callable[[dict], dict], str], dict]


def vary(parents: list[Member], space: SearchSpace, settings: Settings, rng: random.Random, taken: set[str],
         admit: Admit) -> list[dict]:
    """Children of consecutive parent pairs: crossover with ``crossover_prob``, then mutation of each child with
    ``mutation_prob``; ``admit`` repairs each child and makes it new (its hash is added to ``taken``)."""
    children = []
    for i in range(0, len(parents), 2):
        a = parents[i].genome
        b = parents[(i + 1) % len(parents)].genome
        if rng.random() < settings.crossover_prob:
            a, b = space.crossover(a, b, rng)
        for child in (a, b)[: len(parents) - i]:
            if rng.random() < settings.mutation_prob:
                child = space.mutate(child, rng)
            child = admit(child, taken, lambda g: space.mutate(g, rng), "child")
            taken.add(space.hash(child))
            children.append(child)
    return children


def aging_child(population: Sequence[Member], space: SearchSpace, settings: Settings, multi: bool,
                rng: random.Random) -> dict:
    """Regularized evolution's child: a sampled winner, crossed with a second winner with ``crossover_prob``, and
    always mutated (not yet repaired)."""
    genome = sample_winner(population, settings.tournament_size, multi, rng).genome
    if rng.random() < settings.crossover_prob:
        genome, _ = space.crossover(genome, sample_winner(population, settings.tournament_size, multi, rng).genome,
                                    rng)
    return space.mutate(genome, rng)


def diversity(population: list[Member]) -> dict[str, float]:
    """Share of distinct architectures, and the mean share of genes two members differ in."""
    unique = len({m.hash for m in population}) / len(population)
    pairs = [(a, b) for i, a in enumerate(population) for b in population[i + 1:]]
    if not pairs:
        return {"unique": unique, "gene_distance": 0.0}
    distance = statistics.fmean(sum(a.genome.get(k) != b.genome.get(k) for k in a.genome) / max(1, len(a.genome))
                                for a, b in pairs)
    return {"unique": round(unique, 4), "gene_distance": round(distance, 4)}
