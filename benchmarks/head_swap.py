"""Does the head gene alone decide what a searched genome retrains to? The same genomes with the other head.

    python benchmarks/head_swap.py --ham PATH [--source peers_ham10000_all] [--picks 0,1,...] [--check 1]
        [--retrain-epochs 6] [--retrain-seeds 2] [--output head_swap_ham10000]
    python benchmarks/head_swap.py --merge NAME,NAME --output head_swap_ham10000
    python benchmarks/head_swap.py --ham PATH --proxy-epochs 3 --proxy-samples 2000 --output head_swap_ham10000_proxy

Over the 27 genomes that the methods of benchmarks/peers.py chose on HAM10000 (peers_ham10000_all.json: nine
methods, three seeds), the 11 with a ``flatten`` head retrained to a higher test balanced accuracy on average than the
16 with a global-average head. That is an observation across different genomes (depth, filters and the rest differ
too). This benchmark controls it: each chosen genome is retrained with the other head (``flatten`` <->
``global_avg``), everything else equal, with the peers' protocol (64 px, the whole training split, --retrain-epochs,
the same --retrain-seeds seeds as the pick had: ``seed + 1000 + k``), and scored once on the test split; the
genome's own figure is the one in the source file. The first --check picks of each process are also retrained as
they were, to confirm that the source's figures reproduce in this install (else the comparison is not paired).

Figures: per pick the two heads' test balanced accuracy; the paired difference flatten minus global-average (mean,
standard error, the picks where flatten scored higher), over all picks and by the head the method had chosen.
results/head_swap_ham10000.json merges head_swap_ham10000_a.json (``--picks 0,...,13``, stopped after pick 7) and
head_swap_ham10000_b.json (``--picks 14,...,26``, stopped after pick 22), both with ``--check 1``, and
head_swap_ham10000_c.json (``--picks 8,...,13,23,...,26 --check 0``, the pairs they had left).

With ``--proxy-epochs E`` the same pairs are measured the way the searches ranked them instead: each head trained
``E`` epochs on ``--proxy-samples`` training images (class-weighted, the run seed's common training seed), its
validation balanced accuracy after every epoch (peers.py's multi-fidelity searches ranked on epochs 1 and 3).
Figures: the paired difference flatten minus global-average after each epoch, beside the retrained one.
results/head_swap_ham10000_proxy.json holds ``--proxy-epochs 3 --proxy-samples 2000`` for picks 0-17, merged with
head_swap_ham10000_proxy_b.json (the same with ``--picks 18,...,26``) by ``--merge
head_swap_ham10000_proxy,head_swap_ham10000_proxy_b --output head_swap_ham10000_proxy``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, test_scores  # noqa: E402

import nas  # noqa: E402
from nas.training import Budget, evaluate, training_seed  # noqa: E402

OTHER = {"flatten": "global_avg", "global_avg": "flatten"}
SHAPE, CLASSES = (64, 64, 3), 7  # HAM10000 at 64 px, as peers.py searched it


def retest(genome: dict, data, args, seed: int) -> list[float]:
    """Test balanced accuracy of ``genome`` retrained once per peers.py retrain seed of a pick of run seed ``seed``."""
    return test_scores(genome, nas.space.builtin_space("cnn"), data, args.retrain_epochs,
                       [seed + 1000 + k for k in range(args.retrain_seeds)])["balanced_accuracy"]


def swap(row: dict, data, args, check: bool) -> dict:
    """One pick of the source file and the same genome with the other head, retrained and tested."""
    space = nas.space.builtin_space("cnn")
    genome = row["genome"]
    swapped = {**genome, "head": OTHER[genome["head"]]}
    space.check(swapped)
    clock = time.perf_counter()
    scores = retest(swapped, data, args, row["seed"])
    result = {"method": row["method"], "seed": row["seed"], "head": genome["head"], "test": row["test"],
              "swapped_head": swapped["head"], "swapped_test": statistics.fmean(scores),
              "swapped_test_per_seed": scores, "seconds": round(time.perf_counter() - clock, 1),
              **counts(genome, swapped)}
    if check:
        result["retest"] = statistics.fmean(retest(genome, data, args, row["seed"]))
    return result


def proxy(row: dict, data, args) -> dict:
    """Both heads of one pick trained as a search's proxy: validation balanced accuracy after each epoch."""
    space = nas.space.builtin_space("cnn")
    budget = Budget(epochs=args.proxy_epochs, max_train_samples=args.proxy_samples).for_data(data)
    curves = {}
    for head in OTHER:
        genome = {**row["genome"], "head": head}
        digest = space.hash(genome)
        outcome = evaluate(genome, space=space, data=data, budget=budget, genome_hash=digest,
                           seed=training_seed(row["seed"], digest, "run"))
        curves[head] = [entry["val_balanced_accuracy"] for entry in outcome.get("curve") or []]
    return {"method": row["method"], "seed": row["seed"], "head": row["genome"]["head"], "test": row["test"],
            "proxy": curves}


