"""Are a search's children worth more than random genomes? What the engine's operators make of the genomes a search
selects, measured by the retrained test score, on the search-quality benchmark's space and data.

    python benchmarks/offspring.py [--dataset synthetic_lesions] [--seed 0] [--genomes 16] [--parents 4]
                                   [--children 4] [--epochs 3] [--max-train-samples 500] [--retrain-epochs 6]
                                   [--retrain-seeds 3] [--reuse NAME] [--output offspring]
    python benchmarks/offspring.py --from-table offspring   # only the analysis, no training

A search can only beat random sampling if the genomes it breeds from the ones it selected are better than fresh random
ones. This measures that directly, one generation deep:

1. ``--genomes`` random genomes (the first generation ``nas.evolve`` draws with ``--seed``) are trained as a search
   with common random numbers trains them (``--epochs`` epochs on ``--max-train-samples`` images): the *proxy*, their
   validation accuracy at the last epoch.
2. The ``--parents`` best on the proxy (the search's selection) each get ``--children`` children of each operator the
   engine uses: ``mutation`` (``SearchSpace.mutate``, one gene on average, at least one) and ``crossover+mutation``
   (uniform crossover with another parent, then a mutation, as an aging child is made), each repaired and made new by
   the engine's admission. The children are trained with the same proxy, in one search of the same seed.
3. Every genome is retrained as ``search_quality.py``'s verdict retrains a pick (the whole training split,
   ``--retrain-epochs`` epochs, ``--retrain-seeds`` seeds) and scored on the test split by the mean: its *truth*.

Per operator it reports the children's mean truth and its spread (standard deviation), how often a child beats
its (first) parent, the best random genome (the best of the first generation, by truth: a perfect pick from random
sampling's draws) and random sampling's own pick (the best first-generation genome on the proxy), and the rank
correlation of parent and child truth (is quality inherited?); per mutated gene, the mean change of truth. A fresh
random genome beats the best of ``--genomes`` random ones with probability ``1 / (genomes + 1)``: the rate a child
must exceed to be worth more than another random draw at the top. The table (``table``) is saved, so
``--from-table NAME`` reruns the analysis.
A third operator, ``linked+mutation`` (linked crossover: the space's groups of genes swapped whole), is bred in a
second round after the other two, so their children stay those of tables made before it existed. ``--reuse NAME``
takes the truth of every genome NAME.json's table measured (retraining is deterministic in one install) and retrains
only the others, and the first random genome to check that the install reproduces it (``reused`` in the table).
results/offspring.json holds the defaults (seed 0) and offspring_seed1.json ``--seed 1``, both made before the
linked round; offspring_linked.json ``--reuse offspring --output offspring_linked`` and offspring_linked_seed1.json
``--seed 1 --reuse offspring_seed1 --output offspring_linked_seed1``.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, test_scores  # noqa: E402

import nas  # noqa: E402
from nas.engine.admission import Admission  # noqa: E402
from nas.ranking import kendall_tau_b  # noqa: E402

MAKERS = {"digits": lambda: nas.data.digits(seed=0),
          "synthetic_lesions": lambda: nas.data.synthetic_lesions(n=1000, image_size=16, seed=0)}
#: Children are bred in rounds, each over every parent with the rng continuing, so the later round leaves the
#: children of the earlier ones (and so results files made before it existed) unchanged.
ROUNDS = (("mutation", "crossover+mutation"), ("linked+mutation",))
OPERATORS = tuple(operator for round_ in ROUNDS for operator in round_)


def proxy_run(data, args, run_dir: str, population: int, initial=()):
    """A one-generation search of ``population`` genomes (``initial`` first) with the proxy training."""
    budget = nas.Budget(epochs=args.epochs, max_train_samples=args.max_train_samples)
    return nas.evolve("cnn", data, population=population, generations=1, seed=args.seed, run_dir=run_dir,
                      budget=budget, initial=list(initial), executor=nas.InlineExecutor(), verbose=False)


def breed(parents: list[dict], space, data, args) -> list[dict]:
    """``--children`` children of each parent by each operator, repaired and new (no two alike, none a parent)."""
    rng = random.Random(args.seed)
    admission = Admission(space, data.input_shape, data.num_classes, nas.Budget())
    taken = {space.hash(p["genome"]) for p in parents}
    children = []
    for operators in ROUNDS:
        for parent in parents:
            others = [p for p in parents if p is not parent]
            for operator in operators:
                for _ in range(args.children):
                    partner = rng.choice(others) if operator != "mutation" else None
                    genome, linked = parent["genome"], operator.startswith("linked")
                    if partner is not None:
                        genome = space.crossover(genome, partner["genome"], rng, linked=linked)[0]
                    child = admission.admit(space.mutate(genome, rng), taken,
                                            lambda _, first=parent["genome"]: space.mutate(first, rng), "child")
                    taken.add(space.hash(child))
                    children.append({"genome": child, "operator": operator, "parent": parent["hash"],
                                     "partner": partner["hash"] if partner else None,
                                     "changed": sorted(k for k in child if child[k] != parent["genome"].get(k))})
    return children


def scored(record: dict) -> dict:
    return {"hash": record["genome_hash"], "genome": record["genome"], "proxy": record["metrics"]["val_accuracy"]}


def with_truth(rows: list[dict], space, data, args, label: str, known: dict[str, float]) -> list[dict]:
    """Each row with its truth: ``known[hash]`` where an earlier table measured it (retraining is deterministic in
    one install), else retrained."""
    seeds = [1000 + k for k in range(args.retrain_seeds)]
    for n, row in enumerate(rows):
        if row["hash"] in known:
            row["truth"] = known[row["hash"]]
            continue
        clock = time.perf_counter()
        row["truth"] = statistics.fmean(test_scores(row["genome"], space, data, args.retrain_epochs, seeds)["accuracy"])
        print(f"{label} {n + 1}/{len(rows)}: proxy {row['proxy']:.4f}, truth {row['truth']:.4f} "
              f"({time.perf_counter() - clock:.0f} s)", flush=True)
    return rows


def reusable(name: str | None) -> dict[str, dict]:
    """The rows (proxy, truth) of results/NAME.json's table by genome hash; none without a name."""
    if name is None:
        return {}
    rows = json.loads((RESULTS / f"{name}.json").read_text())["table"]
    return {row["hash"]: row for row in rows["founders"] + rows["children"]}


