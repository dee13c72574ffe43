"""``nas.evolve`` and ``nas.resume``: check the arguments, make the frozen :class:`SearchConfig`, start the executor,
open or create the run folder, and run a strategy on the shared search state."""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .. import data as data_module
from .. import executors as executors_module
from ..clock import now
from ..errors import ConfigError
from ..fidelity import Fidelity, coerce as coerce_fidelity
from ..objectives import Objectives
from ..plots import plot_run
from ..progress import Reporter
from ..runs.reader import Run
from ..runs.writer import CONFIG, RunFolder, default_run_dir
from ..space import SearchSpace, resolve_space, space_from_config
from ..training import Budget
from .config import SearchConfig, Settings, versions
from .signals import Terminated, sigterm_as_interrupt
from .reevaluate import reevaluate as reevaluate_top
from .state import SearchState
from .algorithms import resolve_strategy
from .strategy import Strategy

if TYPE_CHECKING:
    from ..data import Dataset


def _positive(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")


def evolve(space: SearchSpace | str = "cnn", data: "Dataset | tuple | dict | str | None" = None, *,
           population: int = 12, generations: int = 6,
           objectives: str | Sequence[str] | None = None, budget: Budget | None = None,
           executor: str | executors_module.Executor = "local", run_dir: str | Path | None = None, seed: int = 0,
           resume: bool = False, callbacks: Iterable[Callable[[dict], None]] = (), initial: Iterable[dict] = (),
           algorithm: str | Strategy = "generational", crossover_prob: float = 0.5, mutation_prob: float = 0.5,
           tournament_size: int = 3, elitism: int = 1, immigrants: float = 0.0, crossover: str = "uniform",
           retry_failed: bool = False,
           fidelity: Fidelity | str | None = None, reevaluate: int = 0, reevaluate_seeds: int = 2,
           inherit: bool = False, epoch_budget: int | None = None, timeout: float | None = None,
           verbose: bool = True) -> Run:
    """Run a genetic search of ``space`` on ``data`` and return the run (also readable later with ``load_run``).

    Args:
        space: a :class:`nas.SearchSpace` or the name of a built-in one ("cnn", "resnet50", "modern").
        data: a :class:`nas.data.Dataset`, an ``(x, y)`` pair of arrays, a dataset spec dict, or a name such as
            "synthetic", "synthetic:2000" or "digits".
        population: individuals per generation.
        generations: generations in all, the initial one included (so at most ``population * generations``
            trainings).
        objectives: metric names to maximise; a leading ``-`` minimises. Several give an NSGA-II Pareto search.
            Default: the data's ``default_objectives`` (validation balanced accuracy for HAM10000, validation
            accuracy otherwise).
        budget: what one evaluation may spend (:class:`nas.Budget`); default ``Budget()``. Unless the budget says
            otherwise (``class_weighted=False``, or ``oversample=True``: class-balanced epochs instead), the loss is
            weighted by class when the data asks for it (HAM10000).
        executor: "local" (one evaluation at a time in a recycled worker process), "inline" (in this process),
            "ray" (in parallel on a local Ray instance; :class:`nas.RayExecutor` for a cluster and its options) or
            an :class:`~nas.executors.Executor`, e.g. ``nas.InlineExecutor(evaluate=nas.training.simulate)``.
        run_dir: the run folder; default ``runs/<timestamp>``.
        seed: seeds the search and each genome's training; the same seed gives the same search.
        resume: continue the run in ``run_dir`` from its last checkpoint (its config must match).
        callbacks: functions called with each generation record after it is logged.
        initial: genomes to put in the first generation (for example ``search_spaces.cnn.TABLE1``).
        algorithm: "generational" (default: evaluate a whole generation, then breed the next), "aging"
            (asynchronous regularized evolution: whenever an evaluation returns, the winner of a
            ``tournament_size`` sample of the population is mutated (and crossed with a second winner with
            ``crossover_prob``) into a new child and the oldest member retires; the executor is never idle), or a
            :class:`nas.engine.Strategy` object. Aging runs ``population * generations`` evaluations and logs a
            generation record every ``population`` of them. With one evaluation in flight (executors "local" and
            "inline") it is deterministic; on Ray the order of completions, and so the search, depends on timing.
        crossover_prob, mutation_prob, tournament_size, elitism: genetic-operator settings (elitism is
            generational only).
        immigrants: the share of the genomes bred after the first generation that are fresh random genomes instead
            of children ("random immigrants"), spread evenly: with 0.25 every fourth (aging) or a quarter of each
            generation's offspring (generational). They keep exploring the space when the first generation held
            nothing good. Their records say ``operator: "immigrant"``. Default 0: every bred genome is a child.
        crossover: "uniform" (default: each gene comes from either parent by its own coin) or "linked" (each group
            of genes the space links, such as one block's filters, kernel and dropout or the optimizer and its
            learning rate, comes whole from one parent; see ``SearchSpace(linkage=...)``).
        retry_failed: with ``resume``, first train again the evaluations that failed through the machinery
            (timeout, lost node, killed worker); failures of the genome itself (an exception, a NaN loss, a model
            over the budget) stand.
        fidelity: a :class:`nas.Fidelity` (or ``"MIN:MAX:ETA"``) for multi-fidelity evolution (one objective).
            Generational: every genome of a generation trains ``min_epochs``; the best ``1/eta`` of them continue
            from their saved training state to ``min_epochs * eta`` epochs, and so on up to ``max_epochs``
            (successive halving inside each generation). Aging: whenever a slot is free, a genome among the best
            ``1/eta`` of those measured at its rung continues to the next (ASHA), else a new child is trained;
            every training, promotions included, counts towards ``population * generations``. Selection, elitism
            and the best compare (rung, score): a genome measured at a higher rung ranks above any measured only at
            lower ones. ``budget.epochs`` is then unused (leave it at 1 or set it to ``max_epochs``).
        reevaluate, reevaluate_seeds: after the last generation, train the ``reevaluate`` best genomes again with
            ``reevaluate_seeds`` other seeds each (at their rung's epochs) and rank them on the mean score, a
            higher rung first as selection does (``run.best`` is then the best mean at the highest rung;
            ``run.reevaluation`` holds rungs, means, standard errors and the measured evaluation noise). One
            objective only.
        inherit: weight inheritance (Real et al. 2017): a child starts from its first parent's trained weights in
            every layer whose name and weight shapes match, the others freshly initialised (optimizer state is not
            inherited). Records gain ``inherited_from`` (the parent's hash, or None) and ``inherited_layers``. The
            trained weights of the population are kept in the run folder's ``inherit/``.
        epoch_budget: aging only: the training epochs the whole search may spend, for comparisons at equal compute
            (Hyperband and DEHB count their budget the same way). Every evaluation is charged the epochs it plans
            to train when it starts (a new genome its first rung's epochs, or ``budget.epochs`` without fidelity; a
            promotion the epochs from the rung below to its own); the search ends, finished, before the first one
            that would take the total above ``epoch_budget``, or after ``population * generations`` evaluations if
            that comes first (so give ``generations`` enough room). The last generation record may be a partial
            one; it holds ``epoch_budget_spent``. Re-evaluation comes on top.
        timeout: seconds of wall time after which no new work starts, nor work expected to end past them (a
            generation expected to take as long as this session's generations took on average; an evaluation as
            long as the run's finished evaluations at its rung, a rung with none priced from the rung below by its
            training images, and an aging promotion scaled by the genome's own seconds at the rung below against
            theirs): generational ends after the generation in progress, aging after the evaluations in
            flight. With ``reevaluate`` the search stops that much earlier
            than the time its re-evaluation is expected to take (the seconds the current top genomes took to reach
            their rung, times the seeds, over the executor's capacity), then re-evaluates its top
            genomes, so that the re-evaluated answer is ready by the limit on a slow machine as on a fast one; if
            the limit has passed anyway, the re-evaluation is skipped. The run is left as an interrupted one:
            ``run.finished`` is False and ``nas.resume`` continues it exactly (with or without a new ``timeout``),
            re-evaluating again at its end. Not part of the run's config.
        verbose: print progress per evaluation and a summary per generation.

    Example:
        >>> import nas                                                          # doctest: +SKIP
        >>> run = nas.evolve("cnn", nas.data.synthetic_lesions(n=300, image_size=16), population=4,
        ...                  generations=2, budget=nas.Budget(epochs=1), run_dir="runs/tiny")
        >>> run.best.genome, run.best.fitness
    """
    _positive("population", population, 2)
    _positive("generations", generations, 1)
    if data is None:
        raise ConfigError("data is required: e.g. nas.data.synthetic_lesions(), nas.data.digits() or (x, y) arrays")
    if retry_failed and not resume:
        raise ConfigError("retry_failed=True needs resume=True: only a run being continued has failures to retry")
    space = resolve_space(space)
    dataset = data_module.coerce(data)
    budget = budget or Budget()
    if not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a nas.Budget, got {type(budget).__name__}")
    budget = budget.for_data(dataset)
    strategy = resolve_strategy(algorithm)
    settings = Settings(crossover_prob, mutation_prob, tournament_size, elitism, immigrants, crossover)
    settings.check(population)
    parsed = Objectives.parse(dataset.default_objectives if objectives is None else objectives)
    rungs = _check_fidelity(coerce_fidelity(fidelity), strategy, parsed, budget)
    _check_reevaluate(reevaluate, reevaluate_seeds, parsed)
    if not isinstance(inherit, bool):
        raise ConfigError(f"inherit must be True or False, got {inherit!r}")
    _check_timeout(timeout)
    _check_epoch_budget(epoch_budget, strategy)
    config = SearchConfig(
        nas_version=_nas_version(), created=now(), versions=versions(), space=space.to_config(), data=dataset.spec,
        input_shape=list(dataset.input_shape), class_names=list(dataset.class_names), objectives=parsed.names,
        budget=budget.to_dict(), population=population, generations=generations, seed=seed, algorithm=strategy.name,
        operators=settings.to_dict(), initial=[dict(g) for g in initial], executor={},
        fidelity=rungs.to_dict() if rungs else None,
        reevaluate={"top": reevaluate, "seeds": reevaluate_seeds} if reevaluate else None, inherit=inherit,
        epoch_budget=epoch_budget)
    return _launch(config, strategy, space, dataset, executors_module.resolve(executor), run_dir, resume,
                   retry_failed, callbacks, verbose, timeout)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or
                                not timeout > 0):
        raise ConfigError(f"timeout must be a number of seconds above 0 (or None for no limit), got {timeout!r}")


