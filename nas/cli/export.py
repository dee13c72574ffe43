"""``nas export``: write a run's model as a Keras file or a TFLite flat buffer and check it against the Keras model.

:mod:`nas.export` is light to import (its TensorFlow imports are inside its functions), so its option lists are read
at parser time; the export itself runs in the handler.
"""
from __future__ import annotations

import argparse

from ..export import FORMATS, LATENCY_REPEATS, MIN_FLOAT_AGREEMENT, QUANTIZE


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas export RUN --format keras|tflite [--quantize float16|int8] [--out PATH]``."""
    parser = commands.add_parser(
        "export", help="export a run's model (Keras or TFLite) and check it against the Keras model",
        description="Write the run's model (final/model.keras if retrained, else the search's best genome) as a Keras "
                    "file or a TFLite flat buffer, print its size and per-image CPU latency, and check its top-1 "
                    "predictions against the Keras model on the test split (an unquantised export must agree on "
                    f"{MIN_FLOAT_AGREEMENT:.0%}).")
    parser.add_argument("run_dir", help="the run folder")
    parser.add_argument("--format", choices=FORMATS, default="keras")
    parser.add_argument("--quantize", choices=QUANTIZE, default=None,
                        help="tflite only: float16 weights, or int8 weights and activations calibrated on the "
                             "training split")
    parser.add_argument("--out", default=None, help="file to write (default RUN/export/model[_QUANTIZE].FORMAT)")
    parser.add_argument("--data", default=None,
                        help="data to check the export on (default: the run's), e.g. ham10000:PATH; images are "
                             "resized to the run's input size")
    parser.add_argument("--repeats", type=int, default=LATENCY_REPEATS, help="single-image calls timed per latency")
    parser.set_defaults(handler=_handle)


def _megabytes(size: int) -> str:
    return f"{size / 2 ** 20:.2f} MB"


def _handle(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..export import _check_options, export
    from ..runs import Run

    if args.repeats < 1:
        raise ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
    _check_options(args.format, args.quantize)
    run = Run(args.run_dir)
    data = None
    if args.data is not None:
        from .. import data as data_module

        data = data_module.parse(args.data, image_size=run.config["input_shape"][0],
                                 seed=run.config["data"].get("seed", run.config["seed"]))
    if run.model_path() is None:
        print(f"{run.path} has no saved model yet: training the search's best genome as the search did (saved to "
              f"best/model.keras for next time)", flush=True)
    figures = export(run, args.format, args.quantize, args.out, data, repeats=args.repeats)
    kind = args.format + (f", {args.quantize}" if args.quantize else "")
    print(f"wrote {figures['path']} ({kind}): {_megabytes(figures['size_bytes'])}")
    print(f"per-image CPU latency: {figures['latency_ms']:.2f} ms (Keras model {figures['keras_latency_ms']:.2f} ms), "
          f"median of {args.repeats}")
    threshold = "" if figures["min_agreement"] is None else f" (required {figures['min_agreement']:.0%})"
    print(f"top-1 agreement with the Keras model on the test split: {figures['agreement']:.1%} "
          f"({figures['agreeing']}/{figures['test_images']} images){threshold}")
    return 0
