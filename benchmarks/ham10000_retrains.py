"""The retrain noise behind benchmarks/ham10000.py's verdict: a search run's winner and the Table-1 CNN, each retrained
with several seeds under the same budget and recipe on the run's own split, scored once per retrain on the test split;
mean and standard error of each.

    python benchmarks/ham10000_retrains.py --run-dir runs/bench-ham-growing --seeds 1,2 --epochs 20 --patience 5 \
        --output ham10000_growing_retrains

benchmarks/ham10000.py retrains each model once (the winner with its search seed, the Table-1 CNN with the run
seed), and one retrain with early stopping on a noisy validation loss can keep an early epoch by accident. This
script retrains both again with each of ``--seeds`` (the seed of weights, image order and augmentation), with the
default recipe (the rare classes oversampled), the default augmentation, ``--epochs`` and ``--patience`` as
ham10000.py did, and writes benchmarks/results/NAME.json. ``--merge ham10000_growing`` then trains nothing: it adds
that ham10000.py results file's own retrain of each model to NAME.json (as seed "ham10000.py") and summarises all.
ham10000_growing_retrains.json holds seeds 1 and 2 and the retrain of ham10000_growing.json, for its winner;
ham10000_growing_patience10.json seeds 0-2 with ``--patience 10``, to see whether a later stop changes the comparison.
``--image-size 64`` retrains a winner searched at a smaller size (ham10000.py ``--image-size 32 --retrain-image-size
64``) at 64 px on the same split; ``--models searched`` retrains only the winner (the Table-1 CNN's retrains of the
same split, seeds, epochs and patience are in another file): ham10000_search32_retrains.json holds seeds 1 and 2 of
the 32 px search's winner at 64 px, ham10000_search32_seed1_retrains.json those of the same search run with search seed
1 (ham10000.py ``--search-seed 1``), ham10000_search32_seed1_reeval_retrains.json those of that search re-run with
``--reevaluate 3``, whose choice is the best mean of three seeds at the top rung, and
ham10000_search32_seed2_reeval_retrains.json those of search seed 2 re-evaluated within the hour, and
ham10000_search32_seed2_scaled_retrains.json those of its rerun with the epoch-time limit scaled by the rung's images,
and ham10000_search32_seed2_scaled_20min.json the same winner retrained with ``--max-seconds 1200`` (at most 20 minutes
each: no epoch starts that is expected to end past them), and ham10000_search32_seed2_scaled_20min_cosine.json the
same with ``--schedule cosine`` (the learning rate decays over the epochs the first epoch says will fit).
``--stop-on balanced-accuracy`` makes early stopping watch, and keep the epoch of, the best validation balanced
accuracy instead of the validation loss: ham10000_search32_seed2_scaled_20min_cosine_stopba.json holds the cosine
20-minute retrains with it, ham10000_search32_seed2_table1_20min_cosine_stopba.json those of the Table-1 CNN
(``--models table1``). ham10000_search32_seed0_scaled_20min_cosine_stopba.json holds the same retrains of search seed
0's re-evaluated pick (ham10000_search32_seed0_scaled.json), and
ham10000_search32_seed0_scaled_top1_20min_cosine_stopba.json those of the genome with its best single training
(``--genome b1ddb0ca``), which re-evaluation ranked second. ham10000_search64_seed0_scaled_20min_cosine_stopba.json
holds the same retrains of the 64 px search's pick and of the Table-1 CNN in the same session (ham10000.py
``--image-size 64``, ham10000_search64_seed0_scaled.json), and
ham10000_search64_seed0_scaled_plain_20min_cosine_stopba.json those of its seeded plain design (``--genome
e325316d``), which re-evaluation ranked second; ham10000_search64_seed1_scaled_20min_cosine_stopba.json holds the
same retrains for search seed 1 (ham10000_search64_seed1_scaled.json), and
ham10000_search64_seed2_scaled_20min_cosine_stopba.json the searched model's for search seed 2
(ham10000_search64_seed2_scaled.json; ``--models searched --seeds 2``, the Table-1 CNN's retrains being the same
figures on this split).
Each file also holds the run's ``rung_agreement`` (``nas.ranking.rung_agreement``: Kendall's tau-b of the promoted
genomes' scores at one rung and the next) and its ``top_rung``: the evaluations per rung, the genomes tried, and
the best genomes measured at the highest rung, with the seeded one (the run's first evaluation) among them, its
``time_split`` (the seconds of the search's evaluations per rung and of the re-evaluation's replicates), and its
``rung_pace``: per rung, the evaluations tried, those ``--max-epoch-seconds`` failed, and the genomes' paces as
their rung-0 evaluations measured them (a limit per epoch admits slower genomes at a rung of fewer images). An
existing NAME.json of the same run, epochs and patience is extended: the seeds it holds are kept, not trained again.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
from nas.augment import Augmentation  # noqa: E402
from nas.ranking import rung_agreement  # noqa: E402
from nas.recipe import Recipe  # noqa: E402
from nas.report import evaluate_model  # noqa: E402
from nas.retrain import fit, train_baseline  # noqa: E402


def _chosen(run: nas.Run, args):
    """The genome to retrain: the run's best (its re-evaluated pick, if any), or the one ``--genome`` names."""
    if not args.genome:
        return run.best
    found = next((i for i in run.ranked() if i.genome_hash.startswith(args.genome)), None)
    if found is None:
        sys.exit(f"{args.run_dir} has no successful evaluation of a genome {args.genome}: see `nas runs show`")
    return found