def _check_epoch_budget(epoch_budget: int | None, strategy: Strategy) -> None:
    if epoch_budget is None:
        return
    _positive("epoch_budget", epoch_budget, 1)
    if strategy.name != "aging":
        raise ConfigError(f"epoch_budget works with algorithm='aging' (one evaluation starts at a time, so the "
                          f"search can end where the budget does), not {strategy.name!r}; size a generational "
                          f"search with population and generations")


def _check_fidelity(fidelity: Fidelity | None, strategy: Strategy, objectives: Objectives,
                    budget: Budget) -> Fidelity | None:
    """``fidelity`` if this search can use it, else a :class:`ConfigError` saying why."""
    if fidelity is None:
        return None
    if strategy.name not in ("generational", "aging"):
        raise ConfigError(f"fidelity works with the generational and aging algorithms, not {strategy.name!r}")
    if objectives.multi:
        raise ConfigError("fidelity works with one objective for now: rungs are ranked on a single score")
    if budget.epochs not in (1, fidelity.max_epochs):
        raise ConfigError(f"with fidelity, the epochs come from its rungs {list(fidelity.rungs)}: leave "
                          f"Budget.epochs at 1 or set it to max_epochs ({fidelity.max_epochs}), not {budget.epochs}")
    return fidelity


def _check_reevaluate(top: int, seeds: int, objectives: Objectives) -> None:
    if top == 0:
        return
    _positive("reevaluate", top, 1)
    _positive("reevaluate_seeds", seeds, 1)
    if objectives.multi:
        raise ConfigError("reevaluate works with one objective for now: genomes are ranked on one mean score")


