"""nas against the tools researchers would pick instead, at the same number of training epochs: random sampling, nas
(generational, aging, aging with fidelity), Keras Tuner (Hyperband, Bayesian optimisation), Optuna (TPE with a
Hyperband pruner) and DEHB.

    python benchmarks/peers.py [--datasets digits,synthetic_lesions] [--seeds 5 | --seed-list 3,4] [--epochs 48]
                               [--max-fidelity 3] [--merge NAMES]
                               [--fixed-epochs 2] [--retrain-epochs 6] [--retrain-seeds 3] [--methods ...] [--ham PATH]
                               [--train-samples N] [--max-params N] [--max-flops N] [--final-only]

Every method searches the built-in "cnn" space, trains through the same code (nas.training.build/fit/score, the same
seeded training subset, class weights and validation score) and stops starting trials once it has trained
``--epochs`` epochs in all, counted from the trials it really ran (a trial under way when the limit is reached
finishes, so a method can pass it by at most one trial). Multi-fidelity tools train between 1 and ``--max-fidelity``
epochs per trial (factor 3); the others train ``--fixed-epochs`` per trial. ``kt-bayesian`` is Keras Tuner's
BayesianOptimization with its defaults, which sample at random until ``num_initial_points`` trials are complete, by
default 3 per hyperparameter: 69 for the 23 genes of "cnn", more than any run here completes, so that row is Keras
Tuner's random phase. ``kt-bayesian-gp`` sets ``num_initial_points`` to a third of the trials the budget allows
(``--epochs // --fixed-epochs // 3``, at least 3), so its Gaussian process chooses the other two thirds.

The verdict: at a third, two thirds and all of the budget, the best genome found so far (by validation score, the
rule the tools use; at the end, each tool's own choice) is trained again on the whole training split for
``--retrain-epochs`` epochs, once for each of ``--retrain-seeds`` fresh seeds (the same for every method; the
results files before this option retrained once), and scored on the test split by the mean of those retrains
(accuracy; balanced accuracy for HAM10000). Writes benchmarks/results/peers.json after every run and
benchmarks/results/peers.png at the end (``--output NAME``: NAME.json and NAME.png). peers.json holds the first run
(nas-generational the reference of the wins), peers_bnfix.json the rerun after the batch-norm fix with aging with
fidelity (``--seeds 3``; ``--reference`` nas-aging-fidelity), peers_synthetic.json the synthetic lesions with
aging+fidelity ended by its epoch budget (``--datasets synthetic_lesions --output peers_synthetic``),
peers_synthetic_5seeds.json the same with 3 retrains per pick (``--seeds 5 --retrain-seeds 3``), stopped for time
after 3 complete seeds (the fourth seed's first run was dropped from the file); peers_synthetic_seeds34.json seed 3
of the same (``--seed-list 3,4``, stopped after seed 3 when its DEHB run hung), peers_synthetic_seed3_dehb.json DEHB's
seed 3 again (``--seed-list 3 --methods dehb``), and peers_synthetic_4seeds.json the three merged (``--merge``);
peers_synthetic_seed4.json seed 4 (``--seed-list 4``), the first run with each method in its own process, and
peers_synthetic_5seeds_merged.json all five seeds merged; peers_digits_seeds34.json digits seeds 3 and 4 (``--datasets
digits --seed-list 3,4 --retrain-seeds 1``, one retrain per pick as in peers_bnfix.json), and
peers_digits_5seeds_merged.json those merged with peers_bnfix.json's three. peers_ham10000_seed0.json,
peers_ham10000_seed1.json and peers_ham10000_seed2.json: HAM10000 at 64 px, one seed each, run two at a time in one
session (``--datasets ham10000 --ham PATH --seed-list 0 --epochs 32 --train-samples 2000 --max-flops 150000000
--final-only --retrain-seeds 2``: 2,000 training images a trial, no genome over 150 MFLOPs trained by any method
(nas draws another, a peer's trial scores 0 and costs no epoch), only the final choice retrained),
peers_ham10000_seed2b.json seed 2's Keras Tuner Bayesian optimisation and Optuna in a second process, for time
(``--methods kt-bayesian,optuna-tpe-hyperband``), and peers_ham10000.json the seeds merged. nas's other modes on
the same settings, in a later session on the same install: peers_ham10000_nas01.json (``--methods
nas-generational,nas-aging --seed-list 0,1``), peers_ham10000_nas2.json (the same, ``--seed-list 2``) and
peers_ham10000_genfid.json (``--methods nas-generational-fidelity --seed-list 0,1,2``), merged with
peers_ham10000.json into peers_ham10000_all.json. peers_synthetic_genfid_seed0.json (``--datasets synthetic_lesions
--seed-list 0 --methods random,nas-generational-fidelity``, the five-seed synthetic settings), and
peers_synthetic_genfid_seeds12.json and peers_synthetic_genfid_seeds34.json (``--methods nas-generational-fidelity``
on ``--seed-list 1,2`` and ``3,4``). peers_digits_genfid.json: digits, ``--seed-list 0,1,2,3,4 --methods
random,nas-generational-fidelity``, 3 retrains per pick, in one process after the other.
peers_digits_oneinstall.json: every method on digits in one install, ``--datasets digits --seed-list 0,1,2
--retrain-seeds 3``; peers_digits_oneinstall_seeds34.json the same on ``--seed-list 3,4`` (the same install, a
later session), and peers_digits_oneinstall_5seeds.json the two merged (``--merge
peers_digits_oneinstall,peers_digits_oneinstall_seeds34 --reference nas-aging-fidelity``).
peers_synthetic_oneinstall_seed0.json: every method on synthetic lesions in that install, ``--datasets
synthetic_lesions --seed-list 0 --retrain-seeds 3 --reference nas-aging-fidelity``, the first seed of five;
peers_synthetic_oneinstall_seed1.json the same with ``--seed-list 1``, and peers_synthetic_oneinstall_seeds01.json
the two merged (``--merge peers_synthetic_oneinstall_seed0,peers_synthetic_oneinstall_seed1 --reference
nas-aging-fidelity``). peers_synthetic_oneinstall_seed3.json and peers_synthetic_oneinstall_seed4.json are
``--seed-list 3`` and ``--seed-list 4`` (a later session, the same install; seed 2 was stopped for time after three
methods, its file renamed peers_synthetic_oneinstall_seed2_stopped.json), and
peers_synthetic_oneinstall_seeds0134.json the four merged (``--merge peers_synthetic_oneinstall_seed0,
peers_synthetic_oneinstall_seed1,peers_synthetic_oneinstall_seed3,peers_synthetic_oneinstall_seed4 --reference
nas-aging-fidelity``, one comma-separated argument). peers_synthetic_oneinstall_seed2_rest.json: seed 2's other six
methods in a later session of the install (``--seed-list 2 --methods nas-aging-fidelity,nas-generational-fidelity,
kt-hyperband,kt-bayesian,optuna-tpe-hyperband,dehb``), merged with the stopped file into
peers_synthetic_oneinstall_seed2.json, and the five seeds into peers_synthetic_oneinstall_5seeds.json.
peers_synthetic_oneinstall_ktgp.json: ``--methods kt-bayesian-gp --seed-list 0,1,2,3,4`` on synthetic lesions, the
same install, merged with the five seeds into peers_synthetic_oneinstall_5seeds_ktgp.json;
peers_digits_oneinstall_ktgp.json the same on digits, merged with its five seeds into
peers_digits_oneinstall_5seeds_ktgp.json. peers_ham10000_epochs96_seed0.json: HAM10000 with three times the budget
of peers_ham10000.json (``--epochs 96``, the other settings as there, ``--seed-list 0 --reference
nas-generational-fidelity --methods kt-hyperband,nas-generational-fidelity,random,nas-aging-fidelity``).

Each method's search and retrains run in a fresh process (``--method-timeout`` stops one that hangs and reports it).
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, test_scores  # noqa: E402

import nas  # noqa: E402
from nas.training import Budget  # noqa: E402

METHODS = ("random", "nas-generational", "nas-aging", "nas-aging-fidelity", "nas-generational-fidelity", "kt-hyperband",
           "kt-bayesian", "kt-bayesian-gp", "optuna-tpe-hyperband", "dehb")
POPULATION = 8
#: the seed Keras Tuner gets for seed 0, which it would take for no seed; above any seed a run here uses
KT_SEED_ZERO = 1_000_003


def _budget(args, **epochs: int) -> Budget:
    """Every method's per-trial budget: --train-samples, --max-params and --max-flops (a genome over a cap is
    rejected before it trains and costs no epoch, in nas and in every peer alike)."""
    return Budget(max_train_samples=args.train_samples, max_params=args.max_params, max_flops=args.max_flops, **epochs)


def _generations(fidelity, epochs: int) -> tuple[int, int]:
    """(population, generations) of a generational search with successive halving whose whole generations spend
    the nearest to ``epochs`` (a generational search has no ``epoch_budget``); the population nearest to POPULATION
    among the closest fits."""
    def shape(population: int) -> tuple[int, int]:
        return population, max(1, round(epochs / fidelity.generation_epochs(population)))
    return min((shape(p) for p in range(POPULATION // 2, 2 * POPULATION + 1)),
               key=lambda s: (abs(epochs - s[1] * fidelity.generation_epochs(s[0])), abs(s[0] - POPULATION)))


def _nas(method: str, data, args, seed: int, objective: str, folder: str) -> tuple[list[dict], dict]:
    """random / nas-generational / nas-aging / nas-aging-fidelity / nas-generational-fidelity through nas.evolve;
    the trials from the run's records, in log order (a promotion counts the epochs it added). Aging with fidelity
    trains 1 to --max-fidelity epochs (eta 3, asynchronous promotion) until its ``epoch_budget`` of --epochs is
    spent; the generational algorithm with fidelity halves inside each generation, with the population and
    generations whose epochs come nearest to --epochs (``_generations``)."""
    trials_each = max(1, args.epochs // args.fixed_epochs)
    common = {"objectives": objective, "seed": seed, "run_dir": folder, "verbose": False,
              "immigrants": args.immigrants}  # random sampling breeds nothing: the share changes no genome of it
    if method.endswith("-fidelity"):
        fidelity = nas.Fidelity(min_epochs=1, max_epochs=args.max_fidelity, eta=3)
        shape = {"fidelity": fidelity, "budget": _budget(args), **common}
        if method == "nas-aging-fidelity":
            # every evaluation is charged at least one epoch: the generations never end the search before the budget
            run = nas.evolve("cnn", data, population=POPULATION, generations=math.ceil(args.epochs / POPULATION),
                             epoch_budget=args.epochs, algorithm="aging", **shape)
        else:
            population, generations = _generations(fidelity, args.epochs)
            run = nas.evolve("cnn", data, population=population, generations=generations, **shape)
    else:
        shape = ({"population": trials_each, "generations": 1} if method == "random" else
                 {"population": min(POPULATION, trials_each),
                  "generations": max(1, math.ceil(trials_each / POPULATION)), "algorithm": method.split("-")[1]})
        run = nas.evolve("cnn", data, budget=_budget(args, epochs=args.fixed_epochs), **common, **shape)
    trials = [{"genome": r["genome"], "epochs": (r.get("metrics") or {}).get("epochs", 0),
               "score": (r.get("metrics") or {}).get(objective, 0.0), "status": r["status"]}
              for r in run.evaluations if r["status"] in ("ok", "failed")]  # a failed training spent its epochs too
    return trials, run.best.genome


def _keras_tuner(method: str, trainer, args, seed: int, folder: str) -> dict:
    import keras_tuner

    from nas.peers import BudgetSpent
    from nas.peers import keras_tuner as adapter

    # Keras Tuner takes seed 0 for no seed (``seed or random.randint(1, 10000)``): seed 0 gets a fixed stand-in, so
    # it repeats like the others (the results files before this ran Keras Tuner's seed-0 searches unseeded)
    options = dict(objective=adapter.objective(trainer), seed=seed or KT_SEED_ZERO, directory=folder,
                   project_name=method, max_consecutive_failed_trials=1000)
    if method == "kt-hyperband":
        tuner = keras_tuner.Hyperband(adapter.HyperModel(trainer), max_epochs=args.max_fidelity, factor=3,
                                      hyperband_iterations=1000, **options)
    else:
        initial = max(3, args.epochs // args.fixed_epochs // 3) if method == "kt-bayesian-gp" else None
        tuner = keras_tuner.BayesianOptimization(adapter.HyperModel(trainer), max_trials=100000,
                                                 num_initial_points=initial, **options)
    try:
        tuner.search(verbose=0)
    except BudgetSpent:
        pass
    return adapter.best_genome(tuner, trainer)


def _optuna(trainer, seed: int) -> dict:
    import optuna

    from nas.peers import BudgetSpent
    from nas.peers import optuna as adapter

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1,
                                                                      max_resource=trainer.budget.epochs,
                                                                      reduction_factor=3))
    try:
        study.optimize(adapter.objective(trainer), n_trials=100000)
    except BudgetSpent:
        pass
    return adapter.best_genome(study, trainer)


def _peer(method: str, data, args, seed: int, objective: str, folder: str) -> tuple[list[dict], dict]:
    """A peer tool through nas.peers; the trials from the trainer's ledger (rejected genomes cost no epoch)."""
    from nas.peers import Trainer

    fixed = method.startswith("kt-bayesian")
    trainer = Trainer("cnn", data, _budget(args, epochs=args.fixed_epochs if fixed else args.max_fidelity),
                      seed=seed, objective=objective, max_epochs=args.epochs, tool=method)
    if method.startswith("kt-"):
        chosen = _keras_tuner(method, trainer, args, seed, folder)
    elif method == "optuna-tpe-hyperband":
        chosen = _optuna(trainer, seed)
    else:
        from nas.peers import dehb as adapter

        chosen = adapter.best_genome(adapter.search(trainer, min_epochs=1, max_epochs=args.max_fidelity, eta=3,
                                                    seed=seed, output_path=folder), trainer)
    return trainer.trials, chosen


