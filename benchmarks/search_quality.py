"""Search modes against random sampling at the same number of training epochs, over several seeds, on digits and on
synthetic lesions; the verdict is the test split after the same retrain.

    python benchmarks/search_quality.py [--seeds 5] [--epoch-budget 32] [--population 8] [--epochs 2]
                                        [--fidelity 1:4:2] [--max-train-samples 500] [--retrain-epochs 6]
                                        [--retrain-seeds 3] [--datasets digits,synthetic_lesions]
                                        [--methods random,aging,...] [--space cnn|modern]
                                        [--max-params N] [--max-flops N] [--crossover-prob P]
                                        [--crossover uniform|linked]

Every method may train ``--epoch-budget`` epochs (on at most ``--max-train-samples`` images) in all, counted from
the epochs each evaluation really trained (a promotion counts only the epochs it adds):
- random: ``budget / epochs`` random genomes of ``--epochs`` epochs each;
- generational: the genetic algorithm, ``--population`` genomes a generation of ``--epochs`` epochs each;
- generational-fidelity: the genetic algorithm with successive halving inside each generation (``--fidelity``),
  its winners continued from their saved training state;
- aging: regularized evolution, ``--population`` genomes alive, ``budget / epochs`` evaluations of ``--epochs``;
- aging-fidelity: aging with asynchronous promotion (ASHA), ended by ``nas.evolve``'s ``epoch_budget`` before the
  first evaluation that would not fit the budget (results files from before it sized the search in a dry run with
  simulated fitness, which left a few epochs unspent).
All use common random numbers (one training seed for every genome, the default). Each method's pick (its
``run.best``) is retrained on the whole training split for ``--retrain-epochs`` epochs with ``--retrain-seeds``
fresh seeds (the same ones for every method) and scored on the test split by the mean of those retrains: the best
validation score of a search is the maximum of many noisy scores and flatters whichever method drew more lottery
tickets, and a single retrain is itself a noisy measurement. Results are saved after every seed to
results/search_quality.json (``--output NAME``: results/NAME.json; ``--datasets synthetic_lesions --output
search_quality_synthetic`` wrote search_quality_synthetic.json while digits ran in another process; the other modes
were run later with ``--methods generational,generational-fidelity,aging --output search_quality_synthetic_modes``
(search_quality_synthetic_modes.json) and joined to it with ``--merge
search_quality_synthetic,search_quality_synthetic_modes --output search_quality_synthetic``).
``--space modern`` has every method sample the modern space instead. ``--max-params`` and ``--max-flops`` cap every
method's genomes (a random genome over them is drawn again): uncapped, the modern space's random genomes at 16 px
reached 14 M parameters and 545 MFLOPs, minutes an evaluation on 2 cores; search_quality_synthetic_modern.json
holds ``--space modern --max-params 1000000 --max-flops 20000000 --datasets synthetic_lesions --methods
random,aging-fidelity``. search_quality_synthetic_budget96.json holds ``--epoch-budget 96 --datasets
synthetic_lesions --methods random,aging-fidelity`` (three times the epochs, so that evolution has generations to act
on), and search_quality_synthetic_budget96_fidelity2.json aging with fidelity at that budget with ``--fidelity
2:8:2`` (its lowest rung trains as long as a random genome) and search_quality_synthetic_budget96_population16.json
with ``--population 16`` (twice the genomes alive); search_quality_synthetic_seeds5to9.json the default
budget on five more seeds, ``--seed-list 5,6,7,8,9``. ``--top-k K`` retrains each method's K best and picks the
one best on validation (``nas retrain --top-k``'s protocol): search_quality_synthetic_top3.json holds ``--datasets
synthetic_lesions --methods random,aging-fidelity --top-k 3``, search_quality_synthetic_top3_seeds5to9.json the
same with ``--seed-list 5,6,7,8,9``, search_quality_digits_top3.json and
search_quality_digits_top3_seeds5to9.json the same on digits. search_quality_synthetic_epochs1.json holds
``--datasets synthetic_lesions --methods random,aging --epochs 1 --top-k 3`` (one epoch a genome, 32 genomes: the
budget spent on breadth, as benchmarks/fidelity_proxy.py's simulations favour on this data), and
search_quality_synthetic_epochs1_seeds5to9.json the same with ``--seed-list 5,6,7,8,9``, and
search_quality_digits_epochs1.json ``--datasets digits --methods random,aging --epochs 1 --top-k 3``;
search_quality_synthetic_fidelity133.json ``--datasets synthetic_lesions --methods aging-fidelity --fidelity 1:3:3
--top-k 3`` (the rungs that fidelity_proxy.py's tables favour; random sampling's figures for the same seeds are
search_quality_synthetic_top3.json's), search_quality_synthetic_fidelity133_seeds5to9.json the same with
``--seed-list 5,6,7,8,9``; search_quality_digits_fidelity133.json and search_quality_digits_fidelity133_seeds5to9.json
the same on digits. A later session's install retrained the same genomes to other figures (docs/search.md), so
random sampling was measured again beside them: search_quality_digits_random_top3_rerun.json (``--datasets digits
--methods random --top-k 3``) and search_quality_digits_random_top3_rerun_seeds5to9.json (``--seed-list
5,6,7,8,9``); search_quality_synthetic_fidelity133_vs_random.json and
search_quality_synthetic_fidelity133_vs_random_seeds5to9.json hold ``--datasets synthetic_lesions --methods
random,aging-fidelity --fidelity 1:3:3 --top-k 3`` on seeds 0-4 and 5-9, both methods in one process;
search_quality_synthetic_fidelity133_pop16.json the same with ``--population 16`` (aging with fidelity starts from
the 16 genomes random sampling draws) and search_quality_synthetic_fidelity133_pop16_seeds5to9.json aging with
fidelity alone on seeds 5-9 (``--methods aging-fidelity --seed-list 5,6,7,8,9``);
search_quality_synthetic_genfid133_pop10.json and search_quality_synthetic_genfid133_pop10_seeds5to9.json the
generational GA with fidelity (``--methods generational-fidelity --fidelity 1:3:3 --population 10 --top-k 3``,
seeds 0-4 and 5-9: two generations of 16 epochs). search_quality_synthetic_immigrants25.json and
search_quality_synthetic_immigrants25_seeds5to9.json hold aging with fidelity with random immigrants (``--methods
aging-fidelity --fidelity 1:3:3 --immigrants 0.25 --top-k 3``, seeds 0-4 and 5-9: every fourth bred genome a random
one), search_quality_synthetic_immigrants50.json and search_quality_synthetic_immigrants50_seeds5to9.json the same
with ``--immigrants 0.5``. search_quality_synthetic_nocrossover.json and
search_quality_synthetic_nocrossover_seeds5to9.json hold aging with fidelity breeding by mutation alone (``--methods
aging-fidelity --fidelity 1:3:3 --top-k 3 --crossover-prob 0``, seeds 0-4 and 5-9; benchmarks/offspring.py measured
crossover children worse than mutation children), search_quality_synthetic_crossover100.json and
search_quality_synthetic_crossover100_seeds5to9.json the same with ``--crossover-prob 1`` (every child crossed).
search_quality_synthetic_linked.json and search_quality_synthetic_linked_seeds5to9.json hold the same with
``--crossover linked`` instead (the groups of genes the space links swapped whole; crossover_prob 0.5).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, epochs_spent, save, test_scores  # noqa: E402

import nas  # noqa: E402

METHODS = ("random", "generational", "generational-fidelity", "aging", "aging-fidelity")


def search(method: str, data, args, seed: int, run_dir: str):
    """One search of ``method`` within the epoch budget."""
    common = {"seed": seed, "run_dir": run_dir, "executor": nas.InlineExecutor(), "verbose": False}
    bred = {"immigrants": args.immigrants, "crossover_prob": args.crossover_prob, "crossover": args.crossover}
    caps = {"max_train_samples": args.max_train_samples, "max_params": args.max_params, "max_flops": args.max_flops}
    budget = nas.Budget(epochs=args.epochs, **caps)
    if method == "random":
        return nas.evolve(args.space, data, population=max(2, args.epoch_budget // args.epochs), generations=1,
                          budget=budget, **common)
    if method in ("generational", "aging"):
        generations = max(1, args.epoch_budget // (args.population * args.epochs))
        return nas.evolve(args.space, data, population=args.population, generations=generations, budget=budget,
                          algorithm=method, **bred, **common)
    fidelity = nas.Fidelity.parse(args.fidelity)
    shape = {"population": args.population, "fidelity": fidelity,
             "budget": nas.Budget(**caps), **bred, **common}
    if method == "aging-fidelity":  # every evaluation is charged at least one epoch: the budget ends the search
        return nas.evolve(args.space, data, generations=math.ceil(args.epoch_budget / args.population),
                          epoch_budget=args.epoch_budget, algorithm="aging", **shape)
    generations = max(1, args.epoch_budget // fidelity.generation_epochs(args.population))
    return nas.evolve(args.space, data, generations=generations, **shape)


def retrained(run, data, epochs: int, seeds: list[int], top_k: int = 1) -> dict:
    """The run's pick trained again once per seed (whole training split) and scored on the test split: the mean, and
    each seed's score. With ``top_k`` above 1 the pick is, of the run's K best (``run.ranked()``, as ``nas retrain
    --top-k`` takes them), the one whose retrains score best on the validation split; ``candidates`` keeps each one's
    figures, the first being ``run.best``. Each pick's genome is recorded beside its hash (files from before this
    hold the hash alone)."""
    candidates = []
    for individual in run.ranked()[:top_k]:
        scores = test_scores(individual.genome, run.space, data, epochs, seeds)
        candidates.append({"pick": individual.genome_hash, "genome": individual.genome,
                           "val_accuracy": statistics.fmean(scores["val_accuracy"]),
                           "test_accuracy": statistics.fmean(scores["accuracy"]),
                           "test_balanced_accuracy": statistics.fmean(scores["balanced_accuracy"]),
                           "test_accuracy_per_seed": scores["accuracy"]})
    chosen = max(candidates, key=lambda c: c["val_accuracy"])  # the earlier in the ranking on ties
    return {**chosen, **({"candidates": candidates} if top_k > 1 else {})}


def summary(rows: list[dict]) -> dict:
    """Mean and standard error of each method's test accuracy, and its wins against random sampling per seed."""
    result = {}
    for method in METHODS:
        scores = [r[method]["test_accuracy"] for r in rows if method in r]
        if not scores:
            continue
        result[method] = {
            "seeds": len(scores), "mean_test_accuracy": statistics.fmean(scores),
            "standard_error": statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else None,
            "wins_vs_random": sum(r[method]["test_accuracy"] > r["random"]["test_accuracy"] for r in rows
                                  if method in r and "random" in r),
            "mean_epochs": statistics.fmean(r[method]["epochs"] for r in rows if method in r),
            "evaluations_per_hour": statistics.fmean(r[method]["evaluations_per_hour"] for r in rows if method in r)}
        firsts = [r[method]["candidates"][0]["test_accuracy"] for r in rows if "candidates" in r.get(method, {})]
        if firsts:  # with --top-k: what run.best alone would have scored, for the same searches
            result[method]["mean_test_accuracy_of_run_best"] = statistics.fmean(firsts)
    return result