def _searched(run: nas.Run, data, seed: int, args) -> tuple:
    """The chosen genome built, compiled and trained with ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    genome = run.space.repair(_chosen(run, args).genome, data.input_shape)
    model = run.space.build(genome, data.input_shape, data.num_classes)
    run.space.compile(model, genome)
    result = fit(model, data, epochs=args.epochs, batch_size=int(genome.get("batch_size", 32)), seed=seed,
                 patience=args.patience, label=f"searched seed {seed}", augmentation=Augmentation(),
                 recipe=_recipe(args))
    return model, result


def _recipe(args) -> Recipe:
    """The default recipe with ``--max-seconds``, ``--schedule`` and ``--stop-on``."""
    return Recipe(max_seconds=args.max_seconds, schedule=args.schedule, stop_on=args.stop_on)


def _scored(model, result: dict, data, seconds: float) -> dict:
    report = evaluate_model(model, data.x_test, data.y_test, data.class_names, malignant=data.malignant)
    return {"balanced_accuracy": report["balanced_accuracy"], "accuracy": report["accuracy"],
            "melanoma_recall": report["melanoma_sensitivity"], "epochs_run": result["epochs_run"],
            "best_epoch": result["best_epoch"], "seconds": round(seconds, 1)} | (
        {k: result[k] for k in ("stopped_by_time_limit", "epochs_planned") if k in result})


def _summary(rows: list[dict]) -> dict:
    scores = [r["balanced_accuracy"] for r in rows]
    return {"mean_balanced_accuracy": statistics.fmean(scores),
            "standard_error": statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else None,
            "mean_melanoma_recall": statistics.fmean(r["melanoma_recall"] for r in rows)}


def _merge(output: str, benchmark: str) -> None:
    """Add the retrain of a ham10000.py results file to ``output``'s retrains, first, and summarise them all."""
    figures = json.loads((RESULTS / f"{output}.json").read_text())
    single = json.loads((RESULTS / f"{benchmark}.json").read_text())
    for name, rows in figures["retrains"].items():
        if name not in single["test"]:  # a model ham10000.py did not retrain (--skip-table1)
            continue
        test, trained = single["test"][name], single[name]
        rows[:] = [{"seed": "ham10000.py", "balanced_accuracy": test["balanced_accuracy"], "accuracy":
                    test["accuracy"], "melanoma_recall": test["melanoma_recall"],
                    "epochs_run": trained["epochs_run"], "seconds": trained["train_seconds"]},
                   *[r for r in rows if r["seed"] != "ham10000.py"]]
    figures.update(merged_from=benchmark, summary={k: _summary(v) for k, v in figures["retrains"].items() if v})
    figures.pop("machine", None)
    print(json.dumps(figures["summary"], indent=1), f"\nwritten to {save(output, figures)}")


