"""The ``nas`` command line (also ``python -m nas``).

User mistakes (a bad path, setting or data) print one line, ``nas: error: ...``, and exit with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .errors import NasError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM

# Modules that add their own sub-command: each has ``add_parser(commands)``, which adds a parser to the ``commands``
# sub-parsers and sets its ``handler`` default to a function ``handler(args) -> exit status``. Keep their imports of
# TensorFlow inside the handlers so that ``nas --help`` stays fast.
EXTENSIONS: list[str] = [".retrain", ".export", ".serve", ".explain"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_executor_options(parser: argparse.ArgumentParser, default: str | None = "local") -> None:
    default_help = "default: one worker process" if default else "default: the executor the run was started with"
    parser.add_argument("--executor", choices=("local", "inline", "ray"), default=default,
                        help=f"local (one worker process), inline (this process) or ray (parallel, on this machine "
                             f"or a cluster); {default_help}")
    ray = parser.add_argument_group("Ray (with --executor ray)")
    ray.add_argument("--ray-address", default=None, metavar="ADDRESS",
                     help="auto (the cluster this machine joined with `ray start`), HOST:PORT or ray://HOST:10001; "
                          "default: start a local Ray instance")
    ray.add_argument("--cpus-per-trial", type=_positive_float, default=None, help="CPUs per trial (default 1)")
    ray.add_argument("--gpus-per-trial", type=float, default=None,
                     help="GPUs per trial; fractions such as 0.5 pack several trainings on one GPU (default 0)")
    ray.add_argument("--max-concurrent", type=_positive_int, default=None,
                     help="trials at once (default: as many as the cluster's resources allow)")
    ray.add_argument("--trial-timeout", type=_positive_float, default=None, metavar="SECONDS",
                     help="cancel a trial running longer than this and record it failed")
    ray.add_argument("--reuse-workers", action=argparse.BooleanOptionalAction, default=None,
                     help="reuse a worker process for up to 10 trials, clearing the Keras session between them "
                          "(default); --no-reuse-workers starts a fresh process for every trial")


RAY_OPTIONS = ("ray_address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "trial_timeout")


def _executor(args, evaluate=None):
    """The executor the command line asks for; ``evaluate`` replaces the fitness (simulated or recorded runs)."""
    from .errors import ConfigError
    from .executors import resolve

    if args.executor != "ray":
        given = [f"--{name.replace('_', '-')}" for name in RAY_OPTIONS if getattr(args, name) is not None]
        if args.reuse_workers is not None:
            given.append("--[no-]reuse-workers")
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --executor ray")
        return resolve(args.executor, evaluate)
    from .executors import RayExecutor

    options = {name: getattr(args, name) for name in (*RAY_OPTIONS[1:], "reuse_workers")
               if getattr(args, name) is not None}
    return RayExecutor(address=args.ray_address, evaluate=evaluate, **options)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description="Genetic-algorithm neural architecture search.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser("search", help="run a genetic search", description="Run a genetic search and "
                                 "write its run folder.")
    search.add_argument("--space", default="cnn", help="search space: cnn or resnet50 (default cnn)")
    search.add_argument("--weights", default=None,
                        help="resnet50 backbone weights: a local .h5 file, or 'imagenet' if Keras has them cached")
    search.add_argument("--data", default="synthetic",
                        help="synthetic[:N] | digits | ham10000:PATH (HAM10000's official layout) | folder:PATH (one "
                             "folder per class) (default synthetic)")
    search.add_argument("--image-size", type=_positive_int, default=None, help="input size in pixels (synthetic: 32)")
    search.add_argument("--population", type=_positive_int, default=12)
    search.add_argument("--generations", type=_positive_int, default=6, help="generations, the first included")
    search.add_argument("--epochs", type=_positive_int, default=1, help="training epochs per evaluation")
    search.add_argument("--max-train-samples", type=_positive_int, default=None)
    search.add_argument("--max-params", type=_positive_int, default=None, help="reject larger models before training")
    search.add_argument("--objectives", default=None,
                        help="comma-separated metrics; '-' minimises (e.g. val_accuracy,-params); default: the "
                             "data's (val_balanced_accuracy for HAM10000, val_accuracy otherwise)")
    search.add_argument("--class-weights", action=argparse.BooleanOptionalAction, default=None,
                        help="weight the loss by inverse class frequency (default: on for HAM10000, off otherwise)")
    search.add_argument("--run-dir", default=None, help="run folder (default runs/<timestamp>)")
    search.add_argument("--seed", type=int, default=0)
    _add_executor_options(search)
    search.add_argument("--algorithm", choices=("generational", "aging"), default="generational",
                        help="generational (default) or aging: asynchronous regularized evolution that keeps every "
                             "Ray worker busy")
    search.add_argument("--simulate", type=float, default=None, metavar="SECONDS",
                        help="score genomes with a deterministic stand-in that sleeps SECONDS instead of training "
                             "(to try the search machinery in seconds)")
    search.add_argument("--quiet", action="store_true", help="print only the final summary")

    resume = commands.add_parser("resume", help="continue an interrupted search")
    resume.add_argument("run_dir")
    resume.add_argument("--generations", type=_positive_int, default=None,
                        help="change the number of generations the run goes to (e.g. to extend a finished run)")
    resume.add_argument("--retry-failed", action="store_true",
                        help="first train again the evaluations that failed through the machinery (timeout, lost "
                             "node, killed worker); failures of the genome itself (exception, NaN loss, too large) "
                             "stand")
    _add_executor_options(resume, default=None)
    resume.add_argument("--quiet", action="store_true")

    runs = commands.add_parser("runs", help="list run folders or show one")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="list|show")
    listing = runs_commands.add_parser("list", help="one line per run folder")
    listing.add_argument("root", nargs="?", default="runs")
    show = runs_commands.add_parser("show", help="config, generations, best genome and failures of a run")
    show.add_argument("run_dir")

    plot = commands.add_parser("plot", help="write plots/fitness.png (and pareto.png) of a run")
    plot.add_argument("run_dir")

    for module_name in EXTENSIONS:
        importlib.import_module(module_name, __package__).add_parser(commands)
    return parser


def _search(args) -> int:
    from . import data as data_module
    from .engine import evolve
    from .training import Budget

    dataset = data_module.parse(args.data, image_size=args.image_size, seed=args.seed)
    budget = Budget(epochs=args.epochs, max_train_samples=args.max_train_samples, max_params=args.max_params,
                    class_weighted=args.class_weights)
    space = args.space
    if args.weights is not None:
        from .space import builtin_space

        space = builtin_space(args.space, weights=args.weights)
    evaluate = None
    if args.simulate is not None:
        import functools

        from .training import simulate

        evaluate = functools.partial(simulate, seconds=args.simulate)
    run = evolve(space, dataset, population=args.population, generations=args.generations,
                 objectives=args.objectives, budget=budget, executor=_executor(args, evaluate),
                 run_dir=args.run_dir, seed=args.seed, algorithm=args.algorithm, verbose=not args.quiet)
    _print_outcome(run)
    return 0


def _print_outcome(run) -> None:
    best = run.best
    print(f"run folder: {run.path}")
    if best is not None:
        print(f"best genome {best.genome_hash}: " + ", ".join(f"{k}={v}" for k, v in best.metrics.items()))
    print(f"inspect: nas runs show {run.path}    plots: {run.path / 'plots'}")


def _resume(args) -> int:
    from .errors import ConfigError
    from .engine import resume
    from .executors import recorded_evaluate
    from .runfolder import read_config

    if args.executor is None:  # as recorded, Ray settings included
        given = [f"--{name.replace('_', '-')}" for name in RAY_OPTIONS if getattr(args, name) is not None]
        if args.reuse_workers is not None:
            given.append("--[no-]reuse-workers")
        if given:
            raise ConfigError(f"{', '.join(given)} need --executor ray when resuming")
        executor = None
    else:
        executor = _executor(args, recorded_evaluate(read_config(args.run_dir)["executor"]))  # simulated stays so
    _print_outcome(resume(args.run_dir, executor=executor, generations=args.generations,
                          retry_failed=args.retry_failed, verbose=not args.quiet))
    return 0


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _runs_list(args) -> int:
    from .run import Run
    from .runfolder import list_runs

    runs = list_runs(args.root)
    if not runs:
        print(f"no run folders under {args.root}")
        return 0
    print(f"{'run':<28} {'space':<9} {'objectives':<24} {'generations':>11} {'evals':>6} {'best':>10}  state")
    for path in runs:
        try:
            run = Run(path)
        except NasError as error:
            print(f"{path.name:<28} unreadable: {error}")
            continue
        best = run.best
        state = "finished" if run.finished else "incomplete"
        print(f"{path.name:<28} {run.config['space']['name']:<9} {','.join(run.objectives):<24} "
              f"{len(run.generations):>5}/{run.config['generations']:<5} {len(run.evaluations):>6} "
              f"{_fmt(best.fitness[0]) if best else '-':>10}  {state}")
    return 0


def _runs_show(args) -> int:
    from .progress import Reporter
    from .run import Run

    run = Run(args.run_dir)
    config = run.config
    data = config["data"]
    print(f"run        {run.path} ({'finished' if run.finished else 'incomplete'}, created {config['created']})")
    print(f"space      {config['space']['name']} ({len(config['space']['genes'])} genes)")
    print(f"data       {data.get('kind')} {json.dumps({k: v for k, v in data.items() if k != 'kind'})}; input "
          f"{'x'.join(map(str, config['input_shape']))}, {len(config['class_names'])} classes")
    print(f"search     population {config['population']} x {config['generations']} generations, seed "
          f"{config['seed']}, objectives {', '.join(run.objectives)}, budget {json.dumps(config['budget'])}")
    print(f"evaluations {len(run.evaluations)} ({sum(r['status'] == 'ok' for r in run.evaluations)} ok, "
          f"{sum(r['status'] == 'cached' for r in run.evaluations)} cached, {len(run.failures)} failed)")
    if run.generations:
        print()
        print(Reporter.table_header(list(run.generations[0]["stats"])))
        for record in run.generations:
            print(Reporter.table_row(record, config["generations"]))
    best = run.best
    if best is not None:
        print(f"\nbest       {best.genome_hash} (evaluation {best.index}, generation {best.generation + 1})")
        print("metrics    " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.metrics.items()))
        print("genome     " + ", ".join(f"{k}={v}" for k, v in best.genome.items()))
    if len(run.objectives) > 1:
        print(f"\nPareto front ({', '.join(run.objectives)}):")
        for member in run.pareto_front:
            print(f"  {member.genome_hash}  " + "  ".join(_fmt(v) for v in member.fitness))
    if run.failures:
        print(f"\nfailures ({len(run.failures)}):")
        for record in run.failures[:10]:
            print(f"  evaluation {record['index']} {record['genome_hash']}: {record['error']}")
    return 0


def _plot(args) -> int:
    from .plots import plot_run
    from .run import Run

    for path in plot_run(Run(args.run_dir)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"search": _search, "resume": _resume, "plot": _plot}
    handler = getattr(args, "handler", None) or handlers.get(args.command) or {
        "list": _runs_list, "show": _runs_show}[args.runs_command]
    try:
        return handler(args)
    except NasError as error:
        print(f"nas: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:  # the search has said where its run folder is and how to resume
        from .engine import Terminated

        return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED
