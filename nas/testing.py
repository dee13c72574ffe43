"""Reusable checks for code that plugs into nas: your own executor or your own search space.

An executor: subclass :class:`ExecutorContract` in a test module (name the subclass ``Test...`` so pytest collects
it) and return a fresh executor from ``make_executor()``::

    from nas.testing import ExecutorContract

    class TestMyExecutor(ExecutorContract):
        def make_executor(self):
            return MyExecutor()

A search space: call :func:`check_space` in a test, e.g. ``check_space(my_space, (32, 32, 3), 7)``.

Neither needs pytest at import time (the checks are plain asserts), and neither trains a model: executors are run
with :func:`nas.training.simulate` as the fitness, and spaces are only built.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from .errors import InvalidGenomeError
from .executors.base import Executor, Job, registered
from .flops import model_flops
from .space import Choice, SearchSpace, genome_hash
from .training import Budget, simulate

#: The space of the executor contract: three genes, no build function (the contract's fitness builds nothing).
CONTRACT_SPACE = SearchSpace("contract", [Choice("units", [4, 8, 16, 32]), Choice("mode", ["ok", "fail"])],
                             build=None)
CONTRACT_GENOMES = [{"units": units, "mode": "ok"} for units in (4, 8, 16)]


def failing_fitness(genome: dict, *, space: Any, data: Any, budget: Budget, seed: int,
                    genome_hash: str | None = None) -> dict:
    """:func:`nas.training.simulate`, except that a genome whose ``mode`` is "fail" comes back as the ``failed``
    outcome :func:`nas.training.evaluate` returns when a genome's training raises."""
    outcome = simulate(genome, space=space, data=data, budget=budget, seed=seed, genome_hash=genome_hash)
    if genome.get("mode") == "fail":
        outcome.update(status="failed", failure="genome", metrics={},
                       error="RuntimeError: this genome is scripted to fail")
    return outcome


class ExecutorContract:
    """What the engine relies on from every executor, as test methods. Subclasses implement :meth:`make_executor`;
    each test starts, uses and closes one executor on a job whose fitness is :func:`nas.training.simulate` (or
    :func:`failing_fitness`), so an executor that runs the job's fitness where it likes (another process, a cluster)
    must be able to import ``nas``."""

    def make_executor(self) -> Executor:
        """A fresh executor, not started, using the job's fitness (no ``evaluate`` of its own)."""
        raise NotImplementedError("subclasses of ExecutorContract return their executor from make_executor()")

    def make_job(self, evaluate: Any = simulate) -> Job:
        """The job every contract test starts the executor with; data is not read by the contract's fitness."""
        return Job(CONTRACT_SPACE, None, Budget(), seed=0, evaluate=evaluate)

    def _run(self, genomes: list[dict], evaluate: Any = simulate) -> tuple[Executor, dict[int, dict], list[int]]:
        """Submit ``genomes`` as tasks 0, 1, ...; collect every result, noting ``pending`` after each."""
        executor = self.make_executor()
        try:
            executor.start(self.make_job(evaluate))
            for task_id, genome in enumerate(genomes):
                executor.submit(task_id, genome, CONTRACT_SPACE.hash(genome))
            counts = [executor.pending]
            results = {}
            for _ in genomes:
                task_id, outcome = executor.next_result()
                assert task_id not in results, f"task {task_id} came back twice"
                results[task_id] = outcome
                counts.append(executor.pending)
        finally:
            executor.close()
        return executor, results, counts

    def test_results_come_back_for_every_task(self) -> None:
        """Every submitted task id comes back once, with the fitness's outcome."""
        _, results, _ = self._run(CONTRACT_GENOMES)
        assert sorted(results) == list(range(len(CONTRACT_GENOMES)))
        for task_id, outcome in results.items():
            genome = CONTRACT_GENOMES[task_id]
            expected = simulate(genome, space=CONTRACT_SPACE, data=None, budget=Budget(), seed=0,
                                genome_hash=CONTRACT_SPACE.hash(genome))
            assert outcome["status"] == "ok" and outcome["metrics"] == expected["metrics"], outcome

    def test_pending_counts_down(self) -> None:
        """``pending`` is the number submitted, then one less after each result."""
        _, _, counts = self._run(CONTRACT_GENOMES)
        assert counts == list(range(len(CONTRACT_GENOMES), -1, -1))

    def test_next_result_with_nothing_submitted_is_an_error(self) -> None:
        """Asking for a result with nothing pending raises RuntimeError instead of waiting forever."""
        executor = self.make_executor()
        try:
            executor.start(self.make_job())
            try:
                executor.next_result()
            except RuntimeError:
                return
            raise AssertionError("next_result() with nothing submitted returned instead of raising RuntimeError")
        finally:
            executor.close()

    def test_cancel_returns_the_pending_task_ids(self) -> None:
        """``cancel()`` drops every pending task and returns its id; nothing is pending afterwards."""
        executor = self.make_executor()
        try:
            executor.start(self.make_job())
            for task_id, genome in enumerate(CONTRACT_GENOMES):
                executor.submit(task_id, genome, CONTRACT_SPACE.hash(genome))
            assert sorted(executor.cancel()) == list(range(len(CONTRACT_GENOMES)))
            assert executor.pending == 0
        finally:
            executor.close()

    def test_a_failing_fitness_is_a_failed_outcome(self) -> None:
        """A genome whose evaluation fails comes back as a ``failed`` outcome (with its error), not an exception,
        and the other tasks still succeed."""
        genomes = [CONTRACT_GENOMES[0], {"units": 8, "mode": "fail"}, CONTRACT_GENOMES[2]]
        _, results, _ = self._run(genomes, evaluate=failing_fitness)
        assert [results[i]["status"] for i in range(3)] == ["ok", "failed", "ok"], results
        assert results[1]["error"] == "RuntimeError: this genome is scripted to fail"

    def test_describe_round_trips_through_the_registry(self) -> None:
        """``describe()`` is JSON, names a registered executor, and rebuilds an equal one."""
        executor = self.make_executor()
        described = executor.describe()
        assert json.loads(json.dumps(described)) == described
        assert isinstance(executor, registered(described["name"]))
        rebuilt = Executor.from_description(described)
        assert type(rebuilt) is type(executor) and rebuilt.describe() == described

    def test_capacity_is_at_least_one(self) -> None:
        """A started executor runs at least one evaluation at a time."""
        executor = self.make_executor()
        try:
            executor.start(self.make_job())
            assert isinstance(executor.capacity, int) and executor.capacity >= 1
        finally:
            executor.close()


