"""A search of the cnn space on HAM10000 (dermoscopy, 7 classes), split by lesion, then the next steps.

    python examples/ham10000_search.py --root /data/ham10000        # tens of minutes on 2 CPU cores
    python examples/ham10000_search.py --max-images 600 --image-size 32 --population 4 --generations 2  # a minute
    python examples/ham10000_search.py --executor ray --gpus-per-trial 0.5 --population 32 --generations 10

--root is a folder in the official layout: HAM10000_metadata.csv and the images in HAM10000_images_part_1/ and
HAM10000_images_part_2/ (see docs/ham10000.md). The search maximises validation balanced accuracy with a class-weighted
loss (two thirds of the images are nevi), trains each genome for --epochs on a seeded subset of --max-train-samples
training images, and rejects genomes over --max-params parameters before training them. The test split is not touched
until `nas retrain`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nas

# $NAS_HAM10000, else ../shared/data/ham10000 beside the repository
DEFAULT_ROOT = Path(os.environ.get("NAS_HAM10000")
                    or Path(__file__).resolve().parents[2] / "shared" / "data" / "ham10000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help=f"HAM10000 folder (default {DEFAULT_ROOT})")
    parser.add_argument("--image-size", type=int, default=64, help="pixels per side (default 64)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="use a seeded sample of whole lesions holding about this many images (quick runs)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per genome (default 1)")
    parser.add_argument("--max-train-samples", type=int, default=2000, help="training images per genome")
    parser.add_argument("--max-params", type=int, default=2_000_000)
    parser.add_argument("--algorithm", choices=("generational", "aging"), default="generational")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: one training at a time; ray: in parallel, here or on a cluster (docs/ray.md)")
    parser.add_argument("--ray-address", default=None, help="with --executor ray: auto, HOST:6379 or "
                                                            "ray://HOST:10001 (default: start Ray on this machine)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="with --executor ray (default 0)")
    parser.add_argument("--run-dir", default=None, help="run folder (default runs/<timestamp>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = nas.data.ham10000(args.root, image_size=args.image_size, seed=args.seed, max_images=args.max_images)
    print(data.summary(), flush=True)
    if args.executor == "ray":
        executor = nas.RayExecutor(address=args.ray_address, gpus_per_trial=args.gpus_per_trial)
    else:
        executor = "local"
    run = nas.evolve(
        space="cnn",
        data=data,
        population=args.population,
        generations=args.generations,
        objectives=data.default_objectives,            # ("val_balanced_accuracy",)
        budget=nas.Budget(epochs=args.epochs, max_train_samples=args.max_train_samples, max_params=args.max_params),
                                                       # the loss is class-weighted, as HAM10000 asks
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
             (f"nas retrain {path} --epochs 30", f"train the winner fully; test-split report in {path / 'final'}"),
             (f"nas explain {path} {example}", f"Grad-CAM: where the model looked, in {path / 'explain'}"),
             (f"nas explain {path} --evaluate --limit 200", "how faithful the heatmaps are, on the test split"),
             (f"nas serve {path}", "the web page: upload a photo, get class, benign/malignant and heatmap")]
    print(f"\nrun folder: {path} (the lesion split is in {path / 'splits.csv'})\nnext:")
    for command, what in steps:
        print(f"  # {what}\n  {command}")


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
