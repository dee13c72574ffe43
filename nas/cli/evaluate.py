"""``nas evaluate``: a run's model scored on another labelled data set (:mod:`nas.evaluate`). TensorFlow is loaded by
the handler, not by the parser."""
from __future__ import annotations

import argparse

from .options import positive_int


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas evaluate`` to the CLI's sub-commands."""
    parser = commands.add_parser(
        "evaluate", help="score a run's model on another labelled data set (external evaluation)",
        description="Score the run's final model (or --model FILE.keras) on every image of another labelled set and "
                    "write report.json, report.md and confusion_matrix.png to RUN/evaluations/NAME/; the run's own "
                    "report is left alone. Labels are matched to the model's classes by name.")
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("--data", required=True, metavar="SPEC",
                        help="isic:GROUND_TRUTH.csv[:IMAGES] | folder:PATH | ham10000:PATH (every image; the run's "
                             "own data: its test split) | synthetic | digits (their test split)")
    parser.add_argument("--name", default=None, help="folder name under RUN/evaluations/ (default: from the data spec)")
    parser.add_argument("--model", default=None, metavar="FILE.keras",
                        help="score this model file instead of the run's final/model.keras")
    parser.add_argument("--tta", type=positive_int, default=1, metavar="N",
                        help="test-time augmentation: average N views (flips, rotations); reports with and without")
    parser.add_argument("--no-robustness", action="store_true",
                        help="leave out the robustness report (balanced accuracy under camera-like shifts)")
    parser.add_argument("--shades-of-gray", action="store_true",
                        help="apply Shades of Gray colour constancy to every image before the model")
    parser.add_argument("--image-size", type=positive_int, default=None,
                        help="input size in pixels, only for a model whose input size is not fixed")
    parser.set_defaults(handler=_command)


def _line(label: str, summary: dict) -> str:
    figures = [f"accuracy {summary['accuracy']:.4f}", f"balanced accuracy {summary['balanced_accuracy']:.4f}"]
    if summary.get("melanoma_sensitivity") is not None:
        figures.append(f"melanoma recall {summary['melanoma_sensitivity']:.4f}")
    return f"{label:<22} " + "  ".join(figures)


def _command(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate

    result = evaluate(args.run_dir, args.data, name=args.name, model=args.model, tta=args.tta,
                      robustness=not args.no_robustness, colour_constancy=args.shades_of_gray,
                      image_size=args.image_size, progress=print)
    report = result["report"]
    what = report["evaluation"]
    print(f"\n{what['scored']} of {what['listed']} images scored ({len(what['missing'])} missing, "
          f"{len(what['unreadable'])} unreadable); probabilities "
          f"{'calibrated' if report['temperature_scaling']['applied'] else 'not calibrated'}")
    tta = report.get("test_time_augmentation")
    if tta:
        print(_line("without TTA", tta["without"]))
        print(_line(f"with TTA ({tta['views']} views)", tta["with"]))
    else:
        print(_line("model", report))
    if report.get("robustness"):
        robust = report["robustness"]
        print(f"robustness: mean balanced accuracy under shifts {robust['mean_shifted_balanced_accuracy']:.4f}"
              + ("" if robust["ratio_to_clean"] is None else f" ({robust['ratio_to_clean']:.2f} of clean)"))
    print(f"written: {', '.join(result['files'])}")
    return 0