def _top_rung(run: nas.Run, shown: int = 5) -> dict:
    """The genomes the search measured at its highest rung, best first (the ``shown`` best and the seeded genome,
    the run's first evaluation), and how many evaluations each rung had; re-evaluation replicates are left out."""
    metric = run.objectives[0].lstrip("-")
    searched = [r for r in run.evaluations if "replicate" not in r]
    rungs = Counter(r.get("rung", 0) for r in searched if r.get("status") != "failed")
    top = max(rungs)
    records = {r["genome_hash"]: r for r in searched if r.get("rung", 0) == top and metric in r["metrics"]}
    ranked = sorted(records.values(), key=lambda r: -r["metrics"][metric])
    seeded = run.evaluations[0]["genome_hash"]
    return {"evaluations_per_rung": {str(k): rungs[k] for k in sorted(rungs)},
            "genomes_tried": len({r["genome_hash"] for r in run.evaluations}),
            "ranked": [{"place": place, "genome_hash": r["genome_hash"], "params": r["metrics"]["params"],
                        metric: r["metrics"][metric], "generation": r["generation"],
                        "seeded": r["genome_hash"] == seeded}
                       for place, r in enumerate(ranked, 1) if place <= shown or r["genome_hash"] == seeded]}


def _rung_pace(run: nas.Run, images: int = 2000) -> dict:
    """Per rung: the evaluations tried and those ``--max-epoch-seconds`` failed (TooSlowError), with each genome's
    pace as its rung-0 evaluation measured it (training seconds for ``images`` images, the first epoch's tracing
    included, so that every rung is compared on one footing): the median of those that trained at the rung and the
    paces of those failed there. A limit per epoch admits slower genomes where an epoch has fewer images."""
    searched = [r for r in run.evaluations if "replicate" not in r and r["status"] != "cached"]
    pace = {r["genome_hash"]: r["metrics"]["train_seconds"] / r["metrics"]["train_samples"] * images
            for r in searched if r.get("rung", 0) == 0 and r["status"] == "ok"}
    result = {}
    for rung in sorted({r.get("rung", 0) for r in searched}):
        tried = [r for r in searched if r.get("rung", 0) == rung]
        passed = [pace[r["genome_hash"]] for r in tried if r["status"] == "ok" and r["genome_hash"] in pace]
        failed = [r for r in tried if "TooSlowError" in (r.get("error") or "")]
        result[str(rung)] = {"tried": len(tried), "too_slow": len(failed),
                             "median_pace_trained": round(statistics.median(passed), 1) if passed else None,
                             "pace_too_slow": sorted(round(pace[r["genome_hash"]], 1) for r in failed
                                                     if r["genome_hash"] in pace)}
    return {"images": images, "rungs": result}


def _time_split(run: nas.Run) -> dict:
    """Where the run's training time went: the seconds of the search's own evaluations per rung, and of the
    re-evaluation's replicates (each trained from scratch to its genome's rung)."""
    searched = [r for r in run.evaluations if "replicate" not in r and r["status"] != "cached"]
    replicates = [r["seconds"] for r in run.evaluations if "replicate" in r]
    return {"search_evaluations": len(searched),
            "search_seconds_by_rung": {str(k): round(sum(r["seconds"] for r in searched if r.get("rung", 0) == k), 1)
                                       for k in sorted({r.get("rung", 0) for r in searched})},
            "replicate_seconds": [round(s, 1) for s in replicates], "reevaluation_seconds": round(sum(replicates), 1)}