def run_seed(name: str, data, args, seed: int, tmp: str) -> dict:
    row: dict = {"seed": seed}
    for method in args.methods.split(","):
        clock = time.perf_counter()
        run = search(method, data, args, seed, f"{tmp}/{name}-{method}-{seed}")
        seconds = time.perf_counter() - clock
        trainings = sum(r["status"] != "cached" for r in run.evaluations)
        row[method] = {"epochs": epochs_spent(run), "trainings": trainings, "seconds": round(seconds, 1),
                       "evaluations_per_hour": round(trainings * 3600 / seconds, 1),
                       "best_validation": run.best.metrics["val_accuracy"], "best_rung": run.best.rung,
                       "best_epochs": run.best.epochs,
                       **retrained(run, data, args.retrain_epochs,
                                   [seed + 1000 + k for k in range(args.retrain_seeds)], args.top_k)}
        print(f"{name} seed {seed} {method}: {row[method]['epochs']} epochs in {trainings} trainings, "
              f"{seconds:.0f} s; best val {row[method]['best_validation']:.4f}; retrained test accuracy "
              f"{row[method]['test_accuracy']:.4f}", flush=True)
    return row


def merge(names: list[str], output: str) -> None:
    """One results file from several processes' files (the same settings but for their seeds or methods): runs by
    seed, each method of a seed taken from the first file that has it."""
    parts = [json.loads((RESULTS / f"{name}.json").read_text()) for name in names]
    sources = [source for name, part in zip(names, parts) for source in part["settings"].get("merged_from", [name])]
    figures: dict = {"settings": {**parts[0]["settings"], "merged_from": list(dict.fromkeys(sources))},
                     "datasets": {}}
    for part in parts:
        for name, result in part["datasets"].items():
            entry = figures["datasets"].setdefault(name, {"data": result["data"], "runs": []})
            rows = {r["seed"]: r for r in entry["runs"]}
            for run in result["runs"]:
                row = rows.setdefault(run["seed"], {"seed": run["seed"]})
                row.update({method: run[method] for method in run if method not in row})
            entry["runs"] = sorted(rows.values(), key=lambda r: r["seed"])
            entry["summary"] = summary(entry["runs"])
            entry["seeds_finished"] = [r["seed"] for r in entry["runs"]]
    print(f"merged {', '.join(names)} into {save(output, figures)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 to N-1")
    parser.add_argument("--seed-list", default=None,
                        help="comma-separated seeds instead (to share the seeds between processes, then --merge)")
    parser.add_argument("--merge", default=None, metavar="NAMES",
                        help="no search: combine the runs of these comma-separated results files into --output")
    parser.add_argument("--epoch-budget", type=int, default=32)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fidelity", default="1:4:2")
    parser.add_argument("--max-train-samples", type=int, default=500)
    parser.add_argument("--max-params", type=int, default=None, help="Budget.max_params of every method's search")
    parser.add_argument("--max-flops", type=int, default=None,
                        help="Budget.max_flops of every method's search (FLOPs for one image's forward pass)")
    parser.add_argument("--immigrants", type=float, default=0.0,
                        help="nas.evolve's immigrants for the evolutionary methods: the share of bred genomes that are "
                             "random ones (default 0)")
    parser.add_argument("--crossover-prob", type=float, default=0.5,
                        help="nas.evolve's crossover_prob for the evolutionary methods (default 0.5, the engine's)")
    parser.add_argument("--crossover", default="uniform", choices=("uniform", "linked"),
                        help="nas.evolve's crossover for the evolutionary methods (default uniform, the engine's)")
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-seeds", type=int, default=3, help="retrains of each pick, scored by their mean")
    parser.add_argument("--top-k", type=int, default=1,
                        help="retrain each method's K best and pick the one best on validation (default 1: run.best)")
    parser.add_argument("--space", default="cnn", choices=("cnn", "modern"),
                        help="the space every method samples (default cnn; modern: search_spaces/modern.py)")
    parser.add_argument("--datasets", default="digits,synthetic_lesions")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from " + ", ".join(METHODS))
    parser.add_argument("--output", default="search_quality", help="results file name (without .json)")
    args = parser.parse_args()
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")

    if args.merge:
        return merge(args.merge.split(","), args.output)
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    makers = {"digits": lambda: nas.data.digits(seed=0),
              "synthetic_lesions": lambda: nas.data.synthetic_lesions(n=1000, image_size=16, seed=0)}
    figures: dict = {"settings": vars(args), "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            data = makers[name]()
            rows: list[dict] = []
            for seed in seeds:
                rows.append(run_seed(name, data, args, seed, tmp))
                figures["datasets"][name] = {"data": data.summary(), "runs": rows, "summary": summary(rows)}
                save(args.output, figures)
    for name, result in figures["datasets"].items():
        for method, row in result["summary"].items():
            error = f" +- {row['standard_error']:.4f}" if row["standard_error"] is not None else ""
            print(f"{name} {method}: test accuracy {row['mean_test_accuracy']:.4f}{error} over {row['seeds']} seeds; "
                  f"beats random in {row['wins_vs_random']}/{row['seeds']}; {row['mean_epochs']:.0f} epochs, "
                  f"{row['evaluations_per_hour']:.0f} evaluations/hour")


if __name__ == "__main__":
    main()
