"""Genetic operators as pure functions of their inputs and an explicit ``random.Random``: selection, variation and
the diversity measure. No operator touches the global ``random``, so a search is reproducible from its seed and the
checkpointed generator state."""
from __future__ import annotations

import copy
import random
import statistics
from dataclasses import dataclass, field
from typing import Callable, Sequence

from deap import tools

from ..objectives import Fitness
from ..space import SearchSpace
from .config import Settings


def lineage(operator: str, parents: Sequence["Member"] = (), genome: dict | None = None) -> dict:
    """The lineage keys of an evaluation record: ``parents`` (genome hashes, first parent first), ``operator`` (what
    made the genome) and ``changed`` (gene -> [first parent's value, value] for the genes that differ from the first
    parent; {} without a parent)."""
    first = parents[0].genome if parents else None
    changed = {} if first is None or genome is None else {
        name: [first.get(name), value] for name, value in genome.items() if first.get(name) != value}
    return {"parents": [p.hash for p in parents], "operator": operator, "changed": changed}


def founder(position: int, given: int) -> dict:
    """The lineage of the ``position``-th genome of the first generation: the first ``given`` came from ``initial=``
    ("seeded"), the others were sampled at random ("initial")."""
    return lineage("seeded" if position < given else "initial")


def operator_name(crossed: bool, mutated: bool) -> str:
    """"crossover", "mutation", "crossover+mutation", or "copy" (a parent's genome that neither operator changed,
    only repaired)."""
    return "+".join(name for name, used in (("crossover", crossed), ("mutation", mutated)) if used) or "copy"


@dataclass
class Member:
    """One genome of a population, its fitness, the evaluation record that gave it, and its lineage (see
    :func:`lineage`; what a new evaluation of it records)."""

    genome: dict
    hash: str
    fitness: Fitness
    record: dict | None = None
    lineage: dict = field(default_factory=lambda: lineage("initial"))

    def ranking(self) -> tuple:
        """Sort key of a scored member: its weighted fitness, then the earlier evaluation first."""
        return self.fitness.wvalues, -(self.record["index"] if self.record else 0)

    def copy(self) -> "Member":
        """An independent copy (the genome dict and the fitness are copied, the record is shared)."""
        return Member(dict(self.genome), self.hash, copy.deepcopy(self.fitness), self.record, self.lineage)


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
         admit: Admit) -> list[tuple[dict, dict]]:
    """Children of consecutive parent pairs, each with its :func:`lineage`: crossover with ``crossover_prob``, then
    mutation of each child with ``mutation_prob``; ``admit`` repairs each child and makes it new (its hash is added
    to ``taken``). A child it rejects (over the budget, or already taken) is replaced by a fresh mutation of its
    first parent, which the budget admitted, rather than mutated further: a walk from an oversized child can stay
    over ``max_params`` for all of admission's tries. Such a child's lineage is a mutation of that parent."""
    children = []
    for i in range(0, len(parents), 2):
        pair = (parents[i], parents[(i + 1) % len(parents)])
        a, b = pair[0].genome, pair[1].genome
        crossed = rng.random() < settings.crossover_prob
        if crossed:
            a, b = space.crossover(a, b, rng, linked=settings.linked)
        for child, lineal in ((a, pair), (b, pair[::-1]))[: len(parents) - i]:
            mutated = rng.random() < settings.mutation_prob
            if mutated:
                child = space.mutate(child, rng)
            child, restarted = admit_child(child, lineal[0].genome, space, rng, taken, admit)
            taken.add(space.hash(child))
            kept = crossed and not restarted
            children.append((child, lineage(operator_name(kept, mutated or restarted), lineal if kept else lineal[:1],
                                            child)))
    return children


def admit_child(child: dict, parent: dict, space: SearchSpace, rng: random.Random, taken: set[str],
                admit: Admit) -> tuple[dict, bool]:
    """``child`` through ``admit``, whose alternatives are fresh mutations of ``parent``; and whether one was needed."""
    restarted = []

    def fresh(_: dict) -> dict:
        restarted.append(True)
        return space.mutate(parent, rng)

    return admit(child, taken, fresh, "child"), bool(restarted)


def immigrants(first: int, count: int, share: float) -> int:
    """How many of the bred genomes numbered ``first`` to ``first + count - 1`` (counted from the first genome bred
    after the first generation) are random immigrants: ``share`` of them, spread evenly (with 0.25, every fourth),
    so the count depends on the numbering alone and a resumed search draws the same ones."""
    return int((first + count) * share) - int(first * share)


def aging_child(population: Sequence[Member], space: SearchSpace, settings: Settings, multi: bool,
                rng: random.Random) -> tuple[dict, list[Member]]:
    """Regularized evolution's child: a sampled winner, crossed with a second winner with ``crossover_prob``, and
    always mutated (not yet repaired); returned with its parents (the crossed-in winner second)."""
    parents = [sample_winner(population, settings.tournament_size, multi, rng)]
    genome = parents[0].genome
    if rng.random() < settings.crossover_prob:
        parents.append(sample_winner(population, settings.tournament_size, multi, rng))
        genome, _ = space.crossover(genome, parents[1].genome, rng, linked=settings.linked)
    return space.mutate(genome, rng), parents


def diversity(population: list[Member]) -> dict[str, float]:
    """Share of distinct architectures, and the mean share of genes two members differ in."""
    unique = len({m.hash for m in population}) / len(population)
    pairs = [(a, b) for i, a in enumerate(population) for b in population[i + 1:]]
    if not pairs:
        return {"unique": unique, "gene_distance": 0.0}
    distance = statistics.fmean(sum(a.genome.get(k) != b.genome.get(k) for k in a.genome) / max(1, len(a.genome))
                                for a, b in pairs)
    return {"unique": round(unique, 4), "gene_distance": round(distance, 4)}