def proxy_summary(rows: list[dict]) -> dict:
    """Per epoch: the paired proxy difference flatten minus global-average, and the picks where flatten led. A pick
    whose two curves are equal is one network under both heads (a 1x1 last feature map, trained with the same seed):
    left out, counted as ``identical``."""
    table: dict = {"identical": sum(r["proxy"]["flatten"] == r["proxy"]["global_avg"] for r in rows)}
    rows = [r for r in rows if r["proxy"]["flatten"] != r["proxy"]["global_avg"]]
    for epoch in range(max(len(r["proxy"]["flatten"]) for r in rows)):
        pairs = [r["proxy"]["flatten"][epoch] - r["proxy"]["global_avg"][epoch] for r in rows
                 if len(r["proxy"]["flatten"]) > epoch and len(r["proxy"]["global_avg"]) > epoch]
        se = statistics.stdev(pairs) / len(pairs) ** 0.5 if len(pairs) > 1 else None
        table[f"epoch_{epoch + 1}"] = {"picks": len(pairs), "mean_flatten_minus_global_avg": statistics.fmean(pairs),
                                       "se": se, "flatten_higher": sum(d > 0 for d in pairs)}
    return table


def counts(genome: dict, swapped: dict) -> dict:
    """Parameters and FLOPs per image (analytic) of a pick and of its swapped twin."""
    space = nas.space.builtin_space("cnn")
    return {"params": space.count_params(genome, SHAPE, CLASSES),
            "swapped_params": space.count_params(swapped, SHAPE, CLASSES),
            "flops": space.count_flops(genome, SHAPE, CLASSES),
            "swapped_flops": space.count_flops(swapped, SHAPE, CLASSES)}


def summary(rows: list[dict]) -> dict:
    """Paired flatten-minus-global-average differences, over all picks and by the head the method chose. A genome
    whose last feature map is 1x1 is the same network under both heads (equal parameter counts): such picks are
    counted as ``identical`` and left out of the differences."""
    checks = [r for r in rows if "retest" in r]
    identical = [r for r in rows if r["params"] == r["swapped_params"]]
    rows = [r for r in rows if r["params"] != r["swapped_params"]]

    def paired(subset: list[dict]) -> dict:
        differences = [(r["test"] - r["swapped_test"]) * (1 if r["head"] == "flatten" else -1) for r in subset]
        se = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else None
        return {"picks": len(subset), "mean_flatten_minus_global_avg": statistics.fmean(differences),
                "se": se, "flatten_higher": sum(d > 0 for d in differences)}
    groups = {"all": rows, **{f"chosen_{head}": [r for r in rows if r["head"] == head] for head in OTHER}}
    return {**{name: paired(subset) for name, subset in groups.items() if subset}, "identical": len(identical),
            "checks": {"picks": len(checks), "reproduced": sum(abs(r["retest"] - r["test"]) < 1e-9 for r in checks),
                       "largest_difference": max((abs(r["retest"] - r["test"]) for r in checks), default=None)}}


def merge(names: list[str], output: str) -> None:
    """Join the picks of several results files into one with its summary (of the proxy pairs where they are)."""
    files = [json.loads((RESULTS / f"{name}.json").read_text()) for name in names]
    rows = sorted((row for figures in files for row in figures["rows"]), key=lambda row: row["pick"])
    source = json.loads((RESULTS / f"{files[0]['settings']['source']}.json").read_text())["datasets"]["ham10000"]
    for row in rows:  # the counts of files written before they were recorded
        genome = source["runs"][row["pick"]]["genome"]
        row.update(counts(genome, {**genome, "head": OTHER[genome["head"]]}))
    table = proxy_summary(rows) if "proxy" in rows[0] else summary(rows)
    save(output, {"settings": {**files[0]["settings"], "merged_from": names}, "rows": rows, "summary": table})
    print(json.dumps(table, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ham", metavar="PATH", help="the HAM10000 folder (64 px)")
    parser.add_argument("--source", default="peers_ham10000_all", help="peers.py results file with the picks")
    parser.add_argument("--picks", default=None, help="comma-separated indices of the source's runs (default all)")
    parser.add_argument("--check", type=int, default=1, help="retrain this many picks as they were, too")
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-seeds", type=int, default=2)
    parser.add_argument("--proxy-epochs", type=int, default=None,
                        help="measure the pairs as a search did: this many epochs on --proxy-samples images")
    parser.add_argument("--proxy-samples", type=int, default=2000)
    parser.add_argument("--merge", default=None, metavar="NAMES", help="no training: join these results files")
    parser.add_argument("--output", default="head_swap_ham10000")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge.split(","), args.output)
    if not args.ham:
        parser.error("--ham PATH is required (the HAM10000 folder)")
    source = json.loads((RESULTS / f"{args.source}.json").read_text())["datasets"]["ham10000"]["runs"]
    indices = [int(i) for i in args.picks.split(",")] if args.picks else list(range(len(source)))
    data = nas.data.ham10000(args.ham, image_size=64, seed=0)
    rows: list[dict] = []
    for n, index in enumerate(indices):
        if source[index]["status"] != "ok":
            continue
        if args.proxy_epochs:
            rows.append({"pick": index, **proxy(source[index], data, args)})
            save(args.output, {"settings": vars(args), "rows": rows, "summary": proxy_summary(rows)})
            print(f"pick {index}: {rows[-1]['proxy']}", flush=True)
            continue
        rows.append({"pick": index, **swap(source[index], data, args, check=n < args.check)})
        save(args.output, {"settings": vars(args), "rows": rows, "summary": summary(rows)})
        last = rows[-1]
        print(f"pick {index} {last['method']} seed {last['seed']}: {last['head']} {last['test']:.4f} -> "
              f"{last['swapped_head']} {last['swapped_test']:.4f} ({last['seconds']} s)", flush=True)
    print(json.dumps(proxy_summary(rows) if args.proxy_epochs else summary(rows), indent=1))


if __name__ == "__main__":
    main()
