"""Aging (regularized) evolution, Real et al. 2019: whenever an evaluation returns, a child of a tournament sample
of the current population is submitted and the oldest member retires, so the executor is never idle.

Completions are handled in the order they are logged, so a resumed run replays the log (no training) through the
same decisions and goes on exactly where the interrupted one stopped. With fidelity, a free slot first goes to a
promotion by the ASHA rule (:mod:`nas.engine.asha`); a genome joins the population when its lowest rung is
measured, and its later rungs update its fitness in place.
"""
from __future__ import annotations

from collections import deque

from .asha import Promotions
from .dispatch import Dispatcher, fresh_counts
from .operators import Member, admit_child, aging_child, founder, immigrants, lineage, operator_name
from .state import Rung, SearchState
from .strategy import Strategy


class Aging(Strategy):
    """Asynchronous regularized evolution: ``population * generations`` evaluations, a generation record every
    ``population`` of them. With one evaluation in flight it is deterministic; with several, the order of
    completions (and so the search) depends on timing, and the number in flight is part of the run."""

    name = "aging"

    def in_flight(self, capacity: int, total: int) -> int | None:
        """As many evaluations as the executor runs at once (at most the whole search)."""
        return min(capacity, total)

    def run(self, state: SearchState, initial: list[dict], resume: bool) -> None:
        """Run the search to ``population * generations`` evaluations, replaying the log first when resuming."""
        replay = self._restore(state) if resume else []
        state.logged = {r["index"]: r for r in replay}
        for record in replay:  # the progress lines' best includes what the run measured before
            state.reporter.offer(record, state.objectives.parsed[0][1])
        total = state.size * state.generations
        limit = state.config.in_flight or 1
        state.reporter.start(state.folder.path, state.space, state.data, state.objectives.parsed, state.size,
                             state.generations, len(replay) // state.size)
        seeds = state.admission.initial(initial, state.size, state.seen, state.rng)
        population: deque[Member] = deque()
        dispatcher = Dispatcher(state, replay)
        promotions = Promotions(state, state.fidelity) if state.fidelity else None
        submitted = seeded = done = 0

        def fill() -> None:  # children need a population to come from; until then only the seeds (and promotions)
            nonlocal submitted, seeded
            while submitted < total and len(dispatcher) < limit and not state.out_of_time():
                promotion = promotions.next() if promotions else None
                if promotion is None and seeded == len(seeds) and not population:
                    return
                rung, promoted = (promotion[1], promotion[0].hash) if promotion is not None else (Rung(), None)
                if not (state.evaluation_fits(rung.number, promoted) and state.charge(rung)):
                    return  # past the time limit or the epoch budget: the search ends with the evaluations in flight
                if promotion is not None and promotions is not None:
                    promotions.take(promotion)
                    dispatcher.submit(promotion[0], done // state.size, promotion[1])
                else:
                    member = (state.member(seeds[seeded], lineage=founder(seeded, len(initial)))
                              if seeded < len(seeds) else self._child(state, population, seeded - len(seeds)))
                    seeded += 1
                    dispatcher.submit(member, done // state.size)
                submitted += 1

        fill()
        state.reporter.batch(0, state.generations, min(total, state.size))
        while done < total and (dispatcher or not (state.out_of_time() or state.budget_spent)):
            _, member, record = dispatcher.next()
            if promotions is not None:
                promotions.finished(member, record)
            if record.get("rung", 0) == 0:  # a new genome joins the population
                population.append(member)
                if len(population) > state.size:
                    population.popleft()  # the oldest retires, however good it was
            state.rank_in_hall(member)
            done += 1
            fill()
            if done % state.size == 0:
                state.finish_generation(done // state.size - 1, list(population), dispatcher.counts,
                                        [entry[0] for entry in dispatcher.in_flight.values()])
                dispatcher.counts = fresh_counts()
                if done < total and (dispatcher or not state.budget_spent):
                    state.reporter.batch(done // state.size, state.generations, state.size)
        self._close(state, done, total, population, dispatcher)

    @staticmethod
    def _close(state: SearchState, done: int, total: int, population: deque[Member], dispatcher: Dispatcher) -> None:
        """The end of the search: a partial generation record if the epoch budget ended it inside a generation,
        and the training states deleted unless the time limit stopped it (its resumption continues from them)."""
        if state.budget_spent and done % state.size:
            state.finish_generation(done // state.size, list(population), dispatcher.counts)
        if done == total or state.budget_spent:
            if state.budget_spent:
                state.reporter.note(f"epoch budget spent: {state.epochs_charged} of {state.config.epoch_budget} "
                                    f"epochs in {done} evaluations")
            state.folder.delete_training_states()

    @staticmethod
    def _restore(state: SearchState) -> list[dict]:
        """The log to replay: first attempts, as the search saw them. Evaluations trained again by
        ``retry_failed`` change no decision taken before; they serve the cache and compete for the best."""
        records = state.read_log()
        for record in records:
            if record.get("attempt", 1) > 1:
                state.cache[record["genome_hash"]] = record
                state.hall.update([state.member(record["genome"], record)])
        return [r for r in records if r.get("attempt", 1) == 1]

    @staticmethod
    def _child(state: SearchState, population: deque[Member], number: int) -> Member:
        """The ``number``-th bred genome (from 0): a child of the population, or a random immigrant."""
        if immigrants(number, 1, state.settings.immigrants):
            return state.immigrant(set(state.seen))
        genome, parents = aging_child(population, state.space, state.settings, state.objectives.multi, state.rng)
        genome, restarted = admit_child(genome, parents[0].genome, state.space, state.rng, set(state.seen),
                                        state.admission.admit)
        kept = parents if not restarted else parents[:1]
        return state.member(genome, lineage=lineage(operator_name(len(kept) > 1, True), kept, genome))
