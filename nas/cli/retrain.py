"""``nas retrain`` (the search's best genome, trained to convergence) and ``nas baseline`` (the paper's baselines
through the same pipeline). TensorFlow is loaded by the handlers, not by the parsers."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..recipe import BALANCES, SCHEDULES, Recipe
from .options import duration, positive_int

if TYPE_CHECKING:
    from ..augment import Augmentation
    from ..data import Dataset


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=positive_int, default=30, help="at most this many epochs (default 30)")
    parser.add_argument("--patience", type=positive_int, default=5,
                        help="stop after this many epochs without a better validation loss (default 5)")
    parser.add_argument("--weights", default=None, help="weights file for the vgg16/resnet50 baselines")
    parser.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    parser.add_argument("--no-class-weights", action="store_true",
                        help="no class balancing: neither oversampling nor class weights (same as --balance none)")
    parser.add_argument("--image-size", type=positive_int, default=None,
                        help="input size in pixels (nas retrain: of --data, else of the run's own data and split)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    recipe = parser.add_argument_group("recipe (default: constant learning rate, cross-entropy, rare classes "
                                       "oversampled; docs/clinical.md)")
    recipe.add_argument("--schedule", choices=SCHEDULES, default=Recipe().schedule,
                        help="learning rate: constant (default), or cosine decay per epoch from the model's own rate")
    recipe.add_argument("--warmup-epochs", type=int, default=0, metavar="N",
                        help="with --schedule cosine, raise the rate linearly over the first N epochs")
    recipe.add_argument("--label-smoothing", type=float, default=0.0, metavar="S",
                        help="train on targets (1 - S) * one-hot + S / classes, S in [0, 1)")
    recipe.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                        help="MixUp: blend pairs of training images with a Beta(ALPHA, ALPHA) weight (e.g. 0.2)")
    recipe.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                        help="CutMix: paste a box of another training image, area from Beta(ALPHA, ALPHA) (e.g. 1)")
    recipe.add_argument("--mix-probability", type=float, default=1.0, metavar="P",
                        help="share of training images mixed by --mixup/--cutmix (default 1)")
    recipe.add_argument("--balance", choices=BALANCES, default=None,
                        help="oversample: every epoch draws the classes equally often (default); weights: "
                             "inverse-frequency class weights on the loss; none")
    recipe.add_argument("--focal-gamma", type=float, default=0.0, metavar="GAMMA",
                        help="focal loss with this gamma (e.g. 2; default 0: cross-entropy)")
    recipe.add_argument("--stop-on", choices=("loss", "balanced-accuracy"), default="loss",
                        help="what early stopping watches on the validation split and which epoch is kept: the "
                             "loss (default) or the balanced accuracy (mean recall over the classes)")
    recipe.add_argument("--max-seconds", type=duration, default=None, metavar="DURATION",
                        help="a time limit for each model trained (1200, 20m): no epoch starts that is expected to "
                             "end past it; the best epoch is kept")
    recipe.add_argument("--color-jitter", default=None, metavar="S | HUE,SAT,CONTRAST",
                        help="random colour changes against other cameras: S jitters saturation and contrast by "
                             "factors in [1-S, 1+S] and hue by up to S/2 of the colour circle (e.g. 0.1)")
    recipe.add_argument("--camera-jitter", default=None, metavar="WHITE_BALANCE,BLUR",
                        help="random white-balance errors (channel gains in [1-W, 1+W]) and defocus (a Gaussian "
                             "blur of up to BLUR of the image side) against other cameras, e.g. 0.15,0.025")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas retrain`` and ``nas baseline`` to the CLI's sub-commands."""
    parser = commands.add_parser("retrain", help="retrain a run's best genome and report on the test split",
                                 description="Train the search's best genome (or its top K) on the training split "
                                 "with augmentation, class weights and early stopping; write RUN/final/.")
    parser.add_argument("run_dir")
    parser.add_argument("--top-k", type=positive_int, default=1, help="retrain the K best genomes (default 1)")
    parser.add_argument("--ensemble", action="store_true",
                        help="keep all K retrained models (needs --top-k or --seeds 2 or more) and make "
                             "final/model.keras their ensemble, the mean of their class probabilities")
    parser.add_argument("--seeds", type=positive_int, default=1,
                        help="with --ensemble: train each of the K genomes this many times with different seeds and "
                             "average all K x N models (--seeds 2: the best genome twice; default 1)")
    parser.add_argument("--data", default=None, help="data to retrain on (default: the run's)")
    parser.add_argument("--baselines", default="", help="also train these: table1,vgg16,resnet50")
    parser.add_argument("--target-sensitivity", type=float, default=0.9, metavar="FRACTION",
                        help="choose the threshold on P(malignant) that finds at least this fraction of the "
                             "validation split's malignant lesions (default 0.9)")
    parser.add_argument("--recall-floor", default=None, metavar="CLASS=FRACTION,...",
                        help="name these classes more readily until the validation split finds at least this "
                             "fraction of them, e.g. mel=0.6 (nas.decision; stored in final/calibration.json)")
    parser.add_argument("--no-robustness", action="store_true",
                        help="do not score the final model under camera-like shifts (nas.shifts) on the test split")
    _add_training_options(parser)
    parser.set_defaults(handler=_retrain_command)

    parser = commands.add_parser("baseline", help="train the paper's baselines with the retrain pipeline",
                                 description="Train table1, vgg16 or resnet50 with the same pipeline, split and "
                                 "budget as nas retrain; write RUN_DIR/baselines.json and a report per model.")
    parser.add_argument("--model", required=True, help="table1, vgg16 or resnet50 (comma-separated for several)")
    parser.add_argument("--data", default=None, help="synthetic | digits | ham10000:PATH | folder:PATH")
    parser.add_argument("--run-dir", default=None, help="output folder (default runs/baselines/<timestamp>); a "
                        "search's run folder lends its data and split")
    parser.add_argument("--seed", type=int, default=0)
    _add_training_options(parser)
    parser.set_defaults(handler=_baseline_command)


