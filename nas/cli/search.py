"""``nas search``: run a genetic search and write its run folder."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..space import SearchSpace

from .options import add_executor_options, duration, executor, positive_float, positive_int, sample_counts


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas search`` to the CLI's sub-commands."""
    search = commands.add_parser("search", help="run a genetic search", description="Run a genetic search and "
                                 "write its run folder.")
    search.add_argument("--space", default="cnn", help="search space: cnn, resnet50 or modern (default cnn)")
    search.add_argument("--weights", default=None,
                        help="resnet50 backbone weights: a local .h5 file, or 'imagenet' if Keras has them cached")
    search.add_argument("--data", default="synthetic",
                        help="synthetic[:N] | digits | ham10000:PATH (HAM10000's official layout) | folder:PATH (one "
                             "folder per class) | isic:GROUND_TRUTH.csv[:IMAGES] (ISIC challenge layout) (default "
                             "synthetic)")
    search.add_argument("--image-size", type=positive_int, default=None, help="input size in pixels (synthetic: 32)")
    search.add_argument("--population", type=positive_int, default=12)
    search.add_argument("--generations", type=positive_int, default=6, help="generations, the first included")
    search.add_argument("--epochs", type=positive_int, default=1, help="training epochs per evaluation")
    _add_strategy_options(search)
    search.add_argument("--max-train-samples", type=positive_int, default=None)
    search.add_argument("--max-params", type=positive_int, default=None, help="reject larger models before training")
    search.add_argument("--max-flops", type=positive_int, default=None,
                        help="reject models needing more FLOPs per image (forward pass, a multiply-add counts 2) "
                             "before training")
    search.add_argument("--max-epoch-seconds", type=positive_float, default=None, metavar="SECONDS",
                        help="stop a genome's training, as failed, when its first batches project an epoch longer "
                             "than this on this machine")
    search.add_argument("--objectives", default=None,
                        help="comma-separated metrics; '-' minimises (e.g. val_accuracy,-params); default: the "
                             "data's (val_balanced_accuracy for HAM10000, val_accuracy otherwise)")
    search.add_argument("--class-weights", action=argparse.BooleanOptionalAction, default=None,
                        help="weight the loss by inverse class frequency (default: on for HAM10000 unless "
                             "--oversample, off otherwise)")
    search.add_argument("--oversample", action="store_true",
                        help="draw every epoch's training images class-balanced instead of weighting the loss, as "
                             "nas retrain's default recipe does")
    search.add_argument("--run-dir", default=None, help="run folder (default runs/<timestamp>)")
    search.add_argument("--seed", type=int, default=0)
    add_executor_options(search)
    search.add_argument("--algorithm", choices=("generational", "aging"), default="generational",
                        help="generational (default) or aging: asynchronous regularized evolution that keeps every "
                             "Ray worker busy")
    search.add_argument("--simulate", type=float, default=None, metavar="SECONDS",
                        help="score genomes with a deterministic stand-in that sleeps SECONDS instead of training "
                             "(to try the search machinery in seconds)")
    search.add_argument("--tensorboard", action="store_true",
                        help="write the evaluations for TensorBoard's HParams dashboard after each generation "
                             "(RUN/tensorboard; view with tensorboard --logdir RUN/tensorboard)")
    search.add_argument("--quiet", action="store_true", help="print only the final summary")
    search.set_defaults(handler=_search)


def _add_strategy_options(search: argparse.ArgumentParser) -> None:
    """The options that shape how the search spends its trainings: fidelity, re-evaluation, limits, inheritance,
    seeding."""
    search.add_argument("--fidelity", default=None, metavar="MIN:MAX:ETA",
                        help="multi-fidelity evolution, e.g. 1:9:3: every genome trains MIN epochs, the best 1/ETA "
                             "of a generation continue to MIN*ETA epochs, ... up to MAX (replaces --epochs)")
    search.add_argument("--rung-samples", type=sample_counts, default=(), metavar="N,...",
                        help="with --fidelity: training images at each rung above the first, 'all' for every one "
                             "(e.g. 4000,all with 1:9:3); the first rung uses --max-train-samples")
    search.add_argument("--reevaluate", type=positive_int, default=0, metavar="K",
                        help="after the search, train the K best genomes again with other seeds and rank them on "
                             "the mean")
    search.add_argument("--reevaluate-seeds", type=positive_int, default=2, metavar="S",
                        help="other seeds per re-evaluated genome (default 2)")
    search.add_argument("--timeout", type=duration, default=None, metavar="DURATION",
                        help="stop starting new work after this long (90, 30m, 1.5h), and work expected to end past "
                             "it: generational ends after the generation in progress, aging after the evaluations in "
                             "flight; with --reevaluate the "
                             "search stops early enough for the re-evaluation to end by then; nas resume continues "
                             "the run")
    search.add_argument("--epoch-budget", type=positive_int, default=None, metavar="EPOCHS",
                        help="aging only: the training epochs the whole search may spend; it ends before the first "
                             "evaluation that would not fit (give --generations room)")
    search.add_argument("--inherit", action="store_true",
                        help="weight inheritance: a child starts from its first parent's trained weights wherever "
                             "layer names and shapes match")
    search.add_argument("--immigrants", type=float, default=0.0, metavar="SHARE",
                        help="share of the genomes bred after the first generation that are random ones instead of "
                             "children (e.g. 0.25: every fourth); default 0")
    search.add_argument("--crossover", default="uniform", choices=("uniform", "linked"),
                        help="uniform (default): a coin per gene; linked: a coin per group of genes the space links "
                             "(one block's genes, the optimizer and its learning rate)")
    search.add_argument("--initial", action="append", default=[], metavar="DESIGN|FILE.json",
                        help="put this genome in the first generation (repeatable): a design of the space (cnn: "
                             "table1; modern: plain4, plain4-stride2) or a JSON file of one genome or a list")
    search.add_argument("--seed-per-genome", action="store_true",
                        help="train each genome with its own seed (default: the same seed for every genome, so "
                             "they are compared under the same luck)")


