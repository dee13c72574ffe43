"""``nas tensorboard``: write a run's evaluations as TensorBoard HParams sessions under RUN/tensorboard."""
from __future__ import annotations

import argparse
import time
import warnings

from .options import positive_float


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas tensorboard`` to the CLI's sub-commands."""
    tensorboard = commands.add_parser(
        "tensorboard", help="write a run's evaluations for TensorBoard's HParams dashboard",
        description="Write a run's evaluations as TensorBoard HParams sessions under RUN/tensorboard (only those not "
                    "written before); view them with `tensorboard --logdir RUN/tensorboard`.")
    tensorboard.add_argument("run_dir")
    tensorboard.add_argument("--follow", action="store_true",
                             help="keep writing new evaluations while the search runs, until it finishes or Ctrl-C")
    tensorboard.add_argument("--interval", type=positive_float, default=10.0, metavar="SECONDS",
                             help="seconds between looks at the run folder with --follow (default 10)")
    tensorboard.set_defaults(handler=_tensorboard)


def _tensorboard(args: argparse.Namespace) -> int:
    from ..runs import Run
    from ..tensorboard import write

    logdir = Run(args.run_dir).path / "tensorboard"
    print(f"view: tensorboard --logdir {logdir}", flush=True)
    try:
        while True:
            with warnings.catch_warnings():  # a torn last line is a record being written: read it next time
                warnings.simplefilter("ignore")
                complete = Run(args.run_dir).complete
                new, total = write(args.run_dir)
            if new or not args.follow:
                print(f"wrote {new} new evaluation(s), {total} in all, to {logdir}", flush=True)
            if complete or not args.follow:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