def check_space(space: SearchSpace, input_shape: Sequence[int], num_classes: int, samples: int = 10,
                seed: int = 0) -> dict:
    """Check a search space on ``samples`` random genomes at ``input_shape``; an AssertionError names what failed.

    For each genome (repaired for ``input_shape``): it is a point of the space, repairing it again changes nothing,
    it survives JSON with the same hash, it builds a model with ``num_classes`` outputs whose parameter count equals
    ``space.count_params`` and whose :func:`nas.flops.model_flops` equals ``space.count_flops`` (when the space
    counts them itself), a mutation changes at least one expressed gene, and
    crossing it with the previous genome gives children that are points of the space and can be repaired. Returns
    ``{"genomes": checked, "skipped": samples the space could not repair, "params": [per genome]}``.
    """
    import keras

    rng = random.Random(seed)
    checked: list[dict] = []
    params: list[int] = []
    skipped = 0
    for _ in range(samples):
        try:
            genome = space.repair(space.sample(rng), input_shape)
        except InvalidGenomeError:  # no repair at this input size: the engine samples again
            skipped += 1
            continue
        _check_genome(space, genome, input_shape)
        params.append(_check_model(space, genome, input_shape, num_classes))
        keras.backend.clear_session()
        _check_mutation(space, genome, rng)
        if checked:
            _check_crossover(space, checked[-1], genome, input_shape, rng)
        checked.append(genome)
    assert checked, f"space {space.name!r}: none of {samples} sampled genomes could be repaired for {input_shape}"
    return {"genomes": len(checked), "skipped": skipped, "params": params}


def _check_genome(space: SearchSpace, genome: dict, input_shape: Sequence[int]) -> None:
    space.check(genome)
    assert space.repair(genome, input_shape) == genome, f"space {space.name!r}: repair is not idempotent on {genome}"
    restored = json.loads(json.dumps(genome))
    assert restored == genome, f"space {space.name!r}: {genome} does not survive JSON ({restored})"
    assert space.hash(restored) == space.hash(genome) == genome_hash(space.expressed(genome))


def _check_model(space: SearchSpace, genome: dict, input_shape: Sequence[int], num_classes: int) -> int:
    model = space.build(genome, input_shape, num_classes)
    assert tuple(model.output_shape) == (None, num_classes), (
        f"space {space.name!r}: the model of {genome} outputs {model.output_shape}, expected (None, {num_classes})")
    built = int(model.count_params())
    if space._count_params is not None:  # the space's own count must match what Keras builds
        counted = space.count_params(genome, input_shape, num_classes)
        assert counted == built, f"space {space.name!r}: count_params says {counted}, Keras {built}, for {genome}"
    if space._count_flops is not None:  # and so must its FLOP count
        flops, walked = space.count_flops(genome, input_shape, num_classes), model_flops(model)
        assert flops == walked, f"space {space.name!r}: count_flops says {flops}, model_flops {walked}, for {genome}"
    return built


def _check_mutation(space: SearchSpace, genome: dict, rng: random.Random) -> None:
    child = space.mutate(genome, rng)
    space.check(child)
    assert any(child[name] != genome[name] for name in space.expressed(genome)), (
        f"space {space.name!r}: mutating {genome} changed no expressed gene")


def _check_crossover(space: SearchSpace, a: dict, b: dict, input_shape: Sequence[int], rng: random.Random) -> None:
    for child in (*space.crossover(a, b, rng), *space.crossover(a, b, rng, linked=True)):
        space.check(child)
        try:
            space.repair(child, input_shape)
        except InvalidGenomeError as error:
            raise AssertionError(f"space {space.name!r}: crossover child {child} cannot be repaired: {error}") from None