def table(data, args) -> dict:
    """The first generation and the children, each with its proxy and its truth. With ``--reuse``, a genome that
    table measured keeps its truth, except the first random genome, retrained to check the install reproduces it;
    ``reused`` counts the truths taken and the proxies that came out the same."""
    earlier = reusable(args.reuse)
    with tempfile.TemporaryDirectory() as tmp:
        first = proxy_run(data, args, f"{tmp}/first", args.genomes)
        founders = [scored(r) for r in first.evaluations if r["status"] == "ok"]
        parents = sorted(founders, key=lambda r: -r["proxy"])[:args.parents]
        children = breed(parents, first.space, data, args)
        second = proxy_run(data, args, f"{tmp}/children", len(children) + 1,
                           [parents[0]["genome"]] + [c["genome"] for c in children])
        records = {r["genome_hash"]: r for r in second.evaluations if r["status"] == "ok"}
        control = records[parents[0]["hash"]]["metrics"]["val_accuracy"]  # common random numbers: the same score
        for child in children:
            child.update(scored(records[first.space.hash(child["genome"])]))
        known = {key: row["truth"] for key, row in earlier.items() if key != founders[0]["hash"]}
        rows = {"founders": with_truth(founders, first.space, data, args, "random genome", known),
                "children": with_truth(children, first.space, data, args, "child", known),
                "parent_proxy_again": control}
    if earlier:
        measured = [row for row in rows["founders"] + rows["children"] if row["hash"] in earlier]
        first = rows["founders"][0]
        rows["reused"] = {"truths": sum(row["hash"] in known for row in measured),
                          "proxies_equal": sum(row["proxy"] == earlier[row["hash"]]["proxy"] for row in measured),
                          "retrained_truth": first["truth"], "earlier_truth": earlier[first["hash"]]["truth"]}
    return rows


