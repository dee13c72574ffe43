"""The generational genetic algorithm: evaluate a whole generation, then breed the next. One objective: tournament
selection with elitism; several: NSGA-II."""
from __future__ import annotations

import time

from deap import tools

from ..fidelity import Fidelity
from .dispatch import Dispatcher
from .operators import Member, founder, immigrants, nsga2_parents, tournament, vary
from .state import Rung, SearchState, rung_rank
from .strategy import Strategy


class Generational(Strategy):
    """Evaluate ``population`` genomes per generation; the next generation comes from the evaluated one."""

    name = "generational"

    def run(self, state: SearchState, initial: list[dict], resume: bool) -> None:
        """Run the generations, from the last checkpoint when resuming."""
        start, population = state.restore() if resume else (0, None)
        best = state.best_record()
        if best is not None:
            state.reporter.offer(best, state.objectives.parsed[0][1])
        state.reporter.start(state.folder.path, state.space, state.data, state.objectives.parsed, state.size,
                             state.generations, start)
        if population is None:
            genomes = state.admission.initial(initial, state.size, state.seen, state.rng)
            population = [state.member(g, lineage=founder(i, len(initial))) for i, g in enumerate(genomes)]
            began = time.perf_counter()
            counts = self.evaluate(state, population, 0)
            state.hall.update(population)
            state.finish_generation(0, population, counts)
            state.pace.generations.append(time.perf_counter() - began)
            start = 1
        for generation in range(start, state.generations):
            if state.out_of_time(state.pace.generation()):  # a generation expected to end past the limit
                break
            began = time.perf_counter()
            population = self.next_generation(state, population, generation)
            state.pace.generations.append(time.perf_counter() - began)

    @staticmethod
    def evaluate(state: SearchState, members: list[Member], generation: int) -> dict[str, int]:
        """Evaluate a whole generation (with fidelity: successive halving, rung by rung); returns its counts
        (evaluated, cached, failed, resumed)."""
        dispatcher = Dispatcher(state, [r for i, r in sorted(state.logged.items()) if i >= state.next_index])
        for member in members:
            dispatcher.submit(member, generation)
        state.reporter.batch(generation, state.generations, len(dispatcher.training))
        while dispatcher:
            dispatcher.next()
        if state.fidelity is not None:
            for number in range(1, state.fidelity.top + 1):
                Generational.promote(state, state.fidelity, dispatcher, members, number, generation)
            state.folder.delete_training_states()  # no later promotion continues from them
        return dispatcher.counts

    @staticmethod
    def promote(state: SearchState, fidelity: Fidelity, dispatcher: Dispatcher, members: list[Member], number: int,
                generation: int) -> None:
        """Successive halving's step to rung ``number``: the best ``1/eta`` of this generation's genomes measured at
        the rung below (ties: the earlier evaluation) continue training to this rung."""
        below: dict[str, Member] = {}
        below_records: dict[str, dict] = {}
        for member in members:
            if member.record is not None and rung_rank(member.record) == number - 1:
                below.setdefault(member.hash, member)
                below_records.setdefault(member.hash, member.record)
        ranked = sorted(below.values(), key=Member.ranking, reverse=True)
        chosen = ranked[:fidelity.promoted(len(ranked))]
        if not chosen:
            return
        for member in chosen:
            dispatcher.submit(member, generation, Rung(number, below_records[member.hash]))
        state.reporter.promotion(number, fidelity.rungs[number], len(chosen), len(ranked))
        while dispatcher:
            _, promoted, record = dispatcher.next()
            for twin in members:  # the same genome elsewhere in the generation gets the higher rung too
                if twin.hash == promoted.hash and twin is not promoted:
                    state.apply(twin, record)

    def next_generation(self, state: SearchState, population: list[Member], generation: int) -> list[Member]:
        """Breed, evaluate and select one generation."""
        settings, rng = state.settings, state.rng
        bred = state.size if state.objectives.multi else state.size - settings.elitism
        arrivals = immigrants((generation - 1) * bred, bred, settings.immigrants)
        if state.objectives.multi:
            parents = nsga2_parents(population, bred - arrivals, rng)
        else:
            # Elites are the best found before this generation; taken after its evaluation, an elite could be one of
            # this generation's own offspring and fill two places.
            elites = [m.copy() for m in state.hall[: settings.elitism]]
            parents = [tournament(population, settings.tournament_size, rng) for _ in range(bred - arrivals)]
        taken = set(state.seen)
        offspring = [state.member(g, lineage=lineal) for g, lineal in vary(parents, state.space, settings, rng, taken,
                                                                            state.admission.admit)]
        offspring += [state.immigrant(taken) for _ in range(arrivals)]
        counts = self.evaluate(state, offspring, generation)
        state.hall.update(offspring)
        population = tools.selNSGA2(population + offspring, state.size) if state.objectives.multi \
            else elites + offspring
        state.finish_generation(generation, population, counts)
        return population
