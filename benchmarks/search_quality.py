"""Genetic search against random search with the same number of trained evaluations, over several seeds, on digits
and on synthetic_lesions.

    python benchmarks/search_quality.py [--seeds 5] [--population 8] [--generations 5] [--epochs 2]

Random search is the first generation alone: `population` distinct random genomes, as many as the genetic search
trained. Prints, per dataset, the mean best validation accuracy of each and how often the genetic search wins, and
the test accuracy of each method's best genome retrained with a fresh seed (the best validation score of a search is
the maximum of many noisy scores and flatters whichever method drew more independent lottery tickets).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import nas  # noqa: E402
from nas.training import predict, train  # noqa: E402


def trained(run) -> int:
    return sum(r["status"] != "cached" for r in run.evaluations)


def test_accuracy(run, data, budget, seed: int) -> float:
    """Accuracy on the test split of the run's best genome, trained again with a fresh seed: free of the selection
    bias that the best validation score of a search carries (the maximum of many noisy scores)."""
    import keras

    model = train(run.best.genome, space=run.space, data=data, budget=budget, seed=seed)
    accuracy = float((predict(model, data.x_test).argmax(axis=1) == data.y_test).mean())
    keras.backend.clear_session()
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--datasets", default="digits,synthetic_lesions")
    args = parser.parse_args()

    makers = {"digits": lambda: nas.data.digits(seed=0),
              "synthetic_lesions": lambda: nas.data.synthetic_lesions(n=1000, image_size=16, seed=0)}
    budget = nas.Budget(epochs=args.epochs)
    figures: dict = {"settings": vars(args), "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            data = makers[name]()
            rows = []
            for seed in range(args.seeds):
                clock = time.perf_counter()
                genetic = nas.evolve("cnn", data, population=args.population, generations=args.generations,
                                     budget=budget, seed=seed, run_dir=f"{tmp}/{name}-ga-{seed}", verbose=False)
                count = trained(genetic)
                random_search = nas.evolve("cnn", data, population=count, generations=1, budget=budget, seed=seed,
                                           run_dir=f"{tmp}/{name}-random-{seed}", verbose=False)
                row = {"seed": seed, "evaluations": count, "genetic": genetic.best.metrics["val_accuracy"],
                       "random": random_search.best.metrics["val_accuracy"],
                       "genetic_mean_last_generation": genetic.generations[-1]["stats"]["val_accuracy"]["mean"],
                       "random_mean": statistics.fmean(r["metrics"]["val_accuracy"] for r in random_search.evaluations
                                                       if r["status"] == "ok"),
                       "genetic_test": test_accuracy(genetic, data, budget, seed + 1000),
                       "random_test": test_accuracy(random_search, data, budget, seed + 1000),
                       "seconds": round(time.perf_counter() - clock, 1)}
                rows.append(row)
                print(f"{name} seed {seed}: {count} evaluations each; best val_accuracy genetic {row['genetic']:.4f}"
                      f" vs random {row['random']:.4f} (population mean: last generation "
                      f"{row['genetic_mean_last_generation']:.4f},"
                      f" random {row['random_mean']:.4f}); best genome retrained, test accuracy genetic "
                      f"{row['genetic_test']:.4f} vs random {row['random_test']:.4f}; {row['seconds']} s", flush=True)
            wins = sum(r["genetic"] > r["random"] for r in rows)
            ties = sum(r["genetic"] == r["random"] for r in rows)
            figures["datasets"][name] = {
                "data": data.summary(), "runs": rows, "genetic_wins": wins, "ties": ties,
                "genetic_wins_test": sum(r["genetic_test"] > r["random_test"] for r in rows),
                "mean_test_genetic": statistics.fmean(r["genetic_test"] for r in rows),
                "mean_test_random": statistics.fmean(r["random_test"] for r in rows),
                "mean_best_genetic": statistics.fmean(r["genetic"] for r in rows),
                "mean_best_random": statistics.fmean(r["random"] for r in rows)}
    path = save("search_quality", figures)
    print(f"results: {path}")
    for name, result in figures["datasets"].items():
        print(f"{name}: mean best val_accuracy genetic {result['mean_best_genetic']:.4f} vs random "
              f"{result['mean_best_random']:.4f}; genetic wins {result['genetic_wins']}/{args.seeds} "
              f"(ties {result['ties']}); best genome retrained on a fresh seed, test accuracy genetic "
              f"{result['mean_test_genetic']:.4f} vs random {result['mean_test_random']:.4f}, genetic wins "
              f"{result['genetic_wins_test']}/{args.seeds}")


if __name__ == "__main__":
    main()