def analyse(rows: dict, genomes: int) -> dict:
    founders, children = rows["founders"], rows["children"]
    truth = {f["hash"]: f["truth"] for f in founders}
    best = max(f["truth"] for f in founders)
    pick = max(founders, key=lambda f: f["proxy"])["truth"]  # random sampling's pick at this budget
    result: dict = {"random": {"genomes": len(founders), "mean_truth": statistics.fmean(truth.values()),
                               "best_truth": best, "proxy_pick_truth": pick,
                               "tau_proxy_truth": kendall_tau_b([f["proxy"] for f in founders],
                                                                [f["truth"] for f in founders]),
                               "chance_a_new_one_beats_the_best": 1 / (genomes + 1)},
                    "parent_proxy_reproduced": rows["parent_proxy_again"] == max(f["proxy"] for f in founders)}
    for operator in [o for o in OPERATORS if any(c["operator"] == o for c in children)] + ["all"]:
        group = [c for c in children if operator in ("all", c["operator"])]
        gains = [c["truth"] - truth[c["parent"]] for c in group]
        result[operator] = {
            "children": len(group), "mean_truth": statistics.fmean(c["truth"] for c in group),
            "truth_stdev": statistics.stdev(c["truth"] for c in group) if len(group) > 1 else None,
            "mean_genes_changed": statistics.fmean(len(c["changed"]) for c in group),
            "mean_gain_over_parent": statistics.fmean(gains),
            "beats_parent": sum(g > 0 for g in gains) / len(group),
            "beats_best_random": sum(c["truth"] > best for c in group) / len(group),
            "beats_random_pick": sum(c["truth"] > pick for c in group) / len(group),
            "best_truth": max(c["truth"] for c in group),
            "tau_parent_child": kendall_tau_b([truth[c["parent"]] for c in group], [c["truth"] for c in group]),
            "tau_proxy_truth": kendall_tau_b([c["proxy"] for c in group], [c["truth"] for c in group]),
            "best_on_proxy_truth": max(group, key=lambda c: c["proxy"])["truth"]}
    per_gene: dict = {}
    for child in children:
        if child["operator"] == "mutation" and len(child["changed"]) == 1:
            per_gene.setdefault(child["changed"][0], []).append(child["truth"] - truth[child["parent"]])
    result["one_gene_mutations"] = {gene: {"children": len(g), "mean_gain": statistics.fmean(g)}
                                    for gene, g in sorted(per_gene.items())}
    return result


def report(dataset: str, result: dict) -> None:
    r = result["random"]
    print(f"{dataset}: {r['genomes']} random genomes, mean truth {r['mean_truth']:.4f}, best {r['best_truth']:.4f}, "
          f"proxy pick {r['proxy_pick_truth']:.4f}; a new random genome beats the best with chance "
          f"{r['chance_a_new_one_beats_the_best']:.3f}")
    for operator in [o for o in OPERATORS if o in result] + ["all"]:
        o = result[operator]
        print(f"  {operator}: {o['children']} children, mean truth {o['mean_truth']:.4f} (sd {o['truth_stdev']}) "
              f"(gain over parent {o['mean_gain_over_parent']:+.4f}); beat parent {o['beats_parent']:.2f}, "
              f"beat the best random {o['beats_best_random']:.2f}, beat the proxy pick {o['beats_random_pick']:.2f}; "
              f"best {o['best_truth']:.4f}; tau parent-child {o['tau_parent_child']}")
    for gene, g in result["one_gene_mutations"].items():
        print(f"  one-gene mutation of {gene}: {g['children']} children, mean gain {g['mean_gain']:+.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic_lesions", choices=sorted(MAKERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--genomes", type=int, default=16, help="random genomes of the first generation")
    parser.add_argument("--parents", type=int, default=4, help="the best on the proxy, bred from")
    parser.add_argument("--children", type=int, default=4, help="children of each parent by each operator")
    parser.add_argument("--epochs", type=int, default=3, help="the proxy's epochs")
    parser.add_argument("--max-train-samples", type=int, default=500)
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--from-table", default=None, metavar="NAME", help="no training: analyse NAME.json's table")
    parser.add_argument("--reuse", default=None, metavar="NAME",
                        help="take the truth of genomes NAME.json's table measured instead of retraining them")
    parser.add_argument("--output", default="offspring", help="results file name (without .json)")
    args = parser.parse_args()
    if args.parents < 2:
        parser.error("--parents must be at least 2 (crossover needs a partner)")
    if args.from_table:
        saved = json.loads((RESULTS / f"{args.from_table}.json").read_text())
        settings, rows = saved["settings"], saved["table"]
    else:
        clock = time.perf_counter()
        settings, rows = vars(args), table(MAKERS[args.dataset](), args)
        settings["seconds"] = round(time.perf_counter() - clock, 1)
    result = analyse(rows, settings["genomes"])
    print(f"saved {save(args.output, {'settings': settings, 'table': rows, **result})}")
    report(settings["dataset"], result)


if __name__ == "__main__":
    main()
