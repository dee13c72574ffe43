"""Two objectives at equal epochs: nas's NSGA-II against Optuna's NSGA-II and multi-objective TPE samplers and random
sampling, each searching the "cnn" space for accuracy and few parameters.

    python benchmarks/peers_pareto.py [--dataset digits] [--seeds 3] [--epochs 48] [--fixed-epochs 2]
                                      [--max-params 100000] [--retrain-epochs 6] [--retrain-seeds 3] [--output NAME]
                                      [--ham PATH --train-samples N] [--max-flops N] [--seed-list 0,1]

Every method trains each genome ``--fixed-epochs`` epochs through the same code (nas.training.build/fit/score) and
stops once ``--epochs`` epochs are spent: random sampling is one generation of ``--epochs / --fixed-epochs`` random
genomes, nas-nsga2 ``nas.evolve(objectives=("val_accuracy", "-params"))`` with populations of 8, optuna-nsga2 and
optuna-tpe an Optuna study on ``nas.peers.optuna.objectives`` (NSGAIISampler with populations of 8; TPESampler, which
handles several objectives). Genomes over ``--max-params`` (or ``--max-flops``) are never trained.

The verdict is a hypervolume in (accuracy, log10 parameters), maximising the first and minimising the second, with
the reference point (0, log10 ``--max-params``): the area a front dominates, in accuracy x decades of parameters.
``validation`` is the hypervolume of all the method's trained genomes on their search scores; ``test`` that of its
Pareto front (on validation) after each member is trained again on the whole training split for
``--retrain-epochs`` (``--retrain-seeds`` fresh seeds, the same for every method) and scored on the test split by
its mean accuracy. An existing results file of the same settings is extended: the (seed, method) runs it holds are
kept. Writes benchmarks/results/peers_pareto.json (``--output NAME``: NAME.json) after every run, and at
the end peers_pareto.png: each method's retrained front per seed (``--replot`` draws it again from the file).
peers_pareto_synthetic.json holds the same on synthetic lesions (``--dataset synthetic_lesions --output
peers_pareto_synthetic``). On HAM10000 (``--dataset ham10000 --ham PATH``: 64 px, the lesion-grouped split, the loss
weighted by class) the accuracy objective and the verdict are balanced accuracy (``val_balanced_accuracy``; the
front's ``test_balanced_accuracy``), and ``--train-samples`` caps each search training's images as in peers.py (for
example ``--dataset ham10000 --epochs 32 --train-samples 2000 --max-params 1000000 --max-flops 150000000``, peers.py's
HAM10000 budget; without the FLOPs cap a single genome's two epochs at 64 px can take several minutes of a 2-core
machine). peers_pareto_ham10000.json holds that run with ``--retrain-seeds 1``, ``--seed-list 0``, then
``--seed-list 1``, then ``--seed-list 2``.
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
from _common import RESULTS, save, test_scores  # noqa: E402

import nas  # noqa: E402
from nas.training import Budget  # noqa: E402

METHODS = ("random", "nas-nsga2", "optuna-nsga2", "optuna-tpe")
POPULATION = 8


def objectives(data) -> tuple[str, str]:
    """The two objectives: validation balanced accuracy where the data is imbalanced (HAM10000), else accuracy; and
    few parameters."""
    return (f"val_{metric(data)}", "-params")


def metric(data) -> str:
    """The accuracy measure of the objective and the verdict."""
    return "balanced_accuracy" if data.class_weighted else "accuracy"


def hypervolume(points: list[tuple[float, int]], max_params: int) -> float:
    """The area (accuracy x decades of parameters) that ``points`` of (accuracy, parameters) dominate, bounded by
    accuracy 0 and ``max_params``."""
    limit = math.log10(max_params)
    scored = sorted((a, math.log10(p)) for a, p in points if p <= max_params and a > 0)
    area, below = 0.0, 0.0
    for k, (accuracy, _) in enumerate(scored):  # a strip as wide as the fewest parameters above it
        area += (accuracy - below) * (limit - min(params for _, params in scored[k:]))
        below = accuracy
    return area


def front(points: dict[str, tuple[float, int]]) -> list[str]:
    """The keys of the non-dominated (accuracy, parameters) points."""
    return [key for key, (a, p) in points.items()
            if not any(b >= a and q <= p and (b, q) != (a, p) for b, q in points.values())]


def _nas(method: str, data, args, seed: int, folder: str) -> tuple[dict, dict]:
    trials = args.epochs // args.fixed_epochs
    shape = ({"population": trials, "generations": 1} if method == "random" else
             {"population": min(POPULATION, trials), "generations": math.ceil(trials / POPULATION)})
    run = nas.evolve("cnn", data, objectives=objectives(data), seed=seed, run_dir=folder, verbose=False,
                     budget=_budget(args), **shape)
    done = [r for r in run.evaluations if r["status"] == "ok"]
    points = {r["genome_hash"]: (r["metrics"][objectives(data)[0]], r["metrics"]["params"]) for r in done}
    genomes = {r["genome_hash"]: r["genome"] for r in done}
    spent = sum(int(r["metrics"].get("epochs") or 0) for r in run.evaluations if r["status"] in ("ok", "failed"))
    return {"points": points, "genomes": genomes, "epochs": spent, "trainings": len(done)}, {}


def _optuna(method: str, data, args, seed: int, folder: str) -> tuple[dict, dict]:
    import optuna

    from nas.peers import BudgetSpent, Trainer
    from nas.peers import optuna as adapter

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trainer = Trainer("cnn", data, _budget(args), seed=seed, objective=objectives(data)[0], max_epochs=args.epochs,
                      tool=method)
    sampler = (optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=seed) if method == "optuna-nsga2" else
               optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(directions=adapter.directions(objectives(data)), sampler=sampler)
    try:
        study.optimize(adapter.objectives(trainer, objectives(data)), n_trials=100000)
    except BudgetSpent:
        pass
    done = [t for t in trainer.trials if t["status"] == "ok"]
    points = {t["genome_hash"]: (t["score"], t["metrics"]["params"]) for t in done}
    genomes = {t["genome_hash"]: t["genome"] for t in done}
    return ({"points": points, "genomes": genomes, "epochs": trainer.epochs, "trainings": len(done)},
            {"rejected": sum(t["status"] == "rejected" for t in trainer.trials)})


def _budget(args) -> Budget:
    """Every search training's budget: --fixed-epochs, --max-params, --max-flops and --train-samples."""
    return Budget(epochs=args.fixed_epochs, max_params=args.max_params, max_flops=args.max_flops,
                  max_train_samples=args.train_samples)