def _launch(config: SearchConfig, strategy: Strategy, space: SearchSpace, dataset,
            runner: executors_module.Executor, run_dir: str | Path | None, resume: bool, retry_failed: bool,
            callbacks: Iterable[Callable[[dict], None]], verbose: bool, timeout: float | None) -> Run:
    """Start the executor, then the search; the executor is closed however the search ends."""
    budget = Budget.from_dict(config.budget)
    try:
        # started before the run folder is written: a cluster that is not there leaves nothing behind
        runner.start(executors_module.Job(space, dataset, budget, config.seed))
        config = config.replace(executor=runner.describe(),
                                in_flight=strategy.in_flight(runner.capacity, config.population * config.generations))
        return _search(config, strategy, space, dataset, budget, runner, run_dir, resume, retry_failed,
                       callbacks, verbose, timeout)
    finally:
        runner.close()  # drops what is still pending


def _open_folder(config: SearchConfig, run_dir: str | Path | None, resume: bool, dataset,
                 verbose: bool) -> tuple[RunFolder, SearchConfig]:
    """The run folder: a new one with ``config``, or (``resume``) the recorded one, which ``config`` must match."""
    if not resume:
        folder = RunFolder.create(run_dir or default_run_dir(), config.to_dict())
        splits = dataset.splits_csv() if hasattr(dataset, "splits_csv") else None
        if splits is not None:  # datasets read from files record which image went to which split
            folder.write_bytes("splits.csv", splits)
        return folder, config
    if run_dir is None:
        raise ConfigError("resume=True needs the run_dir of the run to continue")
    folder = RunFolder.open(run_dir)
    recorded = SearchConfig.from_dict(folder.read_config())
    if config.in_flight is not None and recorded.in_flight not in (None, config.in_flight):
        if verbose:
            print(f"nas: keeping {recorded.in_flight} evaluations in flight as this run did (not "
                  f"{config.in_flight}), so that it resumes exactly")
        config = config.replace(in_flight=recorded.in_flight)
    differences = config.differences(recorded)
    if differences:
        raise ConfigError(f"cannot resume {folder.path}: the given config differs from the recorded one in "
                          + "; ".join(differences))
    return folder, config


