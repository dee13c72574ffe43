"""How well does a short training rank genomes, and how should a budget of epochs be spent? A tabular study on
random genomes of the search-quality benchmark's space and data.

    python benchmarks/fidelity_proxy.py [--datasets synthetic_lesions,digits] [--genomes 64] [--seed 0] [--epochs 6]
                                        [--max-train-samples 500] [--retrain-seeds 3] [--budget 32]
                                        [--draws 4000] [--output fidelity_proxy]
    python benchmarks/fidelity_proxy.py --from-table fidelity_proxy   # only the simulations, no training

``--genomes`` random genomes (the ones ``nas.evolve`` draws first with ``--seed``, default 0) are each trained once
for ``--epochs`` epochs on ``--max-train-samples`` images with the run's seed, as a search with common random numbers
trains them, and the validation accuracy after every epoch is kept (a promotion continues into that same training,
so epoch k of this curve is the score rung k gives). Each genome is then retrained as ``search_quality.py``'s
verdict retrains a pick (the whole training split, ``--epochs`` epochs, ``--retrain-seeds`` seeds) and scored on
the test split by the mean: its *truth*. The table gives

- Kendall's tau-b between the validation accuracy after k epochs and the truth, for every k (how well rung k ranks);
- simulated searches that draw their genomes from the table without replacement, ``--draws`` times each, all at
  ``--budget`` epochs: random sampling at k epochs a genome (``budget / k`` genomes, the best at epoch k picked),
  successive halving over random genomes (every genome at the lowest rung, the best 1/eta continued), and the best
  truth among 16 and among ``--budget`` genomes (what a perfect ranking of random sampling's 16, or of as many
  genomes as the budget trains for one epoch, would pick). Each strategy's figure is the mean truth of its picks,
  how often it beats random sampling at 2 epochs on the same draw, and from that rate the probability of beating it
  in at least 4 of 5 independent seeds (issue 10's target; a binomial, since seeds are independent draws).

The table (``table``) is saved, so ``--from-table NAME`` reruns the simulations without training.
results/fidelity_proxy.json holds ``--datasets synthetic_lesions,digits --genomes 64``, and
fidelity_proxy_seed1.json ``--datasets synthetic_lesions --seed 1``: another pool of 64, since a strategy's figures
are those of the pool it draws from. fidelity_proxy_target.json and fidelity_proxy_seed1_target.json rerun the
simulations on those two files' tables (``--from-table fidelity_proxy --output fidelity_proxy_target``, and
``--from-table fidelity_proxy_seed1 --datasets synthetic_lesions --output fidelity_proxy_seed1_target``) with the
best truth of 32 and the 4-of-5 probability added; every other figure repeats the earlier files'.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, test_scores  # noqa: E402

import nas  # noqa: E402
from nas.ranking import kendall_tau_b  # noqa: E402

MAKERS = {"digits": lambda: nas.data.digits(seed=0),
          "synthetic_lesions": lambda: nas.data.synthetic_lesions(n=1000, image_size=16, seed=0)}


def table(data, args) -> list[dict]:
    """Each random genome's validation curve in a search's training and its retrained truth."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = nas.evolve("cnn", data, population=args.genomes, generations=1, seed=args.seed, run_dir=f"{tmp}/run",
                         budget=nas.Budget(epochs=args.epochs, max_train_samples=args.max_train_samples),
                         executor=nas.InlineExecutor(), verbose=False)
        seeds = [1000 + k for k in range(args.retrain_seeds)]
        for n, record in enumerate(r for r in run.evaluations if r["status"] == "ok"):
            clock = time.perf_counter()
            scores = test_scores(record["genome"], run.space, data, args.epochs, seeds)
            rows.append({"genome_hash": record["genome_hash"], "params": record["metrics"].get("params"),
                         "curve": [point["val_accuracy"] for point in record["curve"]],
                         "truth": statistics.fmean(scores["accuracy"]),
                         "truth_val": statistics.fmean(scores["val_accuracy"])})
            print(f"genome {n + 1}/{args.genomes}: curve {' '.join(f'{v:.3f}' for v in rows[-1]['curve'])}; "
                  f"truth {rows[-1]['truth']:.4f} ({time.perf_counter() - clock:.0f} s)", flush=True)
    return rows


def pick(rows: list[dict], epoch: int) -> dict:
    """The row with the best validation accuracy after ``epoch`` epochs (the earlier on ties, as ``run.best``)."""
    return max(rows, key=lambda r: r["curve"][epoch - 1])