def _search(args: argparse.Namespace) -> int:
    from .. import data as data_module
    from ..engine import evolve
    from ..space import builtin_space
    from ..training import Budget

    growth = _rung_samples(args)
    dataset = data_module.parse(args.data, image_size=args.image_size, seed=args.seed)
    budget = Budget(epochs=args.epochs, max_train_samples=args.max_train_samples, max_params=args.max_params,
                    max_flops=args.max_flops, samples_from_epoch=growth,
                    max_epoch_seconds=args.max_epoch_seconds, class_weighted=args.class_weights,
                    oversample=args.oversample,
                    seeding="genome" if args.seed_per_genome else "run")
    space = builtin_space(args.space, **({} if args.weights is None else {"weights": args.weights}))
    initial = initial_genomes(args.initial, space)
    evaluate = None
    if args.simulate is not None:
        import functools

        from ..training import simulate

        evaluate = functools.partial(simulate, seconds=args.simulate)
    run_dir, callbacks = tensorboard_callbacks(args.tensorboard, args.run_dir)
    run = evolve(space, dataset, population=args.population, generations=args.generations,
                 objectives=args.objectives, budget=budget, executor=executor(args, evaluate),
                 run_dir=run_dir, seed=args.seed, algorithm=args.algorithm, fidelity=args.fidelity,
                 reevaluate=args.reevaluate, reevaluate_seeds=args.reevaluate_seeds, inherit=args.inherit,
                 immigrants=args.immigrants, crossover=args.crossover, epoch_budget=args.epoch_budget,
                 timeout=args.timeout, callbacks=callbacks, initial=initial, verbose=not args.quiet)
    print_outcome(run, args.tensorboard)
    return 0


def _rung_samples(args: argparse.Namespace) -> tuple:
    """``Budget.samples_from_epoch`` from ``--rung-samples`` and ``--fidelity``."""
    from ..errors import ConfigError
    from ..fidelity import Fidelity

    if not args.rung_samples:
        return ()
    if args.fidelity is None:
        raise ConfigError("--rung-samples needs --fidelity: it gives the training images of each rung above the first")
    return Fidelity.parse(args.fidelity).samples_from_epoch(*args.rung_samples)


def initial_genomes(specs: list[str], space: SearchSpace) -> list[dict]:
    """The genomes ``--initial`` names, each a design of the built-in space ``space`` or a JSON file holding one
    genome or a list of them; checked against the space here, before a run folder is made."""
    import json
    from pathlib import Path

    from ..errors import ConfigError, InvalidGenomeError
    from ..space import builtin_designs

    known = builtin_designs(space.name) if specs else {}
    genomes: list[dict] = []
    for spec in specs:
        if spec in known:
            genomes.append(known[spec])
            continue
        if not Path(spec).is_file():
            raise ConfigError(f"--initial {spec!r} is neither a design of space {space.name!r} "
                              f"({', '.join(known) or 'it names none'}) nor a JSON file")
        try:
            found = json.loads(Path(spec).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"--initial {spec}: cannot read a genome from it ({error})") from None
        found = [found] if isinstance(found, dict) else found
        if not isinstance(found, list) or not found or not all(isinstance(g, dict) for g in found):
            raise ConfigError(f"--initial {spec}: expected a genome (a JSON object of gene: value) or a list of them")
        for genome in found:
            try:
                space.check(genome)
            except InvalidGenomeError as error:
                raise ConfigError(f"--initial {spec}: {error}") from None
        genomes += found
    return genomes


def tensorboard_callbacks(wanted: bool, run_dir: str | None) -> tuple[Any, list]:
    """The run folder and search callbacks for ``--tensorboard``: a folder is chosen now (the callback writes into
    it) when none was given."""
    if not wanted:
        return run_dir, []
    from ..runs.writer import default_run_dir
    from ..tensorboard import TensorBoardCallback

    folder = run_dir or default_run_dir()
    return folder, [TensorBoardCallback(folder)]


def print_outcome(run: Any, tensorboard: bool = False) -> None:
    """Print where a finished (or resumed) search's run folder is, its best genome, and how to inspect it; with
    ``tensorboard``, first write what the TensorBoard callback has not (the evaluations after the last generation)."""
    if tensorboard:
        from ..tensorboard import write

        write(run.path)
        print(f"TensorBoard: tensorboard --logdir {run.path / 'tensorboard'}")
    best = run.best
    print(f"run folder: {run.path}")
    if best is not None:
        print(f"best genome {best.genome_hash}: " + ", ".join(f"{k}={v}" for k, v in best.metrics.items()))
    print(f"inspect: nas runs show {run.path}    plots: {run.path / 'plots'}")
