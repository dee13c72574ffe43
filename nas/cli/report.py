"""``nas report``: write a run's report page (``RUN/report.html``, one self-contained HTML file)."""
from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas report`` to the CLI's sub-commands."""
    report = commands.add_parser("report", help="write RUN/report.html, one self-contained page about a search")
    report.add_argument("run_dir")
    report.add_argument("--out", default=None, help="the HTML file to write (default RUN/report.html)")
    report.add_argument("--top-k", type=int, default=10, help="how many of the best genomes to detail (default 10)")
    report.add_argument("--no-layers", action="store_true",
                        help="leave out the top genomes' layer summaries (faster: no Keras import)")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from ..workbench import write_report

    print(write_report(args.run_dir, args.out, top_k=args.top_k, layers=not args.no_layers))
    return 0