def halving(rows: list[dict], rungs: tuple[int, ...], eta: int) -> dict:
    """Successive halving: every row at the first rung, the best ``1/eta`` (at least one) on to the next."""
    alive = rows
    for rung in rungs[:-1]:
        alive = sorted(alive, key=lambda r: -r["curve"][rung - 1])[:max(1, len(alive) // eta)]
    return pick(alive, rungs[-1])


def halving_size(rungs: tuple[int, ...], eta: int, budget: int) -> int:
    """The most genomes successive halving can start within ``budget`` epochs (promotions count the epochs added)."""
    best = 0
    for n in range(1, budget + 1):
        kept, low, spent = n, 0, 0
        for rung in rungs:
            spent += kept * (rung - low)
            low, kept = rung, max(1, kept // eta)
        if spent <= budget:
            best = n
    return best


def strategies(budget: int, epochs: int) -> dict:
    """name -> (genomes drawn, function of the drawn rows to the pick)."""
    named: dict = {f"random at {k} epochs": (budget // k, lambda rows, k=k: pick(rows, k))
                   for k in (1, 2, 3, 4, 6) if k <= epochs and budget // k >= 2}
    for rungs, eta in (((1, 2, 4), 2), ((1, 3), 3), ((2, 6), 3), ((1, 2), 2), ((2, 4), 2), ((1, 6), 6)):
        if rungs[-1] <= epochs:
            named[f"halving {':'.join(map(str, rungs))} eta {eta}"] = (
                halving_size(rungs, eta, budget), lambda rows, rungs=rungs, eta=eta: halving(rows, rungs, eta))
    for size in (16, budget):
        named[f"best truth of {size} (a perfect ranking)"] = (size, lambda rows: max(rows, key=lambda r: r["truth"]))
    return named


def at_least(wins: int, seeds: int, p: float) -> float:
    """The probability of at least ``wins`` wins in ``seeds`` independent seeds, each won with probability ``p``."""
    return sum(math.comb(seeds, k) * p ** k * (1 - p) ** (seeds - k) for k in range(wins, seeds + 1))


def simulate(rows: list[dict], args) -> dict:
    """Each strategy's mean truth over ``--draws`` draws, and its wins and losses against random at 2 epochs."""
    generator = random.Random(0)
    named = strategies(args.budget, args.epochs)
    results: dict = {name: {"genomes": size, "truths": [], "wins": 0, "losses": 0}
                     for name, (size, _) in named.items() if size <= len(rows)}
    for _ in range(args.draws):
        order = generator.sample(rows, len(rows))  # one draw: every strategy takes its genomes from its front
        baseline = pick(order[:args.budget // 2], 2)["truth"]
        for name, result in results.items():
            truth = named[name][1](order[:result["genomes"]])["truth"]
            result["truths"].append(truth)
            result["wins"] += truth > baseline
            result["losses"] += truth < baseline
    return {name: {"genomes": r["genomes"], "mean_truth": statistics.fmean(r["truths"]),
                   "beats_random_2": r["wins"] / args.draws, "loses_to_random_2": r["losses"] / args.draws,
                   "beats_random_2_in_4_of_5": at_least(4, 5, r["wins"] / args.draws)}
            for name, r in results.items()}


def study(rows: list[dict], args) -> dict:
    truths = [r["truth"] for r in rows]
    taus = {str(k): kendall_tau_b([r["curve"][k - 1] for r in rows], truths) for k in range(1, args.epochs + 1)}
    return {"tau_epoch_vs_truth": taus,
            "tau_retrained_val_vs_truth": kendall_tau_b([r["truth_val"] for r in rows], truths),
            "truth_range": [min(truths), statistics.median(truths), max(truths)],
            "simulated": simulate(rows, args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic_lesions,digits")
    parser.add_argument("--genomes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="the search seed that draws the genomes (and trains them)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-train-samples", type=int, default=500)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=32, help="epochs each simulated search may spend")
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--from-table", default=None, metavar="NAME",
                        help="no training: rerun the simulations on the tables of results/NAME.json")
    parser.add_argument("--output", default="fidelity_proxy")
    args = parser.parse_args()
    unknown = set(args.datasets.split(",")) - set(MAKERS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; choose from {', '.join(MAKERS)}")

    old = json.loads((RESULTS / f"{args.from_table}.json").read_text()) if args.from_table else None
    figures: dict = {"settings": vars(args), "datasets": {}}
    for name in args.datasets.split(","):
        rows = old["datasets"][name]["table"] if old else table(MAKERS[name](), args)
        figures["datasets"][name] = {"table": rows, **study(rows, args)}
        save(args.output, figures)
        result = figures["datasets"][name]
        print(f"{name}: tau-b of the validation accuracy after k epochs with the truth: "
              + ", ".join(f"k={k} {tau:.3f}" for k, tau in result["tau_epoch_vs_truth"].items() if tau is not None))
        for strategy, figure in result["simulated"].items():
            print(f"  {strategy} ({figure['genomes']} genomes): mean truth {figure['mean_truth']:.4f}; beats random "
                  f"at 2 epochs in {figure['beats_random_2']:.0%} of draws, "
                  f"loses in {figure['loses_to_random_2']:.0%}; "
                  f"beats it in at least 4 of 5 seeds with probability {figure['beats_random_2_in_4_of_5']:.3f}")


if __name__ == "__main__":
    main()
