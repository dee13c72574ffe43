"""``nas plot``: write a run's plots (plots/fitness.png, and pareto.png for several objectives)."""
from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas plot`` to the CLI's sub-commands."""
    plot = commands.add_parser("plot", help="write plots/fitness.png (and pareto.png) of a run")
    plot.add_argument("run_dir")
    plot.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    from ..plots import plot_run
    from ..runs import Run

    for path in plot_run(Run(args.run_dir)):
        print(path)
    return 0
