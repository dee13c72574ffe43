"""The generational genetic algorithm: evaluate a whole generation, then breed the next. One objective: tournament
selection with elitism; several: NSGA-II."""
from __future__ import annotations

from deap import tools

from .dispatch import Dispatcher
from .operators import Member, nsga2_parents, tournament, vary
from .state import SearchState
from .strategy import Strategy


class Generational(Strategy):
    """Evaluate ``population`` genomes per generation; the next generation comes from the evaluated one."""

    name = "generational"

    def run(self, state: SearchState, initial: list[dict], resume: bool) -> None:
        """Run the generations, from the last checkpoint when resuming."""
        start, population = state.restore() if resume else (0, None)
        best = state.best_record()
        if best is not None and best["fitness"][0] is not None:
            state.reporter.best = best["fitness"][0]
        state.reporter.start(state.folder.path, state.space, state.data, state.objectives.parsed, state.size,
                             state.generations, start)
        if population is None:
            genomes = state.admission.initial(initial, state.size, state.seen, state.rng)
            population = [state.member(g) for g in genomes]
            counts = self.evaluate(state, population, 0)
            state.hall.update(population)
            state.finish_generation(0, population, counts)
            start = 1
        for generation in range(start, state.generations):
            population = self.next_generation(state, population, generation)
        state.reporter.finish(state.best_record())

    @staticmethod
    def evaluate(state: SearchState, members: list[Member], generation: int) -> dict[str, int]:
        """Evaluate a whole generation; returns its counts (evaluated, cached, failed, resumed)."""
        dispatcher = Dispatcher(state, [r for i, r in sorted(state.logged.items())
                                        if i in range(state.next_index, state.next_index + len(members))])
        for member in members:
            dispatcher.submit(member, generation)
        state.reporter.batch(generation, state.generations, len(dispatcher.training))
        while dispatcher:
            dispatcher.next()
        return dispatcher.counts

    def next_generation(self, state: SearchState, population: list[Member], generation: int) -> list[Member]:
        """Breed, evaluate and select one generation."""
        settings, rng = state.settings, state.rng
        if state.objectives.multi:
            parents = nsga2_parents(population, state.size, rng)
        else:
            # Elites are the best found before this generation; taken after its evaluation, an elite could be one of
            # this generation's own offspring and fill two places.
            elites = [m.copy() for m in state.hall[: settings.elitism]]
            parents = [tournament(population, settings.tournament_size, rng)
                       for _ in range(state.size - settings.elitism)]
        offspring = [state.member(g) for g in vary(parents, state.space, settings, rng, set(state.seen),
                                                   state.admission.admit)]
        counts = self.evaluate(state, offspring, generation)
        state.hall.update(offspring)
        population = tools.selNSGA2(population + offspring, state.size) if state.objectives.multi \
            else elites + offspring
        state.finish_generation(generation, population, counts)
        return population