def _write(args, run: nas.Run, rows: dict[str, list[dict]]) -> None:
    """The results file, with the run's rung agreement (how promoted genomes kept their rank from rung to rung), its
    top rung and its re-evaluation (``reevaluation.json``: scores, means and the measured noise; null without one)."""
    agreement = [{k: a[k] for k in ("from_rung", "rung", "k", "kendall_tau", "concordant", "discordant")}
                 for a in rung_agreement(run.evaluations, run.objectives[0])]
    save(args.output, {"run_dir": args.run_dir, "genome_hash": _chosen(run, args).genome_hash,
                       "image_size": args.image_size,
                       "epochs": args.epochs, "patience": args.patience, "max_seconds": args.max_seconds,
                       "schedule": args.schedule, "stop_on": args.stop_on, "rung_agreement": agreement,
                       "top_rung": _top_rung(run), "rung_pace": _rung_pace(run), "time_split": _time_split(run),
                       "reevaluation": run.reevaluation,
                       "retrains": rows,
                       "summary": {k: _summary(v) for k, v in rows.items() if v}})


def _earlier_rows(args, genome_hash: str) -> dict[str, list[dict]]:
    """The retrains ``--output`` already holds for this run, budget and patience (more seeds extend a file), or none."""
    path = RESULTS / f"{args.output}.json"
    if not path.exists():
        return {"searched": [], "table1": []}
    earlier = json.loads(path.read_text())
    settings = ("run_dir", "epochs", "patience", "image_size", "max_seconds", "schedule", "stop_on")
    earlier.setdefault("schedule", "constant")  # the files before --schedule
    earlier.setdefault("stop_on", "loss")  # and before --stop-on
    if earlier.get("genome_hash") != genome_hash or any(earlier.get(k) != getattr(args, k) for k in settings):
        sys.exit(f"{path} holds retrains of another run, budget, patience, schedule or stopping rule; "
                 "choose another --output")
    return earlier["retrains"]


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="a search run folder of benchmarks/ham10000.py")
    parser.add_argument("--genome", metavar="HASH", help="retrain this genome of the run (a hash or its start) "
                        "instead of its best, e.g. the best single training where re-evaluation chose another")
    parser.add_argument("--seeds", default="1,2", help="comma-separated retrain seeds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--image-size", type=int, help="input size of the retrains (default: the run's)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="a time limit per retrain (Recipe.max_seconds: no epoch starts that would end past it)")
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"),
                        help="Recipe.schedule; with --max-seconds, cosine decays over the epochs expected to fit")
    parser.add_argument("--stop-on", default="loss", choices=("loss", "balanced_accuracy"),
                        type=lambda s: s.replace("-", "_"),
                        help="Recipe.stop_on: what early stopping watches and which epoch it keeps")
    parser.add_argument("--models", default="searched,table1",
                        help="which to retrain, comma-separated: searched, table1 (default both)")
    parser.add_argument("--output", required=True, help="results file name under benchmarks/results/")
    parser.add_argument("--merge", metavar="NAME", help="train nothing: add the retrains of the ham10000.py results "
                        "file NAME to --output's and summarise")
    add_data_option(parser)
    args = parser.parse_args()
    if args.merge:
        return _merge(args.output, args.merge)
    if not args.run_dir:
        parser.error("--run-dir is required (unless --merge)")
    run = nas.load_run(args.run_dir)
    data = nas.data.ham10000(data_folder(args), image_size=args.image_size or run.config["data"].get("image_size", 64),
                             splits_file=Path(args.run_dir) / "splits.csv")
    print(data.summary(), flush=True)
    rows = _earlier_rows(args, _chosen(run, args).genome_hash)
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in (m for m in rows if m in args.models.split(",")):
            if any(r["seed"] == seed for r in rows[name]):
                print(f"{name} seed {seed}: already in {args.output}.json, kept", flush=True)
                continue
            clock = time.perf_counter()
            model, result = (_searched(run, data, seed, args) if name == "searched" else
                             train_baseline("table1", data, epochs=args.epochs, patience=args.patience, seed=seed,
                                            augmentation=Augmentation(), class_weighted=True,
                                            recipe=_recipe(args)))
            rows[name].append({"seed": seed, **_scored(model, result, data, time.perf_counter() - clock)})
            keras.backend.clear_session()
            print(f"{name} seed {seed}: test balanced accuracy {rows[name][-1]['balanced_accuracy']:.4f}, "
                  f"melanoma recall {rows[name][-1]['melanoma_recall']:.3f}", flush=True)
            _write(args, run, rows)
    _write(args, run, rows)


if __name__ == "__main__":
    main()