def _numbers(value: str, option: str, counts: tuple[int, ...], form: str) -> list[float]:
    try:
        values = [float(v) for v in value.split(",")]
    except ValueError:
        values = []
    if len(values) not in counts:
        raise ConfigError(f"{option} takes {form} numbers, got {value!r}")
    return values


def _augmentation(args: argparse.Namespace) -> Augmentation | None:
    from dataclasses import replace

    from ..augment import Augmentation

    augmentation = Augmentation.none() if args.no_augment else Augmentation()
    if args.color_jitter is None and args.camera_jitter is None:
        return None if args.no_augment else augmentation
    if args.color_jitter is not None:
        values = _numbers(args.color_jitter, "--color-jitter", (1, 3), "S or HUE,SATURATION,CONTRAST")
        hue, saturation, contrast = values if len(values) == 3 else (values[0] / 2, values[0], values[0])
        augmentation = replace(augmentation, hue=hue, saturation=saturation, contrast=contrast)
    if args.camera_jitter is not None:
        white_balance, blur = _numbers(args.camera_jitter, "--camera-jitter", (2,), "WHITE_BALANCE,BLUR")
        augmentation = replace(augmentation, white_balance=white_balance, blur=blur)
    return augmentation


def _recipe(args: argparse.Namespace) -> Recipe:
    if args.no_class_weights and args.balance not in (None, "none"):
        raise ConfigError(f"--no-class-weights contradicts --balance {args.balance}; give one of them")
    balance = args.balance or ("none" if args.no_class_weights else Recipe().balance)
    return Recipe(schedule=args.schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
                  mixup=args.mixup, cutmix=args.cutmix, mix_probability=args.mix_probability, balance=balance,
                  focal_gamma=args.focal_gamma, stop_on=args.stop_on.replace("-", "_"), max_seconds=args.max_seconds)


