"""``nas resume``: continue an interrupted search (or extend a finished one) from its run folder."""
from __future__ import annotations

import argparse

from .options import add_executor_options, duration, executor, positive_int, ray_options_given
from .search import print_outcome, tensorboard_callbacks


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas resume`` to the CLI's sub-commands."""
    resume = commands.add_parser("resume", help="continue an interrupted search")
    resume.add_argument("run_dir")
    resume.add_argument("--generations", type=positive_int, default=None,
                        help="change the number of generations the run goes to (e.g. to extend a finished run)")
    resume.add_argument("--retry-failed", action="store_true",
                        help="first train again the evaluations that failed through the machinery (timeout, lost "
                             "node, killed worker); failures of the genome itself (exception, NaN loss, too large) "
                             "stand")
    resume.add_argument("--timeout", type=duration, default=None, metavar="DURATION",
                        help="as for nas search, counted from now")
    add_executor_options(resume, default=None)
    resume.add_argument("--tensorboard", action="store_true",
                        help="write the evaluations for TensorBoard's HParams dashboard after each generation")
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(handler=_resume)


def _resume(args: argparse.Namespace) -> int:
    from ..engine import resume
    from ..errors import ConfigError
    from ..executors import recorded_evaluate
    from ..runs import read_config

    if args.executor is None:  # as recorded, Ray settings included
        given = ray_options_given(args)
        if given:
            raise ConfigError(f"{', '.join(given)} need --executor ray when resuming")
        chosen = None
    else:
        chosen = executor(args, recorded_evaluate(read_config(args.run_dir)["executor"]))  # simulated stays so
    _, callbacks = tensorboard_callbacks(args.tensorboard, args.run_dir)
    print_outcome(resume(args.run_dir, executor=chosen, generations=args.generations, callbacks=callbacks,
                         retry_failed=args.retry_failed, timeout=args.timeout, verbose=not args.quiet),
                  args.tensorboard)
    return 0
