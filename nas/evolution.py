"""The evolution loop, on DEAP: a generational genetic algorithm, one objective (tournament + elitism) or several
(NSGA-II), or asynchronous aging evolution (regularized evolution, Real et al. 2019) that keeps every worker busy.
Every evaluation and generation is logged to the run folder, and the log doubles as a cache.

DEAP's globals are avoided on purpose: no ``creator.create`` (its classes break pickling across processes) and no
operator that draws from the global ``random``; one ``random.Random(seed)`` drives every choice and is checkpointed.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import math
import platform
import random
import signal
import statistics
import sys
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from deap import base, tools

from . import data as data_module
from . import executors as executors_module
from .errors import ConfigError, InvalidGenomeError
from .progress import Reporter
from .run import Run
from .plots import plot_run
from .runfolder import CONFIG, RunFolder, config_differences, default_run_dir, now, read_config
from .space import SearchSpace, resolve_space
from .training import METRICS, Budget, training_seed

#: A failed evaluation scores this far on the wrong side of every objective. Finite, because NSGA-II's crowding
#: distance turns infinities into NaN.
WORST = 1e30
CHECKPOINT_FORMAT = 1
#: Config fields that may differ on resume: they do not change which genomes are evaluated or how they score.
RESUMABLE_DIFFERENCES = ("versions", "created", "executor", "nas_version")
ALGORITHMS = ("generational", "aging")


class Terminated(KeyboardInterrupt):
    """Raised in the search when the process receives SIGTERM (what cluster schedulers send), handled like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt(received: list[int]):
    """SIGTERM raises :class:`Terminated` and is noted in ``received`` (for code that turns the exception into a
    plain KeyboardInterrupt on its way up, as Ray's waits do)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        received.append(signum)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Fitness(base.Fitness):
    """DEAP fitness whose weights are set per instance, so no class has to be created at run time."""

    def __init__(self, weights: Sequence[float], values: Sequence[float] = ()):
        self.weights = tuple(weights)
        super().__init__(values)

    def __deepcopy__(self, memo):  # DEAP's version calls the class without arguments, losing the weights
        twin = _Fitness(self.weights)
        twin.wvalues = self.wvalues
        twin.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("weights", "wvalues")})
        return twin


@dataclass
class _Member:
    genome: dict
    hash: str
    fitness: _Fitness
    record: dict | None = None


def parse_objectives(objectives: str | Iterable[str]) -> list[tuple[str, int]]:
    """``("val_accuracy", "-params")`` -> ``[("val_accuracy", 1), ("params", -1)]`` (a leading ``-`` minimises)."""
    if isinstance(objectives, str):
        objectives = [part for part in objectives.split(",")]
    parsed = []
    for text in objectives:
        text = str(text).strip()
        sign = -1 if text.startswith("-") else 1
        name = text.lstrip("+-")
        if name not in METRICS:
            raise ConfigError(f"unknown objective {text!r}; choose among {', '.join(METRICS)} (prefix '-' to "
                              f"minimise, e.g. -params)")
        parsed.append((name, sign))
    if not parsed or len({name for name, _ in parsed}) != len(parsed):
        raise ConfigError(f"objectives must name at least one metric, each once; got {list(objectives)!r}")
    return parsed


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "deap", "ray", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


@dataclass
class Settings:
    """Genetic-operator settings of a search (recorded in ``config.json``)."""

    crossover_prob: float = 0.5
    mutation_prob: float = 0.5
    tournament_size: int = 3
    elitism: int = 1

    def check(self, population: int) -> None:
        for name in ("crossover_prob", "mutation_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.tournament_size < 1:
            raise ConfigError(f"tournament_size must be >= 1, got {self.tournament_size}")
        if not 0 <= self.elitism < population:
            raise ConfigError(f"elitism must be in 0..population-1 ({population - 1}), got {self.elitism}")


def evolve(space: SearchSpace | str = "cnn", data=None, *, population: int = 12, generations: int = 6,
           objectives: str | Sequence[str] | None = None, budget: Budget | None = None,
           executor: str | executors_module.Executor = "local", run_dir: str | Path | None = None, seed: int = 0,
           resume: bool = False, callbacks: Iterable[Callable[[dict], None]] = (), initial: Iterable[dict] = (),
           algorithm: str = "generational", crossover_prob: float = 0.5, mutation_prob: float = 0.5,
           tournament_size: int = 3, elitism: int = 1, verbose: bool = True) -> Run:
    """Run a genetic search of ``space`` on ``data`` and return the run (also readable later with ``load_run``).

    Args:
        space: a :class:`nas.SearchSpace` or the name of a built-in one ("cnn", "resnet50").
        data: a :class:`nas.data.Dataset`, an ``(x, y)`` pair of arrays, a dataset spec dict, or a name such as
            "synthetic", "synthetic:2000" or "digits".
        population: individuals per generation.
        generations: generations in all, the initial one included (so at most ``population * generations``
            trainings).
        objectives: metric names to maximise; a leading ``-`` minimises. Several give an NSGA-II Pareto search.
            Default: the data's ``default_objectives`` (validation balanced accuracy for HAM10000, validation
            accuracy otherwise).
        budget: what one evaluation may spend (:class:`nas.Budget`); default ``Budget()``. Unless the budget says
            otherwise (``class_weighted=False``), the loss is weighted by class when the data asks for it
            (HAM10000).
        executor: "local" (one evaluation at a time in a recycled worker process), "inline" (in this process),
            "ray" (in parallel on a local Ray instance; :class:`nas.RayExecutor` for a cluster and its options) or
            an :class:`~nas.executors.Executor`, e.g. ``nas.InlineExecutor(evaluate=nas.training.simulate)``.
        run_dir: the run folder; default ``runs/<timestamp>``.
        seed: seeds the search and each genome's training; the same seed gives the same search.
        resume: continue the run in ``run_dir`` from its last checkpoint (its config must match).
        callbacks: functions called with each generation record after it is logged.
        initial: genomes to put in the first generation (for example ``search_spaces.cnn.TABLE1``).
        algorithm: "generational" (default: evaluate a whole generation, then breed the next) or "aging"
            (asynchronous regularized evolution: whenever an evaluation returns, the winner of a
            ``tournament_size`` sample of the population is mutated (and crossed with a second winner with
            ``crossover_prob``) into a new child and the oldest member retires; the executor is never idle). Aging
            runs ``population * generations`` evaluations and logs a generation record every ``population``
            of them. With one evaluation in flight (executors "local" and "inline") it is deterministic; on Ray
            the order of completions, and so the search, depends on timing.
        crossover_prob, mutation_prob, tournament_size, elitism: genetic-operator settings (elitism is
            generational only).
        verbose: print progress per evaluation and a summary per generation.

    Example:
        >>> import nas                                                          # doctest: +SKIP
        >>> run = nas.evolve("cnn", nas.data.synthetic_lesions(n=300, image_size=16), population=4,
        ...                  generations=2, budget=nas.Budget(epochs=1), run_dir="runs/tiny")
        >>> run.best.genome, run.best.fitness
    """
    if isinstance(population, bool) or not isinstance(population, int) or population < 2:
        raise ConfigError(f"population must be an integer >= 2, got {population!r}")
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ConfigError(f"generations must be an integer >= 1, got {generations!r}")
    if data is None:
        raise ConfigError("data is required: e.g. nas.data.synthetic_lesions(), nas.data.digits() or (x, y) arrays")
    space = resolve_space(space)
    dataset = data_module.coerce(data)
    objectives = dataset.default_objectives if objectives is None else objectives
    budget = budget or Budget()
    if not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a nas.Budget, got {type(budget).__name__}")
    budget = budget.for_data(dataset)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    settings = Settings(crossover_prob, mutation_prob, tournament_size, elitism)
    settings.check(population)
    parsed = parse_objectives(objectives)
    runner = executors_module.resolve(executor)
    initial = [dict(g) for g in initial]
    try:
        # started before the run folder is written: a cluster that is not there leaves nothing behind
        runner.start(executors_module.Job(space, dataset, budget, seed))
        return _evolve(space, dataset, parsed, budget, settings, runner, population, generations, seed, algorithm,
                       initial, run_dir, resume, callbacks, verbose)
    finally:
        runner.cancel()
        runner.close()


def _evolve(space, dataset, parsed, budget, settings, runner, population, generations, seed, algorithm, initial,
            run_dir, resume, callbacks, verbose) -> Run:
    config = {
        "nas_version": _nas_version(), "created": now(), "versions": _versions(),
        "space": space.to_config(), "data": dataset.spec, "input_shape": list(dataset.input_shape),
        "class_names": list(dataset.class_names),
        "objectives": [("-" if sign < 0 else "") + name for name, sign in parsed],
        "budget": budget.to_dict(), "population": population, "generations": generations, "seed": seed,
        "algorithm": algorithm, "operators": settings.__dict__.copy(), "initial": initial,
        "executor": runner.describe(),
    }
    if algorithm == "aging":  # the evaluations kept in flight decide which parents a child sees: part of the run
        config["in_flight"] = min(runner.capacity, population * generations)
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the run to continue")
        folder = RunFolder.open(run_dir)
        recorded = folder.read_config()
        if algorithm == "aging" and recorded.get("in_flight") not in (None, config["in_flight"]):
            if verbose:
                print(f"nas: keeping {recorded['in_flight']} evaluations in flight as this run did (not "
                      f"{config['in_flight']}), so that it resumes exactly")
            config["in_flight"] = recorded["in_flight"]
        differences = config_differences(recorded, config, ignore=RESUMABLE_DIFFERENCES)
        if differences:
            raise ConfigError(f"cannot resume {folder.path}: the given config differs from the recorded one in "
                              + "; ".join(differences))
    else:
        folder = RunFolder.create(run_dir or default_run_dir(), config)
        if hasattr(dataset, "write_splits"):  # datasets read from files record which image went to which split
            dataset.write_splits(folder.path / "splits.csv")
    search = _Search(space, dataset, parsed, budget, settings, runner, folder, seed, population, generations,
                     list(callbacks), Reporter(verbose), algorithm, config.get("in_flight", 1))
    search.run(initial, resume=resume)
    run = Run(folder.path, space=space)
    try:
        plot_run(run)
    except Exception as error:  # noqa: BLE001 - a missing plot must not lose a finished search
        warnings.warn(f"could not write the plots of {folder.path}: {error}; try `nas plot {folder.path}`",
                      stacklevel=2)
    return run


def resume(run_dir: str | Path, *, space: SearchSpace | None = None, data=None,
           executor: str | executors_module.Executor | None = None, callbacks: Iterable[Callable[[dict], None]] = (),
           generations: int | None = None, verbose: bool = True) -> Run:
    """Continue the run in ``run_dir`` from its last checkpoint with the settings recorded in its ``config.json``.

    ``space`` and ``data`` are needed only for runs whose space or data cannot be rebuilt from the record (a custom
    space, data given as arrays). Evaluations already in the log are not trained again. ``generations`` changes the
    number of generations the run goes to (the only setting that may change; it is rewritten in ``config.json``).
    ``executor`` defaults to the one the run recorded (a Ray run resumes on Ray with the same settings); another
    executor gives the same result.
    """
    config = read_config(run_dir)
    if generations is not None and generations != config["generations"]:
        done = len(RunFolder(run_dir).read_generations())
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < max(1, done):
            raise ConfigError(f"generations must be an integer >= {max(1, done)} (the run has finished {done}), "
                              f"got {generations!r}")
        if verbose:
            print(f"nas: generations of {run_dir} changed from {config['generations']} to {generations}, as asked")
        config["generations"] = generations
        RunFolder(run_dir).write_json(CONFIG, config)
    if space is None:
        space = Run(run_dir).space
    if data is None:
        data = data_module.from_spec(config["data"])
    if executor is None:  # the executor the run was started with, its settings and fitness included
        executor = executors_module.recorded(config["executor"])
    elif isinstance(executor, str):  # keep the fitness the run was started with (for example a simulated one)
        executor = executors_module.resolve(executor, executors_module.recorded_evaluate(config["executor"]))
    operators = config["operators"]
    return evolve(space, data, population=config["population"], generations=config["generations"],
                  objectives=config["objectives"], budget=Budget.from_dict(config["budget"]), executor=executor,
                  run_dir=run_dir, seed=config["seed"], resume=True, callbacks=callbacks,
                  initial=config.get("initial", ()), algorithm=config.get("algorithm", "generational"),
                  verbose=verbose, **operators)


def _nas_version() -> str:
    from . import __version__

    return __version__


class _Search:
    def __init__(self, space, dataset, objectives, budget, settings, executor, folder, seed, population, generations,
                 callbacks, reporter, algorithm="generational", in_flight=1):
        self.space, self.data, self.objectives, self.budget = space, dataset, objectives, budget
        self.algorithm, self.in_flight = algorithm, in_flight
        self.settings, self.executor, self.folder, self.seed = settings, executor, folder, seed
        self.size, self.generations, self.callbacks, self.reporter = population, generations, callbacks, reporter
        self.weights = tuple(float(sign) for _, sign in objectives)
        self.worst = tuple(-sign * WORST for _, sign in objectives)
        self.multi = len(objectives) > 1
        self.rng = random.Random(seed)
        self.next_index = 0
        self.cache: dict[str, dict] = {}        # genome hash -> record that holds its result
        self.seen: set[str] = set()            # hashes known when choosing new genomes (checkpointed implicitly)
        self.logged: dict[int, dict] = {}      # index -> record already in the log (resume)
        self.logged_generations: set[int] = set()
        self.params_memo: dict[str, int] = {}
        self.hall = (tools.ParetoFront(similar=self._same) if self.multi
                     else tools.HallOfFame(max(1, settings.elitism), similar=self._same))
        self.started = time.perf_counter()

    @staticmethod
    def _same(a: _Member, b: _Member) -> bool:
        return a.hash == b.hash

    # -- main loop -----------------------------------------------------------------------------------------------
    def run(self, initial: list[dict], resume: bool) -> None:
        """Runs the search with the executor started; the caller closes it."""
        received: list[int] = []
        try:
            with _sigterm_as_interrupt(received):
                if self.algorithm == "aging":
                    self._run_aging(initial, resume)
                else:
                    self._run(initial, resume)
        except KeyboardInterrupt as interrupt:
            terminated = isinstance(interrupt, Terminated) or bool(received)  # Ray re-raises a plain interrupt
            what = "terminated (SIGTERM)" if terminated else "interrupted"
            print(f"nas: {what}; every finished evaluation is in {self.folder.path / 'evaluations.jsonl'}; continue "
                  f"with `nas resume {self.folder.path}` or nas.resume({str(self.folder.path)!r})", file=sys.stderr,
                  flush=True)
            if terminated and not isinstance(interrupt, Terminated):
                raise Terminated() from interrupt
            raise

    def _run(self, initial: list[dict], resume: bool) -> None:
        start, members = self._restore() if resume else (0, None)
        best = self._best_record()
        if best is not None and best["fitness"][0] is not None:
            self.reporter.best = best["fitness"][0]
        self.reporter.start(self.folder.path, self.space, self.data, self.objectives, self.size,
                            self.generations, start)
        if members is None:
            members = self._initial_population(initial)
            counts = self._evaluate(members, 0)
            self.hall.update(members)
            self._finish_generation(0, members, counts)
            start = 1
        population = members
        for generation in range(start, self.generations):
            population = self._next_generation(population, generation)
        self.reporter.finish(self._best_record())

    def _next_generation(self, population: list[_Member], generation: int) -> list[_Member]:
        if self.multi:
            parents = self._select_nsga2_parents(population, self.size)
        else:
            # Elites are the best found before this generation; taken after its evaluation, an elite could be one of
            # this generation's own offspring and fill two places.
            elites = [self._copy(m) for m in self.hall[: self.settings.elitism]]
            parents = [self._tournament(population) for _ in range(self.size - self.settings.elitism)]
        offspring = self._vary(parents)
        counts = self._evaluate(offspring, generation)
        self.hall.update(offspring)
        if self.multi:
            population = tools.selNSGA2(population + offspring, self.size)
        else:
            population = elites + offspring
        self._finish_generation(generation, population, counts)
        return population

    # -- aging (asynchronous) evolution ------------------------------------------------------------------------
    def _run_aging(self, initial: list[dict], resume: bool) -> None:
        """Regularized evolution. Completions are handled in the order they are logged, so a resumed run replays
        the log (no training) through the same decisions and goes on exactly where the interrupted one stopped."""
        replay: deque[dict] = deque(self._restore_log() if resume else ())
        self.logged = {r["index"]: r for r in replay}
        total = self.size * self.generations
        self.reporter.start(self.folder.path, self.space, self.data, self.objectives, self.size,
                            self.generations, len(replay) // self.size)
        seeds = [m.genome for m in self._initial_population(initial)]
        population: deque[_Member] = deque()
        in_flight: dict[int, tuple[_Member, int]] = {}   # index -> (member, generation)
        waiters: dict[str, list[tuple[int, _Member, int]]] = {}  # same genome as one in flight
        ready: deque[tuple[int, dict]] = deque()        # completions known without the executor (cache)
        counts = {"evaluated": 0, "cached": 0, "failed": 0, "resumed": 0}
        submitted = done = 0

        def submit() -> None:
            nonlocal submitted
            genome = seeds[submitted] if submitted < len(seeds) else self._aging_child(population)
            member, generation = self._member(genome), done // self.size
            index, self.next_index = self.next_index, self.next_index + 1
            submitted += 1
            self.seen.add(member.hash)
            in_flight[index] = (member, generation)
            if index in self.logged:
                return  # finished before the interruption; its completion comes from the replayed log
            if member.hash in self.cache:
                record = self._record(member, index, generation, self._cached_outcome(self.cache[member.hash]))
                self._log(member, record)
                ready.append((index, record))
            elif any(m.hash == member.hash for m, _ in in_flight.values() if m is not member):
                waiters.setdefault(member.hash, []).append((index, member, generation))
            else:
                self.executor.submit(index, member.genome, member.hash)

        def next_completion() -> tuple[int, dict]:
            if replay:
                record = replay.popleft()
                counts["resumed"] += 1
                expected = in_flight.get(record["index"])
                if expected is None or expected[0].hash != record["genome_hash"]:
                    raise ConfigError(f"cannot resume {self.folder.path} exactly: evaluation {record['index']} in "
                                      f"the log is not the genome this run would have chosen (was the log edited, "
                                      f"or the run's in_flight changed in config.json?)")
                return record["index"], record
            if ready:
                return ready.popleft()
            index, outcome = self.executor.next_result()
            member, generation = in_flight[index]
            record = self._record(member, index, generation, outcome)
            self._log(member, record)
            counts["evaluated"] += 1
            self.reporter.evaluation(record, self.objectives)
            return index, record

        def fill() -> None:  # children need a population to come from; until then only the seeds go out
            while (submitted < total and len(in_flight) < self.in_flight
                   and (submitted < len(seeds) or population)):
                submit()

        fill()
        self.reporter.batch(0, self.generations, min(total, self.size))
        while done < total:
            index, record = next_completion()
            member, _ = in_flight.pop(index)
            if index in self.logged:
                self._apply(member, record)
                if record["status"] != "cached":
                    self.cache.setdefault(member.hash, record)
            live = index not in self.logged
            counts["cached"] += live and record["status"] == "cached"
            counts["failed"] += live and record["status"] == "failed"
            for waiter, twin, twin_generation in waiters.pop(member.hash, []):  # served by this evaluation
                twin_record = self._record(twin, waiter, twin_generation, self._cached_outcome(record))
                self._log(twin, twin_record)
                ready.append((waiter, twin_record))
            population.append(member)
            if len(population) > self.size:
                population.popleft()  # the oldest retires, however good it was
            self.hall.update([member])
            done += 1
            fill()
            if done % self.size == 0:
                self._finish_generation(done // self.size - 1, list(population), counts)
                counts = dict.fromkeys(counts, 0)
                if done < total:
                    self.reporter.batch(done // self.size, self.generations, self.size)
        self.reporter.finish(self._best_record())

    def _aging_child(self, population: deque[_Member]) -> dict:
        parent = self._sample_winner(population)
        genome = parent.genome
        if self.rng.random() < self.settings.crossover_prob:
            genome, _ = self.space.crossover(genome, self._sample_winner(population).genome, self.rng)
        genome = self.space.mutate(genome, self.rng)  # regularized evolution always mutates
        return self._admit(genome, set(self.seen), lambda g: self.space.mutate(g, self.rng), "child")

    def _sample_winner(self, population: deque[_Member]) -> _Member:
        sample = [self.rng.choice(population) for _ in range(self.settings.tournament_size)]
        if not self.multi:
            return max(sample, key=lambda m: m.fitness.wvalues)
        # several objectives: the first of the sample that no other sample member dominates
        return next(m for m in sample if not any(o.fitness.dominates(m.fitness) for o in sample))

    def _restore_log(self) -> list[dict]:
        """The logged evaluations in the order they finished, for an aging run's replay."""
        generations = self.folder.read_generations()
        self.logged_generations = {g["generation"] for g in generations}
        if generations:
            self.started -= generations[-1].get("elapsed_seconds") or 0.0
        return [r for r in self.folder.read_evaluations() if "index" in r]

    # -- genomes -------------------------------------------------------------------------------------------------
    def _member(self, genome: dict) -> _Member:
        return _Member(genome, self.space.hash(genome), _Fitness(self.weights))

    @staticmethod
    def _copy(member: _Member) -> _Member:
        return _Member(dict(member.genome), member.hash, copy.deepcopy(member.fitness), member.record)

    def _problem(self, genome: dict) -> str | None:
        """Why ``genome`` cannot be trained within the budget, or None."""
        if self.budget.max_params is None:
            return None
        key = self.space.hash(genome)
        if key not in self.params_memo:
            try:
                self.params_memo[key] = self.space.count_params(genome, self.data.input_shape, self.data.num_classes)
            except Exception as error:  # noqa: BLE001 - an unbuildable genome is just rejected
                return f"cannot be built: {type(error).__name__}: {error}"
        params = self.params_memo[key]
        return None if params <= self.budget.max_params else f"{params:,} parameters > max_params"

    def _admit(self, genome: dict, taken: set[str], fresh: Callable[[dict], dict], what: str) -> dict:
        """Repair ``genome`` and make it new (not evaluated, not already taken); ``fresh`` proposes alternatives."""
        reason = "?"
        candidate = genome
        for _ in range(100):
            try:
                candidate = self.space.repair(candidate, self.data.input_shape)
                reason = self._problem(candidate)
                if reason is None and self.space.hash(candidate) not in taken:
                    return candidate
                reason = reason or "already evaluated"
            except InvalidGenomeError as error:
                reason = str(error)
            candidate = fresh(candidate)
        if reason == "already evaluated":
            return candidate  # a small space can run out of new genomes: the cache serves the repeat
        raise ConfigError(f"could not make a valid {what} genome of space {self.space.name!r} at input shape "
                          f"{tuple(self.data.input_shape)} in 100 tries; last problem: {reason}")

    def _initial_population(self, initial: list[dict]) -> list[_Member]:
        if len(initial) > self.size:
            raise ConfigError(f"{len(initial)} initial genomes for a population of {self.size}")
        taken = set(self.seen)
        genomes = []
        for genome in initial:
            self.space.check(genome)
            genome = self._admit(genome, set(), lambda g: self.space.mutate(g, self.rng), "initial")
            genomes.append(genome)
            taken.add(self.space.hash(genome))
        while len(genomes) < self.size:
            genome = self._admit(self.space.sample(self.rng), taken, lambda g: self.space.sample(self.rng), "random")
            genomes.append(genome)
            taken.add(self.space.hash(genome))
        return [self._member(g) for g in genomes]

    def _vary(self, parents: list[_Member]) -> list[_Member]:
        rng, space, settings = self.rng, self.space, self.settings
        taken = set(self.seen)
        children = []
        for i in range(0, len(parents), 2):
            a = parents[i].genome
            b = parents[(i + 1) % len(parents)].genome
            if rng.random() < settings.crossover_prob:
                a, b = space.crossover(a, b, rng)
            for child in (a, b)[: len(parents) - i]:
                if rng.random() < settings.mutation_prob:
                    child = space.mutate(child, rng)
                child = self._admit(child, taken, lambda g: space.mutate(g, rng), "child")
                taken.add(space.hash(child))
                children.append(self._member(child))
        return children

    # -- selection -----------------------------------------------------------------------------------------------
    def _tournament(self, population: list[_Member]) -> _Member:
        contestants = [self.rng.choice(population) for _ in range(self.settings.tournament_size)]
        return max(contestants, key=lambda m: m.fitness.wvalues)

    def _select_nsga2_parents(self, population: list[_Member], k: int) -> list[_Member]:
        rank: dict[int, int] = {}
        for number, front in enumerate(tools.sortNondominated(population, len(population))):
            tools.emo.assignCrowdingDist(front)
            for member in front:
                rank[id(member)] = number

        def better(a: _Member, b: _Member) -> _Member:
            key_a = (-rank[id(a)], a.fitness.crowding_dist)
            key_b = (-rank[id(b)], b.fitness.crowding_dist)
            if key_a == key_b:
                return a if self.rng.random() < 0.5 else b
            return a if key_a > key_b else b

        return [better(self.rng.choice(population), self.rng.choice(population)) for _ in range(k)]

    # -- evaluation ----------------------------------------------------------------------------------------------
    def _fitness_values(self, record: dict) -> tuple[float, ...]:
        if record["status"] == "failed" or record.get("error"):
            return self.worst
        values = []
        for (name, sign), worst in zip(self.objectives, self.worst):
            value = record["metrics"].get(name)
            values.append(float(value) if value is not None and math.isfinite(value) else worst)
        return tuple(values)

    def _apply(self, member: _Member, record: dict) -> None:
        member.record = record
        member.fitness.values = self._fitness_values(record)

    def _record(self, member: _Member, index: int, generation: int, outcome: dict) -> dict:
        record = {"index": index, "generation": generation, "genome": member.genome, "genome_hash": member.hash,
                  "fitness": None, "metrics": outcome.get("metrics", {}), "status": outcome["status"],
                  "error": outcome.get("error"), "node": outcome.get("node"), "worker": outcome.get("worker"),
                  "started": outcome.get("started"), "finished": outcome.get("finished"),
                  "seconds": outcome.get("seconds"), "training_seed": training_seed(self.seed, member.hash)}
        for key in ("traceback", "cached_from", "worker_rss_mb", "queued_seconds", "overhead_seconds",
                    "gpu"):
            if key in outcome:
                record[key] = outcome[key]
        values = self._fitness_values(record)
        record["fitness"] = [None if v == w else v for v, w in zip(values, self.worst)]
        return record

    def _cached_outcome(self, source: dict) -> dict:
        stamp = now()
        return {"status": "cached", "metrics": source["metrics"], "error": source.get("error"), "node": None,
                "worker": None, "started": stamp, "finished": stamp, "seconds": 0.0, "cached_from": source["index"]}

    def _log(self, member: _Member, record: dict) -> None:
        self.folder.append_evaluation(record)
        if record["status"] != "cached":
            self.cache[member.hash] = record
        self._apply(member, record)

    def _evaluate(self, members: list[_Member], generation: int) -> dict:
        counts = {"evaluated": 0, "cached": 0, "failed": 0, "resumed": 0}
        submitted: dict[int, _Member] = {}
        waiting: list[tuple[int, _Member]] = []   # same genome as one submitted in this batch
        in_batch: set[str] = set()
        for member in members:
            index, self.next_index = self.next_index, self.next_index + 1
            self.seen.add(member.hash)
            if index in self.logged:              # finished before an interruption: already in the log
                self._apply(member, self.logged[index])
                counts["resumed"] += 1
            elif member.hash in self.cache:
                self._log(member, self._record(member, index, generation,
                                               self._cached_outcome(self.cache[member.hash])))
                counts["cached"] += 1
            elif member.hash in in_batch:
                waiting.append((index, member))
            else:
                in_batch.add(member.hash)
                submitted[index] = member
                self.executor.submit(index, member.genome, member.hash)
        self.reporter.batch(generation, self.generations, len(submitted))
        while self.executor.pending:
            index, outcome = self.executor.next_result()
            member = submitted[index]
            record = self._record(member, index, generation, outcome)
            self._log(member, record)
            counts["evaluated"] += 1
            counts["failed"] += record["status"] == "failed"
            self.reporter.evaluation(record, self.objectives)
        for index, member in waiting:
            self._log(member, self._record(member, index, generation, self._cached_outcome(self.cache[member.hash])))
            counts["cached"] += 1
        return counts

    # -- records -------------------------------------------------------------------------------------------------
    def _best_record(self) -> dict | None:
        if not len(self.hall):
            return None
        if self.multi:  # the front member best on the first objective
            return max(self.hall, key=lambda m: m.fitness.wvalues[0]).record
        return self.hall[0].record

    def _finish_generation(self, generation: int, population: list[_Member], counts: dict) -> None:
        alive = [m for m in population if m.record and m.record["status"] != "failed"
                 and not m.record.get("error")]
        stats = {}
        for position, (name, sign) in enumerate(self.objectives):
            values = [m.fitness.values[position] for m in alive]
            stats[("-" if sign < 0 else "") + name] = ({"min": min(values), "mean": statistics.fmean(values),
                                                         "max": max(values), "std": statistics.pstdev(values)}
                                                        if values else None)
        best = self._best_record()
        elapsed = time.perf_counter() - self.started
        record = {
            "generation": generation, "population": [m.hash for m in population], "stats": stats,
            "best": {k: best[k] for k in ("index", "genome", "genome_hash", "fitness", "metrics")} if best else None,
            "diversity": _diversity(population), "evaluations": counts["evaluated"], "cached": counts["cached"],
            "failed": counts["failed"], "resumed": counts["resumed"], "elapsed_seconds": round(elapsed, 3),
            "finished": now(),
        }
        if self.multi:
            record["pareto_front"] = [m.hash for m in self.hall]
        if generation not in self.logged_generations:  # a resumed run may redo a generation logged before a crash
            self.folder.append_generation(record)
        self._checkpoint(generation, population)
        self.reporter.generation(record, self.generations)
        for callback in self.callbacks:
            callback(record)

    def _checkpoint(self, generation: int, population: list[_Member]) -> None:
        def dump(members: Iterable[_Member]) -> list[dict]:
            return [{"genome": m.genome, "hash": m.hash, "index": m.record["index"] if m.record else None}
                    for m in members]

        version, state, gauss = self.rng.getstate()
        self.folder.write_checkpoint({
            "format": CHECKPOINT_FORMAT, "generation": generation, "next_index": self.next_index,
            "rng_state": [version, list(state), gauss], "population": dump(population), "hall": dump(self.hall),
            "written": now(),
        })

    def _restore(self) -> tuple[int, list[_Member] | None]:
        """Rebuild the state after the last checkpointed generation; the log serves every finished evaluation."""
        records = self.folder.read_evaluations()
        generations = self.folder.read_generations()
        self.logged_generations = {g["generation"] for g in generations}
        if generations:  # elapsed time counts on from where the interrupted process left it
            self.started -= generations[-1].get("elapsed_seconds") or 0.0
        by_index = {r["index"]: r for r in records if "index" in r}
        for record in records:
            if record.get("status") != "cached":
                self.cache.setdefault(record["genome_hash"], record)
        checkpoint = self.folder.read_checkpoint()
        if checkpoint is not None and checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{self.folder.path}: checkpoint format {checkpoint.get('format')} is not supported "
                              f"by this version of nas")
        if checkpoint is not None:
            missing = sorted({e["index"] for e in checkpoint["population"] + checkpoint["hall"]} - set(by_index))
            if missing:
                warnings.warn(f"{self.folder.path}: the checkpoint names evaluations {missing} that are not in the "
                              f"evaluation log; replaying the search from its first generation instead (logged "
                              f"evaluations are not trained again)", stacklevel=3)
                checkpoint = None
        if checkpoint is None:  # no usable checkpoint: replay from the start, the log serves what had finished
            self.logged = by_index
            return 0, None
        version, state, gauss = checkpoint["rng_state"]
        self.rng.setstate((version, tuple(state), gauss))
        self.next_index = checkpoint["next_index"]
        self.logged = {i: r for i, r in by_index.items() if i >= self.next_index}
        self.seen = {r["genome_hash"] for i, r in by_index.items() if i < self.next_index}

        def load(entries: list[dict]) -> list[_Member]:
            members = []
            for entry in entries:
                member = self._member(entry["genome"])
                self._apply(member, by_index[entry["index"]])
                members.append(member)
            return members

        population = load(checkpoint["population"])
        # Inserted worst first, so that members of equal fitness keep their order (and the same elites are picked).
        for member in reversed(load(checkpoint["hall"])):
            self.hall.insert(member)
        return checkpoint["generation"] + 1, population


def _diversity(population: list[_Member]) -> dict:
    """Share of distinct architectures, and the mean share of genes two members differ in."""
    unique = len({m.hash for m in population}) / len(population)
    pairs = [(a, b) for i, a in enumerate(population) for b in population[i + 1:]]
    if not pairs:
        return {"unique": unique, "gene_distance": 0.0}
    distance = statistics.fmean(sum(a.genome.get(k) != b.genome.get(k) for k in a.genome) / max(1, len(a.genome))
                                for a, b in pairs)
    return {"unique": round(unique, 4), "gene_distance": round(distance, 4)}