def _search(config: SearchConfig, strategy: Strategy, space: SearchSpace, dataset, budget: Budget, runner,
            run_dir: str | Path | None, resume: bool, retry_failed: bool,
            callbacks: Iterable[Callable[[dict], None]], verbose: bool, timeout: float | None) -> Run:
    folder, config = _open_folder(config, run_dir, resume, dataset, verbose)
    state = SearchState(config, space, dataset, budget, runner, folder, Reporter(verbose), callbacks)
    if timeout is not None:
        state.deadline = state.reporter.deadline = time.perf_counter() + timeout
        if config.reevaluate:
            state.reporter.note(f"the search stops early enough to leave its re-evaluation the time it is expected "
                                f"to take within the limit of {timeout:g} s (the time the top genomes took to reach "
                                f"their rung)")
    received: list[int] = []
    try:
        with sigterm_as_interrupt(received):
            if retry_failed:
                state.retry_failed()
            strategy.run(state, list(config.initial), resume)
            reevaluation = None if state.past_deadline() else config.reevaluate  # it may need the time kept for it
            if state.timed_out:
                kept = f", less {state.reserve():.1f} s kept for the re-evaluation" if reevaluation else ""
                skipped = " and its re-evaluation" if config.reevaluate and not reevaluation else ""
                state.reporter.note(f"time limit of {timeout:g} s reached{kept}: stopped before the search's end"
                                    f"{skipped}; continue with `nas resume {folder.path}`")
            result = reevaluate_top(state, reevaluation["top"], reevaluation["seeds"]) if reevaluation else None
            if result is not None:
                _report_reevaluation(result, state.reporter)
            best = state.best_record() if result is None else state.cache[result["ranking"][0]]
            state.reporter.finish(best, result)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated) or bool(received)  # Ray re-raises a plain interrupt
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"nas: {what}; every finished evaluation is in {folder.path / 'evaluations.jsonl'}; continue with "
              f"`nas resume {folder.path}` or nas.resume({str(folder.path)!r})", file=sys.stderr, flush=True)
        if terminated and not isinstance(interrupt, Terminated):
            raise Terminated() from interrupt
        raise
    run = Run(folder.path, space=space)
    try:
        plot_run(run)
    except Exception as error:  # noqa: BLE001 - a missing plot must not lose a finished search
        warnings.warn(f"could not write the plots of {folder.path}: {error}; try `nas plot {folder.path}`",
                      stacklevel=3)
    return run


