"""A search of HAM10000 (dermoscopy, 7 classes), split by lesion, with the recipe measured in docs/ham10000.md.

    python examples/ham10000_search.py --root /data/ham10000        # an hour on 2 CPU cores, then a 20-minute retrain
    python examples/ham10000_search.py --max-images 600 --image-size 32 --population 4 --generations 2 \
        --fidelity 1:3:3 --rung-samples all --timeout 2m              # a couple of minutes, to try it
    python examples/ham10000_search.py --executor ray --gpus-per-trial 0.5 --population 32 --timeout 4h

--root is a folder in the official layout: HAM10000_metadata.csv and the images in HAM10000_images_part_1/ and
HAM10000_images_part_2/ (see docs/ham10000.md). The defaults are the recipe that met issue 10's HAM10000 verdict on
three search seeds (docs/ham10000.md, "The recipe"): the modern space seeded with its plain 4-stage design, aging
evolution with multi-fidelity rungs of 1, 3 and 9 epochs on 2,000, 4,000 and all training images, class-balanced
epochs, caps on parameters, FLOPs and epoch time, an hour's limit, and the top three re-evaluated on two more seeds.
The search maximises validation balanced accuracy (two thirds of the images are nevi); the test split is not touched
until `nas retrain`, whose command the example prints.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nas
import search_spaces
from nas.cli.options import duration, sample_counts

# $NAS_HAM10000, else ../shared/data/ham10000 beside the repository
DEFAULT_ROOT = Path(os.environ.get("NAS_HAM10000")
                    or Path(__file__).resolve().parents[2] / "shared" / "data" / "ham10000")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help=f"HAM10000 folder (default {DEFAULT_ROOT})")
    parser.add_argument("--image-size", type=int, default=64, help="pixels per side (default 64)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="use a seeded sample of whole lesions holding about this many images (quick runs)")
    parser.add_argument("--space", choices=("modern", "cnn"), default="modern")
    parser.add_argument("--initial", default=None,
                        help="a design of the space to seed the first generation with (default: modern's "
                             "plain4-stride2, cnn's table1; 'none' for none)")
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--generations", type=int, default=40, help="at most; --timeout usually ends the search")
    parser.add_argument("--fidelity", default="1:9:3", help="rungs MIN:MAX:ETA in epochs (default 1:9:3)")
    parser.add_argument("--rung-samples", default="4000,all", help="training images of the rungs above the first")
    parser.add_argument("--max-train-samples", type=int, default=2000, help="training images at the first rung")
    parser.add_argument("--max-params", type=int, default=1_500_000)
    parser.add_argument("--max-flops", type=int, default=150_000_000, help="FLOPs per image (default 150M)")
    parser.add_argument("--max-epoch-seconds", type=float, default=60.0,
                        help="fail a genome whose epoch of 2,000 images would take longer (scaled by the rung's)")
    parser.add_argument("--timeout", type=duration, default=3600.0, help="search time limit (default 1h)")
    parser.add_argument("--reevaluate", type=int, default=3, help="re-evaluate the K best on two more seeds")
    parser.add_argument("--algorithm", choices=("generational", "aging"), default="aging")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: one training at a time; ray: in parallel, here or on a cluster (docs/ray.md)")
    parser.add_argument("--ray-address", default=None, help="with --executor ray: auto, HOST:6379 or "
                                                            "ray://HOST:10001 (default: start Ray on this machine)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="with --executor ray (default 0)")
    parser.add_argument("--run-dir", default=None, help="run folder (default runs/<timestamp>)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = _arguments()

    data = nas.data.ham10000(args.root, image_size=args.image_size, seed=args.seed, max_images=args.max_images)
    print(data.summary(), flush=True)
    if args.executor == "ray":
        executor = nas.RayExecutor(address=args.ray_address, gpus_per_trial=args.gpus_per_trial)
    else:
        executor = "local"
    fidelity = nas.Fidelity.parse(args.fidelity)
    run = nas.evolve(
        space=args.space,
        data=data,
        population=args.population,
        generations=args.generations,
        objectives=data.default_objectives,            # ("val_balanced_accuracy",)
        budget=nas.Budget(epochs=fidelity.max_epochs, max_train_samples=args.max_train_samples,
                          max_params=args.max_params, max_flops=args.max_flops,
                          max_epoch_seconds=args.max_epoch_seconds, oversample=True, class_weighted=False,
                          samples_from_epoch=fidelity.samples_from_epoch(*sample_counts(args.rung_samples))),
        fidelity=fidelity,
        initial=_initial(args.space, args.initial),
        reevaluate=args.reevaluate,
        timeout=args.timeout,
        executor=executor,
        algorithm=args.algorithm,
        run_dir=args.run_dir,
        seed=args.seed,
    )

    path = run.path
    if run.best is not None:
        metrics = run.best.metrics
        print(f"\nbest genome {run.best.genome_hash}: validation balanced accuracy "
              f"{metrics.get('val_balanced_accuracy', float('nan')):.3f}, accuracy "
              f"{metrics.get('val_accuracy', float('nan')):.3f}, {metrics.get('params', 0):,} parameters")
    example = _test_image(Path(args.root), data) or "IMAGE.jpg"
    steps = [(f"nas runs show {path}", "generations, best genome, failures"),
             (f"nas retrain {path} --epochs 20 --patience 10 --schedule cosine --stop-on balanced-accuracy "
              "--max-seconds 20m", f"train the winner fully; test-split report in {path / 'final'}"),
             (f"nas explain {path} {example}", f"Grad-CAM: where the model looked, in {path / 'explain'}"),
             (f"nas explain {path} --evaluate --limit 200", "how faithful the heatmaps are, on the test split"),
             (f"nas serve {path}", "the web page: upload a photo, get class, benign/malignant and heatmap")]
    print(f"\nrun folder: {path} (the lesion split is in {path / 'splits.csv'})\nnext:")
    for command, what in steps:
        print(f"  # {what}\n  {command}")


def _initial(space: str, name: str | None) -> list[dict]:
    """The genome --initial names, by default the space's well-known design."""
    name = name or {"modern": "plain4-stride2", "cnn": "table1"}[space]
    designs = search_spaces.designs(space)
    if name != "none" and name not in designs:
        raise nas.ConfigError(f"--initial {name}: not a design of the {space} space ({', '.join(designs)}, none)")
    return [] if name == "none" else [designs[name]]


def _test_image(root: Path, data) -> str | None:
    """One image of the test split, to try `nas explain` on."""
    if data.image_ids_test is None or not len(data.image_ids_test):
        return None
    name = f"{data.image_ids_test[0]}.jpg"
    for folder in (root / "HAM10000_images_part_1", root / "HAM10000_images_part_2", root):
        if (folder / name).is_file():
            return str(folder / name)
    return None


if __name__ == "__main__":
    try:
        main()
    except nas.NasError as error:  # a wrong folder or setting: one line, not a traceback
        sys.exit(f"ham10000_search.py: error: {error}")