def one_run(method: str, data, args, seed: int) -> dict:
    """Search with ``method``; the hypervolume of its validation scores and of its front retrained on the test split."""
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        search = _nas if method in ("random", "nas-nsga2") else _optuna
        found, extra = search(method, data, args, seed, folder)
    seconds = time.perf_counter() - clock
    members = front(found["points"])
    space = nas.space.builtin_space("cnn")
    tested = {key: (statistics.fmean(test_scores(found["genomes"][key], space, data, args.retrain_epochs,
                                                 [seed + 1000 + k for k in range(args.retrain_seeds)])[metric(data)]),
                    found["points"][key][1]) for key in members}
    row = {"method": method, "seed": seed, "seconds": round(seconds, 1), "epochs": found["epochs"],
           "trainings": found["trainings"], **extra,
           "validation_hypervolume": hypervolume(list(found["points"].values()), args.max_params),
           "test_hypervolume": hypervolume(list(tested.values()), args.max_params),
           "front": [{"genome_hash": key, f"val_{metric(data)}": found["points"][key][0],
                      f"test_{metric(data)}": tested[key][0], "params": tested[key][1]} for key in members]}
    print(f"{data.name} seed {seed} {method}: {row['epochs']} epochs in {row['trainings']} trainings, {seconds:.0f} s; "
          f"hypervolume validation {row['validation_hypervolume']:.4f}, test {row['test_hypervolume']:.4f} "
          f"({len(members)} on the front)", flush=True)
    return row


def summary(rows: list[dict], reference: str) -> dict:
    """Per method: mean and standard error of both hypervolumes, and per-seed test wins against ``reference``."""
    theirs = {r["seed"]: r["test_hypervolume"] for r in rows if r["method"] == reference}
    table = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        tests = [r["test_hypervolume"] for r in mine]
        table[method] = {
            "runs": len(mine), "mean_test_hypervolume": statistics.fmean(tests),
            "se_test_hypervolume": statistics.stdev(tests) / math.sqrt(len(tests)) if len(tests) > 1 else None,
            "mean_validation_hypervolume": statistics.fmean(r["validation_hypervolume"] for r in mine),
            "wins_vs_reference": sum(r["test_hypervolume"] > theirs[r["seed"]] for r in mine if r["seed"] in theirs),
            "mean_front": statistics.fmean(len(r["front"]) for r in mine),
            "mean_epochs": statistics.fmean(r["epochs"] for r in mine),
            "mean_seconds": statistics.fmean(r["seconds"] for r in mine)}
    return table