def _report_reevaluation(result: dict, reporter: Reporter) -> None:
    best = result["ranking"][0]
    row = result["genomes"][best]
    error = f" +- {row['standard_error']:.4f}" if row["standard_error"] is not None else ""
    noise = f"{result['noise_std']:.4f}" if result["noise_std"] is not None else "unknown"
    reporter.note(f"re-evaluated with {result['seeds']} seeds: best {best} {result['objective']} mean "
                  f"{row['mean']:.4f}{error}; evaluation noise (std between seeds) {noise}")


def resume(run_dir: str | Path, *, space: SearchSpace | None = None, data: "Dataset | tuple | dict | str | None" = None,
           executor: str | executors_module.Executor | None = None, callbacks: Iterable[Callable[[dict], None]] = (),
           generations: int | None = None, retry_failed: bool = False, timeout: float | None = None,
           verbose: bool = True) -> Run:
    """Continue the run in ``run_dir`` from its last checkpoint with the settings recorded in its ``config.json``.

    ``space`` and ``data`` are needed only for runs whose space or data cannot be rebuilt from the record (a custom
    space, data given as arrays). Evaluations already in the log are not trained again, except, with
    ``retry_failed``, those that failed through the machinery (timeout, lost node, killed worker). ``generations``
    changes the number of generations the run goes to (the only setting that may change; it is rewritten in
    ``config.json``). ``executor`` defaults to the one the run recorded (a Ray run resumes on Ray with the same
    settings); another executor gives the same result. ``timeout``: as in :func:`evolve`, counted from now.
    """
    _check_timeout(timeout)
    folder = RunFolder.open(run_dir)
    config = SearchConfig.from_dict(folder.read_config())
    if generations is not None and generations != config.generations:
        done = len(folder.read_generations())
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < max(1, done):
            raise ConfigError(f"generations must be an integer >= {max(1, done)} (the run has finished {done}), "
                              f"got {generations!r}")
        if verbose:
            print(f"nas: generations of {run_dir} changed from {config.generations} to {generations}, as asked")
        config = config.replace(generations=generations)
        folder.write_json(CONFIG, config.to_dict())
    if executor is None:  # the executor the run was started with, its settings and fitness included
        executor = executors_module.recorded(config.executor)
    elif isinstance(executor, str):  # keep the fitness the run was started with (for example a simulated one)
        executor = executors_module.resolve(executor, executors_module.recorded_evaluate(config.executor))
    space = resolve_space(space) if space is not None else space_from_config(config.space)
    dataset = data_module.coerce(config.data if data is None else data)
    # what was given must be what the run recorded: compared field by field when the folder is opened
    given = config.replace(space=space.to_config(), data=dataset.spec, input_shape=list(dataset.input_shape),
                           class_names=list(dataset.class_names))
    return _launch(given, resolve_strategy(config.algorithm), space, dataset, executors_module.resolve(executor),
                   run_dir, True, retry_failed, callbacks, verbose, timeout)


def _nas_version() -> str:
    from .. import __version__

    return __version__