def _print_report(label: str, report: dict) -> None:
    versus = report.get("versus_searched")
    paired = (f"  searched - this {versus['balanced_accuracy']['difference']:+.4f} ± "
              f"{versus['balanced_accuracy']['standard_error']:.4f} (paired)" if versus else "")
    print(f"{label:<28} accuracy {report['accuracy']:.4f}  balanced accuracy {report['balanced_accuracy']:.4f} ± "
          f"{report['standard_errors']['balanced_accuracy']:.4f}  macro F1 {report['macro']['f1']:.4f}{paired}")


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_calibration(block: dict) -> None:
    print(f"calibration: temperature {block['temperature']:.3f} (fitted on {block['fitted_on']['n_images']} "
          f"validation images); test ECE {block['ece_before']:.4f} before, {block['ece_after']:.4f} after")
    floors = block.get("recall_floors")
    if floors:
        print("recall floors (fitted on validation): " + "; ".join(
            f"{name} >= {floor} (log offset {floors['offsets'][name]}): test recall "
            f"{_fraction(floors['recall_before'][name])} -> {_fraction(floors['recall_after'][name])}"
            for name, floor in floors["floors"].items())
            + f"; test balanced accuracy {floors['balanced_accuracy_before']:.4f} -> "
              f"{floors['balanced_accuracy_after']:.4f}")
    point = block["operating_point"]
    if point is None:
        print("; ".join(block["notes"]))
        return
    figures = {key: "n/a" if point[key] is None else f"{point[key]:.3f}"
               for key in ("validation_sensitivity", "sensitivity", "specificity")}
    print(f"operating point: P(malignant) >= {point['threshold']:.4f} (validation sensitivity "
          f"{figures['validation_sensitivity']}, target {point['target_sensitivity']}); test sensitivity "
          f"{figures['sensitivity']}, specificity {figures['specificity']}")


def _run_data_at(run_dir: str, config: dict, image_size: int) -> dict:
    """The run's own data spec at another input size: the same source, seed and split (its ``splits.csv`` where the
    run wrote one), so a search at a small size can hand its genome to a retrain at a larger one."""
    from pathlib import Path

    spec = dict(config["data"])
    if "image_size" not in spec:
        raise ConfigError(f"--image-size: the run's data ({spec.get('kind')}) has no input size to change; "
                          "give --data with the images at the size you want")
    splits = Path(run_dir) / "splits.csv"
    return spec | {"image_size": image_size} | ({"splits_file": str(splits)} if "splits_file" in spec
                                                  and splits.is_file() else {})


def _retrain_command(args: argparse.Namespace) -> int:
    from .. import data as data_module
    from ..ranking import describe
    from ..retrain import retrain
    from ..runs import read_config

    data: "Dataset | dict | None" = None
    if args.data is not None:
        config = read_config(args.run_dir)
        data = data_module.parse(args.data, image_size=args.image_size or config["input_shape"][0],
                                 seed=config["data"].get("seed", config["seed"]))
    elif args.image_size is not None:
        data = _run_data_at(args.run_dir, read_config(args.run_dir), args.image_size)
    summary = retrain(args.run_dir, epochs=args.epochs, top_k=args.top_k, data=data, baselines=args.baselines,
                      weights=args.weights, patience=args.patience, augmentation=_augmentation(args),
                      recipe=_recipe(args), target_sensitivity=args.target_sensitivity, verbose=not args.quiet,
                      ensemble=args.ensemble, seeds=args.seeds, robustness=not args.no_robustness,
                      recall_floors=args.recall_floor)
    print(f"\ntest split ({summary['test']['n_samples']} images):")
    members = summary["ensemble"]
    _print_report(f"ensemble of {len(members)}" if members else f"retrained {summary['genome_hash']}",
                  summary["test"])
    for name, report in summary["baselines"].items():
        _print_report(name, report)
    print(describe(summary["proxy_rank_correlation"]))
    _print_calibration(summary["test"]["calibration"])
    shifted = summary["test"].get("robustness")
    if shifted:
        print(f"camera-like shifts: mean balanced accuracy {shifted['mean_shifted_balanced_accuracy']:.4f} against "
              f"{shifted['clean']['balanced_accuracy']:.4f} clean")
    print(f"written: {', '.join(summary['files'])}")
    return 0


def _baseline_command(args: argparse.Namespace) -> int:
    from .. import data as data_module
    from ..retrain import baseline
    from ..runs import read_config

    data: "Dataset | dict | None" = None
    if args.data is not None:
        data = data_module.parse(args.data, image_size=args.image_size, seed=args.seed)
    elif args.image_size is not None:
        if args.run_dir is None:
            raise ConfigError("--image-size needs --data, or --run-dir of a search run to use its data at that size")
        data = _run_data_at(args.run_dir, read_config(args.run_dir), args.image_size)
    summary = baseline(args.model, data, run_dir=args.run_dir, epochs=args.epochs, patience=args.patience,
                       seed=args.seed, weights=args.weights, augmentation=_augmentation(args),
                       recipe=_recipe(args), verbose=not args.quiet)
    print("\ntest split:")
    for name, report in summary["baselines"].items():
        _print_report(name, report)
    print(f"written to {summary['run_dir']}")
    return 0
