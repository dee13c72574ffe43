"""The ``nas`` command line (also ``python -m nas``): one module per command, each with ``add_parser(commands)``.

Each command module adds its parser to the ``commands`` sub-parsers and sets its ``handler`` default to a function
``handler(args) -> exit status``; the modules keep their TensorFlow, Keras and Gradio imports inside the handlers so
that ``nas --help`` stays fast. Domain modules (:mod:`nas.retrain`, :mod:`nas.export`, ...) define no parsers and
import nothing from here.

User mistakes (a bad path, setting or data) print one line, ``nas: error: ...``, and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import NasError
from . import evaluate, explain, export, plot, report, resume, retrain, runs, search, serve, tensorboard
from .options import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USER_ERROR

__all__ = ["COMMANDS", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_USER_ERROR", "main"]

#: The command modules, in the order their commands appear in ``nas --help``.
COMMANDS = (search, resume, runs, plot, report, tensorboard, retrain, evaluate, export, serve, explain)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description="Genetic-algorithm neural architecture search.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``nas`` command line with ``argv`` (default ``sys.argv[1:]``) and return its exit status.

    A user mistake (:class:`nas.errors.NasError`) prints ``nas: error: ...`` and returns 2; an interrupt returns 130
    (Ctrl-C) or 143 (SIGTERM). Argument errors exit through argparse (status 2).
    """
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except NasError as error:
        print(f"nas: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:  # the search has said where its run folder is and how to resume
        from ..engine import Terminated

        return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED
