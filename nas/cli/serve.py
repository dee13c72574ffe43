"""``nas serve``: the clinician's web page for a run's model. Gradio and TensorFlow are loaded by the handler."""
from __future__ import annotations

import argparse

from .options import positive_int


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas serve RUN [--host 127.0.0.1] [--port 7860] [--tta N]`` to the CLI's sub-commands."""
    parser = commands.add_parser("serve", help="the web page: upload a lesion photo, get class and heatmap",
                                 description="Serve the run's model as a web page (needs pip install \"nas[ui]\").")
    parser.add_argument("run_dir")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                            "only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--tta", type=positive_int, default=1, metavar="N",
                        help="average the probabilities over N flipped and rotated views of the photo, the ones "
                             "training used (default 1: the photo alone)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ..serve import serve

    serve(args.run_dir, args.host, args.port, tta=args.tta)
    return 0