def test_score(genome: dict, data, args, seed: int, cache: dict) -> float:
    """The genome trained on the whole training split for --retrain-epochs, once per --retrain-seeds fresh seed (the
    same ones for every method), and scored on the test split by the mean (balanced accuracy where the data is
    imbalanced, else accuracy)."""
    key = nas.genome_hash(genome)
    if key not in cache:
        scores = test_scores(genome, nas.space.builtin_space("cnn"), data, args.retrain_epochs,
                             [seed + 1000 + k for k in range(args.retrain_seeds)])
        cache[key] = statistics.fmean(scores["balanced_accuracy" if data.class_weighted else "accuracy"])
    return cache[key]


def incumbents(trials: list[dict], budget: int) -> list[tuple[int, dict | None]]:
    """The best genome by validation score among the trials finished by a third, two thirds and all of ``budget``
    epochs (counted cumulatively in the order they finished)."""
    points, spent, best = [], 0, None
    marks = [budget // 3, 2 * budget // 3, budget]
    for trial in trials:
        while marks and spent + trial["epochs"] > marks[0]:
            points.append((marks.pop(0), best and best["genome"]))
        spent += trial["epochs"]
        if trial["status"] in ("ok", "pruned") and (best is None or trial["score"] > best["score"]):
            best = trial
    points += [(mark, best and best["genome"]) for mark in marks]
    return points


def one_run(method: str, data, args, seed: int, objective: str) -> dict:
    """Search with ``method``; then the test score of its incumbents. A crashed or missing tool is reported, not
    raised."""
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        try:
            search = _nas if method == "random" or method.startswith("nas-") else _peer
            trials, chosen = search(method, data, args, seed, objective, folder)
        except ImportError as error:
            return {"method": method, "seed": seed, "status": f"not installed: {error}"}
        except Exception as error:  # noqa: BLE001 - one tool's crash must not end the benchmark
            traceback.print_exc()
            return {"method": method, "seed": seed, "status": f"crashed: {type(error).__name__}: {error}"}
    seconds = time.perf_counter() - clock
    trained = [t for t in trials if t["status"] in ("ok", "pruned")]
    cache: dict = {}
    marks = [] if args.final_only else incumbents(trials, args.epochs)
    curve = [(mark, test_score(genome, data, args, seed, cache)) for mark, genome in marks if genome is not None]
    total = sum(t["epochs"] for t in trials)
    final = test_score(chosen, data, args, seed, cache)
    return {"method": method, "seed": seed, "status": "ok", "seconds": round(seconds, 1), "trainings": len(trained),
            "rejected": len(trials) - len(trained), "epochs": total,
            "best_val": max(t["score"] for t in trained), "test": final, "curve": curve[:-1] + [(total, final)],
            "genome": chosen}


def make_data(name: str, args):
    """The data set ``name`` (digits, synthetic_lesions, or ham10000 at 64 px from ``--ham``), seed 0."""
    if name == "digits":
        return nas.data.digits(seed=0)
    if name == "synthetic_lesions":
        return nas.data.synthetic_lesions(n=1000, image_size=16, seed=0)
    if name == "ham10000" and args.ham:
        return nas.data.ham10000(args.ham, image_size=64, seed=0)
    sys.exit(f"peers.py: --datasets {name}: choose digits, synthetic_lesions or ham10000 (ham10000 needs --ham PATH)")


def _child(conn, method: str, name: str, args, seed: int, objective: str) -> None:
    conn.send(one_run(method, make_data(name, args), args, seed, objective))
    conn.close()


def isolated_run(method: str, name: str, args, seed: int, objective: str) -> dict:
    """:func:`one_run` in a fresh process, so that no tool's state (TensorFlow's above all) carries into the next:
    one seed-3 run hung inside TensorFlow while retraining DEHB's pick after every tool had run in one process, and
    the same run alone did not. A run that gives no result within ``--method-timeout`` seconds is stopped and
    reported as hung, one whose process dies as crashed; the benchmark goes on."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, method, name, args, seed, objective), daemon=True)
    child.start()
    send.close()
    row = None
    if receive.poll(args.method_timeout):
        try:
            row = receive.recv()
        except EOFError:  # the process died without a result
            pass
    hung = row is None and child.is_alive()
    if hung:
        child.kill()
    child.join()
    if row is not None:
        return row
    if hung:
        return {"method": method, "seed": seed, "status": f"hung: no result in {args.method_timeout:.0f} s, stopped"}
    return {"method": method, "seed": seed, "status": f"crashed: its process exited with code {child.exitcode}"}


def summary(rows: list[dict], reference: str) -> dict:
    """Per method: mean and standard error of the test score, per-seed wins against ``reference``, and what it spent."""
    done = [r for r in rows if r["status"] == "ok"]
    by_seed = {r["seed"]: r["test"] for r in done if r["method"] == reference}
    table = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in done if r["method"] == method]
        failures = [r["status"] for r in rows if r["method"] == method and r["status"] != "ok"]
        if not mine:
            table[method] = {"status": failures[0] if failures else "no runs"}
            continue
        tests = [r["test"] for r in mine]
        table[method] = {
            "runs": len(mine), "failures": failures, "mean_test": statistics.fmean(tests),
            "se_test": _se(tests) if len(tests) > 1 else None,
            "wins_vs_nas": sum(r["test"] > by_seed[r["seed"]] for r in mine if r["seed"] in by_seed)
            if by_seed else None,
            "ties_vs_nas": sum(r["test"] == by_seed[r["seed"]] for r in mine if r["seed"] in by_seed)
            if by_seed else None,
            "mean_best_val": statistics.fmean(r["best_val"] for r in mine),
            "mean_epochs": statistics.fmean(r["epochs"] for r in mine),
            "mean_trainings": statistics.fmean(r["trainings"] for r in mine),
            "mean_seconds": statistics.fmean(r["seconds"] for r in mine)}
    return table


def _se(values: list[float]) -> float:
    """The standard error of the mean of ``values`` (0.0 for one value)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def _plot_curves(ax, rows: list[dict]) -> None:
    """Test score against epochs spent, one line per method (mean over seeds, a band of one standard error), at a
    third, two thirds and all of the budget."""
    for method in dict.fromkeys(r["method"] for r in rows):
        curves = [r["curve"] for r in rows if r["method"] == method]
        points = min(len(c) for c in curves)  # fewer than 3 where a run had no incumbent by a third of the budget
        x = [statistics.fmean(c[i - points][0] for c in curves) for i in range(points)]
        y = [statistics.fmean(c[i - points][1] for c in curves) for i in range(points)]
        se = [_se([c[i - points][1] for c in curves]) for i in range(points)]
        line, = ax.plot(x, y, marker="o", label=method)
        ax.fill_between(x, [a - b for a, b in zip(y, se)], [a + b for a, b in zip(y, se)],
                        color=line.get_color(), alpha=0.15)
    ax.set_xlabel("training epochs spent")
    if ax.lines:
        ax.legend(fontsize=8)


def _plot_finals(ax, rows: list[dict]) -> None:
    """Each method's final choice only (``--final-only``): every seed's test score as a dot, the mean with one
    standard error as a bar."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for index, method in enumerate(methods):
        tests = [r["test"] for r in rows if r["method"] == method]
        ax.scatter([index] * len(tests), tests, color="grey", s=14, zorder=2)
        ax.errorbar([index], [statistics.fmean(tests)], yerr=[_se(tests)], fmt="o", capsize=4, markersize=7, zorder=3)
    ax.set_xticks(range(len(methods)), methods, rotation=25, ha="right", fontsize=8)
    ax.set_xlabel("method (grey: one seed each; mean +- one standard error)")


def plot(figures: dict, path: Path) -> None:
    """Test score against epochs spent per method; with ``--final-only`` each method's final choice per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(figures["datasets"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        rows = [r for r in figures["datasets"][name]["runs"] if r["status"] == "ok"]
        final_only = all(len(r["curve"]) == 1 for r in rows)
        (_plot_finals if final_only else _plot_curves)(ax, rows)
        metric = figures["datasets"][name]["metric"]
        seeds = sorted({sum(r["method"] == m for r in rows) for m in {r["method"] for r in rows}} or {0})
        count = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        ax.set(title=f"{name} ({count} seeds per method)",
               ylabel=f"test {metric} of the {'choice' if final_only else 'incumbent'}, retrained")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge(names: list[str], output: str, reference: str) -> None:
    """One results file from several (the same settings but for their seeds, e.g. ``--seed-list`` in another
    session): each dataset's runs by seed and method, a (method, seed) taken from the first file that has it. A seed
    that not every method ran (a benchmark stopped for time) is left out, and named in ``partial_seeds``."""
    parts = [json.loads((RESULTS / f"{name}.json").read_text()) for name in names]
    figures: dict = {"settings": {**parts[0]["settings"], "merged_from": names}, "datasets": {}}
    for part in parts:
        for name, result in part["datasets"].items():
            entry = figures["datasets"].setdefault(name, {**result, "runs": []})
            taken = {(r["method"], r["seed"]) for r in entry["runs"]}
            entry["runs"] += [r for r in result["runs"] if (r["method"], r["seed"]) not in taken]
    for entry in figures["datasets"].values():
        methods = {r["method"] for r in entry["runs"]}
        seeds = {seed for seed in {r["seed"] for r in entry["runs"]}
                 if {r["method"] for r in entry["runs"] if r["seed"] == seed} == methods}
        entry["partial_seeds"] = sorted({r["seed"] for r in entry["runs"]} - seeds)
        entry["runs"] = sorted((r for r in entry["runs"] if r["seed"] in seeds), key=lambda r: r["seed"])
        entry["summary"] = summary(entry["runs"], reference)
    print(f"merged {', '.join(names)} into {save(output, figures)}")
    plot(figures, RESULTS / f"{output}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,synthetic_lesions",
                        help="comma-separated: digits, synthetic_lesions, ham10000 (needs --ham)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 to N-1")
    parser.add_argument("--seed-list", default=None, help="comma-separated seeds instead (then --merge)")
    parser.add_argument("--merge", default=None, metavar="NAMES",
                        help="no search: combine the runs of these comma-separated results files into --output")
    parser.add_argument("--epochs", type=int, default=48, help="training epochs each method may spend per search")
    parser.add_argument("--max-fidelity", type=int, default=3, help="most epochs of one multi-fidelity trial")
    parser.add_argument("--fixed-epochs", type=int, default=2, help="epochs of one trial of a fixed-budget method")
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-seeds", type=int, default=3,
                        help="retrains of each pick, scored by their mean (the results files before it: 1)")
    parser.add_argument("--train-samples", type=int, default=None, help="Budget.max_train_samples of every trial")
    parser.add_argument("--max-params", type=int, default=None, help="Budget.max_params of every trial")
    parser.add_argument("--max-flops", type=int, default=None, help="Budget.max_flops of every trial")
    parser.add_argument("--final-only", action="store_true",
                        help="retrain only each method's final choice, not its incumbents at a third and two thirds "
                             "of the budget (the plot then shows one point per method)")
    parser.add_argument("--immigrants", type=float, default=0.0,
                        help="nas.evolve's immigrants for the nas methods: the share of bred genomes that are random "
                             "ones (default 0)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--reference", default="nas-aging-fidelity",
                        help="the method the others' per-seed wins are counted against")
    parser.add_argument("--ham", metavar="PATH", help="the HAM10000 folder, for --datasets ham10000 (64 px)")
    parser.add_argument("--method-timeout", type=float, default=4 * 3600,
                        help="seconds one method's search and retrains may take before it is stopped as hung")
    parser.add_argument("--output", default="peers", help="results name under benchmarks/results/")
    parser.add_argument("--replot", action="store_true", help="only draw the plot again from the results file")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((RESULTS / f"{args.output}.json").read_text()), RESULTS / f"{args.output}.png")
        return
    if args.merge:
        return merge(args.merge.split(","), args.output, args.reference)
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    figures: dict = {"settings": vars(args), "datasets": {}}
    for name in args.datasets.split(","):
        data = make_data(name, args)
        metric = "balanced_accuracy" if data.class_weighted else "accuracy"
        objective = "val_balanced_accuracy" if data.class_weighted else "val_accuracy"
        entry = figures["datasets"][name] = {"data": data.summary(), "metric": metric, "runs": []}
        for seed in seeds:
            for method in args.methods.split(","):
                row = isolated_run(method, name, args, seed, objective)
                entry["runs"].append(row)
                entry["summary"] = summary(entry["runs"], args.reference)
                save(args.output, figures)
                print(f"{name} seed {seed} {method}: " + (
                    f"test {metric} {row['test']:.4f}, best val {row['best_val']:.4f}, {row['epochs']} epochs in "
                    f"{row['trainings']} trainings ({row['rejected']} rejected), {row['seconds']} s"
                    if row["status"] == "ok" else row["status"]), flush=True)
    plot(figures, RESULTS / f"{args.output}.png")
    for name, entry in figures["datasets"].items():
        print(f"\n{name}: test {entry['metric']} of each method's choice, retrained (mean +- SE over seeds)")
        for method, result in entry["summary"].items():
            if "mean_test" not in result:
                print(f"  {method:22s} {result['status']}")
                continue
            se = f"{result['se_test']:.4f}" if result["se_test"] is not None else "-"
            wins = "-" if result["wins_vs_nas"] is None else f"{result['wins_vs_nas']}/{result['runs']}"
            print(f"  {method:22s} {result['mean_test']:.4f} +- {se}  wins vs {args.reference} {wins}  best val "
                  f"{result['mean_best_val']:.4f}  {result['mean_epochs']:.0f} epochs, "
                  f"{result['mean_trainings']:.1f} trainings, {result['mean_seconds']:.0f} s")
    print(f"results: {RESULTS / (args.output + '.json')}, plot: {RESULTS / (args.output + '.png')}")


if __name__ == "__main__":
    main()
