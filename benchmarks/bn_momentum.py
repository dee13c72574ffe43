"""Why the cnn and modern spaces build batch norm with momentum 0.9, not Keras' 0.99: a search scores a genome after
one epoch or a few, and with 0.99 the moving statistics that inference uses still hold the first steps' batches.

    python benchmarks/bn_momentum.py [--data PATH] [--image-size 32] [--samples 2000] [--epochs 3]

Trains modern.PLAIN4 cut to 3 stages (the well-known plain design) on HAM10000's lesion-grouped training split, as
one search evaluation does (``nas.training.evaluate``, class weights, common seed), once per momentum, and prints the
validation balanced accuracy and accuracy after each epoch. Writes benchmarks/results/bn_momentum.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
from search_spaces import cnn, modern  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=2000, help="training images per evaluation")
    parser.add_argument("--epochs", type=int, default=3)
    add_data_option(parser)
    args = parser.parse_args()
    data = nas.data.ham10000(data_folder(args), image_size=args.image_size, seed=0)
    genome = dict(modern.PLAIN4, stages=3)
    budget = nas.Budget(epochs=args.epochs, max_train_samples=args.samples, class_weighted=True)
    rows = {}
    for momentum in (0.99, cnn.BN_MOMENTUM):
        modern.BN_MOMENTUM = momentum  # the builder reads the module's constant when it builds
        start = time.perf_counter()
        outcome = nas.training.evaluate(genome, space=modern.SPACE, data=data, budget=budget, seed=0)
        rows[str(momentum)] = {
            "val_balanced_accuracy": [round(c["val_balanced_accuracy"], 4) for c in outcome["curve"]],
            "val_accuracy": [round(c["val_accuracy"], 4) for c in outcome["curve"]],
            "seconds": round(time.perf_counter() - start, 1)}
        print(f"momentum {momentum}: validation balanced accuracy per epoch "
              f"{rows[str(momentum)]['val_balanced_accuracy']}, accuracy {rows[str(momentum)]['val_accuracy']}",
              flush=True)
    print(save("bn_momentum", {"image_size": args.image_size, "samples": args.samples, "epochs": args.epochs,
                               "genome": genome, "momentum": rows}))


if __name__ == "__main__":
    main()