def plot(rows: list[dict], path: Path, measure: str = "accuracy") -> None:
    """Each method's retrained front (test ``measure`` against parameters, log scale), one panel per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = sorted({r["seed"] for r in rows})
    figure, axes = plt.subplots(1, len(seeds), figsize=(4.2 * len(seeds), 3.6), squeeze=False, sharey=True)
    for axis, seed in zip(axes[0], seeds):
        for row in sorted((r for r in rows if r["seed"] == seed), key=lambda r: METHODS.index(r["method"])):
            points = sorted((m["params"], m[f"test_{measure}"]) for m in row["front"])
            axis.step([p for p, _ in points], [a for _, a in points], where="post", marker="o", markersize=3,
                      color=f"C{METHODS.index(row['method'])}",
                      label=f"{row['method']} ({row['test_hypervolume']:.3f})")
        axis.set(xscale="log", xlabel="parameters", title=f"seed {seed}")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel(f"test {measure.replace('_', ' ')} (mean of the retrains)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _earlier_runs(args) -> list[dict]:
    """The runs ``--output`` already holds under the same settings (more ``--seeds`` extend a file), or none."""
    path = RESULTS / f"{args.output}.json"
    if args.replot or not path.exists():
        return []
    earlier = json.loads(path.read_text())
    same = ("dataset", "epochs", "fixed_epochs", "max_params", "max_flops", "retrain_epochs", "retrain_seeds",
            "train_samples")
    if any(earlier["settings"].get(key) != getattr(args, key) for key in same):
        sys.exit(f"{path} holds runs with other settings; choose another --output")
    return earlier["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "synthetic_lesions", "ham10000"))
    parser.add_argument("--ham", metavar="PATH", help="the HAM10000 folder, for --dataset ham10000 (64 px)")
    parser.add_argument("--train-samples", type=int, default=None, help="Budget.max_train_samples of every trial")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-list", default=None, help="comma-separated seeds instead of 0 to --seeds - 1")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--fixed-epochs", type=int, default=2)
    parser.add_argument("--max-params", type=int, default=100_000)
    parser.add_argument("--max-flops", type=int, default=None,
                        help="Budget.max_flops of every trial: genomes over it are never trained (as --max-params)")
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--reference", default="nas-nsga2")
    parser.add_argument("--output", default="peers_pareto")
    parser.add_argument("--replot", action="store_true", help="only draw the plot again from the results file")
    args = parser.parse_args()
    if args.replot:
        figures = json.loads((RESULTS / f"{args.output}.json").read_text())
        return plot(figures["runs"], RESULTS / f"{args.output}.png", figures.get("metric", "accuracy"))
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        sys.exit(f"peers_pareto.py: unknown methods {unknown}; the methods are {', '.join(METHODS)}")
    if args.dataset == "ham10000" and not args.ham:
        sys.exit("peers_pareto.py: --dataset ham10000 needs --ham PATH (the HAM10000 folder)")
    data = (nas.data.ham10000(args.ham, image_size=64, seed=0) if args.dataset == "ham10000"
            else getattr(nas.data, args.dataset)())
    rows = _earlier_runs(args)
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
    for seed in seeds:
        for method in methods:
            if any(r["seed"] == seed and r["method"] == method for r in rows):
                continue
            rows.append(one_run(method, data, args, seed))
            save(args.output, {"settings": vars(args), "objectives": list(objectives(data)), "metric": metric(data),
                               "runs": rows, "summary": summary(rows, args.reference)})
    plot(rows, RESULTS / f"{args.output}.png", metric(data))
    for method, figures in summary(rows, args.reference).items():
        se = figures["se_test_hypervolume"]
        print(f"{method:14s} test hypervolume {figures['mean_test_hypervolume']:.4f}"
              f"{f' +- {se:.4f}' if se is not None else ''}, validation {figures['mean_validation_hypervolume']:.4f},"
              f" beats {args.reference} in {figures['wins_vs_reference']}/{figures['runs']}")


if __name__ == "__main__":
    main()
