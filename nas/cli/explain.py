"""``nas explain``: Grad-CAM panels of image files, or faithfulness figures over a run's test split.

Only the parser is built at ``nas --help`` time (:mod:`nas.explain` imports no TensorFlow); TensorFlow, the run's model
and its data are loaded by the handler.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DataError
from ..explain.cam import METHODS
from .options import EXIT_USER_ERROR, positive_int

if TYPE_CHECKING:
    from ..runs.reader import Run

_FIGURES = {"deletion_auc": "deletion AUC (lower is better)", "insertion_auc": "insertion AUC (higher is better)",
            "energy_in_mask": "energy in mask (higher is better)", "pointing_game": "pointing game (higher is better)"}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas explain`` to the CLI's sub-commands."""
    parser = commands.add_parser(
        "explain", help="Grad-CAM overlays of images, or faithfulness figures over the test split",
        description="Explain the run's model (final/model.keras when retrained, else the search's best genome, "
                    "trained once and saved to best/model.keras): write original | heatmap | overlay panels of the "
                    "given images, or with --evaluate measure how faithful the heatmaps are on the test split.")
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="JPEG or PNG files, any size and colour mode")
    parser.add_argument("--out", default=None, help="output folder (default RUN/explain/)")
    parser.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                        help="explain this class instead of each image's predicted class")
    parser.add_argument("--method", choices=METHODS, default="gradcam")
    parser.add_argument("--evaluate", action="store_true",
                        help="deletion/insertion AUC, energy in mask and pointing game against random heatmaps over "
                             "the test split; writes explain/faithfulness.json")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="with --evaluate: the first N test images")
    parser.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from ..runs import Run

    run = Run(args.run_dir)
    class_names = list(run.config["class_names"])
    wanted = None
    if args.class_name is not None:
        if args.class_name not in class_names:
            raise ConfigError(f"--class {args.class_name}: not a class of this run; classes: {', '.join(class_names)}")
        wanted = class_names.index(args.class_name)
    if args.evaluate:
        if args.images:
            raise ConfigError("--evaluate uses the run's test split; give no IMAGE files with it")
        return _evaluate(run, args, wanted)
    if not args.images:
        raise ConfigError("give one or more IMAGE files to explain (JPEG or PNG), or --evaluate for faithfulness "
                          "figures over the test split")
    return 0 if _explain_files(run, args, class_names, wanted) else EXIT_USER_ERROR


def _explain_files(run: Run, args: argparse.Namespace, class_names: list[str], wanted: int | None) -> bool:
    """Write one panel per readable image; True when every image was explained."""
    from ..explain.cam import _explain
    from ..explain.panels import caption, panel_png, save_panel
    from ..images import read_image
    from ..runs.writer import RunFolder

    out = Path(args.out) if args.out else None  # None: RUN/explain/, written through the run folder
    model = None
    inputs, displays, names, failed = [], [], [], 0
    for name in args.images:
        try:
            picture = read_image(name)
        except DataError as error:
            print(f"nas explain: skipped {error}", file=sys.stderr)
            failed += 1
            continue
        if model is None:
            model = run.model()
            height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
        # Only the model-sized and the panel-sized copies are kept: a folder of 40-megapixel photos must fit in memory.
        inputs.append(read_image(picture, size=(height, width)))
        displays.append(read_image(picture, size=_display_size(picture)))
        names.append(name)
    if model is None:
        return False
    x = np.stack(inputs)
    if channels == 1:
        x = x @ np.float32([0.299, 0.587, 0.114])[:, None]  # ITU-R 601 luma, as PIL's "L" conversion
    heatmaps, probabilities, explained = _explain(model, x, wanted, method=args.method)
    used: set[str] = set()
    for name, display, heatmap, p, index in zip(names, displays, heatmaps, probabilities, explained):
        stem = Path(name).stem
        target, suffix = f"{stem}.png", 1
        while target in used:  # two inputs with one name (a/mole.jpg, b/mole.jpg) must not overwrite each other
            suffix += 1
            target = f"{stem}-{suffix}.png"
        used.add(target)
        title = caption(class_names, p, int(index))
        path = (save_panel(out / target, display, heatmap, title) if out is not None else
                RunFolder(run.path).write_bytes(f"explain/{target}", panel_png(display, heatmap, title)))
        print(f"{name}: {title} -> {path}")
    return failed == 0


def _display_size(picture: np.ndarray, longest: int = 384) -> tuple[int, int]:
    """(height, width) for the panel: the photo's aspect, its longer side ``longest`` pixels (small images grow)."""
    height, width = picture.shape[:2]
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _evaluate(run: Run, args: argparse.Namespace, wanted: int | None) -> int:
    from ..explain.faithfulness import evaluate_faithfulness
    from ..runs.writer import RunFolder

    dataset = run.dataset()
    x, masks = dataset.x_test[:args.limit], dataset.masks_test
    masks = None if masks is None else masks[:args.limit]
    model = run.model()
    result = evaluate_faithfulness(model, x, masks, class_index=wanted, method=args.method)
    result["split"] = "test"
    path = RunFolder(run.path).write_json("explain/faithfulness.json", result)
    print(f"faithfulness of {args.method} on {result['images']} test images (layer {result['layer']}, class "
          f"{args.class_name or 'predicted'}, {result['baseline']} baseline, {result['steps']} steps)")
    print(f"{'':34}{args.method:>10}{'random':>10}{'s.e.':>8}")
    for key, label in _FIGURES.items():
        if key in result:
            figure = result[key]
            print(f"{label:34}{figure['heatmap']:>10.3f}{figure['random']:>10.3f}{figure['standard_error']:>8.3f}")
    if masks is None:
        print("(no lesion masks in this dataset: energy in mask and pointing game not measured)")
    measured = [key for key in _FIGURES if key in result]
    print(f"{args.method} beats random heatmaps by over 2 s.e. on {len(result['better_than_random'])} of "
          f"{len(measured)} figures" + ("" if len(result["better_than_random"]) == len(measured) else
                                        ": do not rely on its heatmaps for this model"))
    print(f"wrote {path}")
    return 0
