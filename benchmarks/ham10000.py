"""The paper's comparison done honestly: its Table-1 CNN against a searched CNN on HAM10000 at 64x64 on CPU, both
retrained with the same budget (epochs, early stopping, augmentation, class weights) on the same lesion-grouped split
and scored once on its test split.

    python benchmarks/ham10000.py [--data PATH] [--population 8] [--generations 3] [--epochs 12]
        [--run-dir runs/bench-ham10000]
    python benchmarks/ham10000.py --space modern --seed-genome plain4-stride2 --fidelity 1:9:3 \
        --search-samples 2000 --max-flops 150000000 --max-params 1500000 --population 10 --generations 5 \
        --epochs 20 --patience 5 --output ham10000_modern

The second form is issue 10's verdict: the modern space seeded with its plain design (modern.PLAIN4 with a
stride-2 stem, under the FLOPs cap that keeps a 64 px search and retrain within an hour and 20 minutes on 2 cores),
multi-fidelity evolution (successive halving inside each generation, promotions continuing from the saved training
state), common random numbers; its figures go to ham10000_modern.json beside the first form's ham10000.json.
The same with ``--algorithm aging --generations 20 --timeout 3600 --max-epoch-seconds 90 --output ham10000_aging``
is aging evolution with asynchronous promotion (ASHA), stopped by the hour rather than by a generation count, with
genomes whose epoch would take over 90 s failed at once; its figures go to ham10000_aging.json. Adding
``--oversample --output ham10000_oversample`` trains every search evaluation on class-balanced epochs (the rare
classes repeated, no class weights: ``nas.Budget(oversample=True)``), the way the retrain's default recipe trains
the winner; its figures go to ham10000_oversample.json. Adding ``--rung-samples 4000,all --output
ham10000_growing`` as well trains the higher rungs on more images (4,000, then the whole training split:
``nas.Fidelity.samples_from_epoch``), so that genomes are ranked at the top rung on the data the retrain uses; its
figures go to ham10000_growing.json. ``--image-size 32 --retrain-image-size 64`` searches at 32 px (about a quarter
of the FLOPs per genome, so scale --max-flops and --max-epoch-seconds by 1/4) and retrains both models at 64 px on
the same split; ham10000_search32.json holds that run (``--max-flops 37500000 --max-epoch-seconds 15 --patience 10``).
``--search-seed 1 --skip-table1 --output ham10000_search32_seed1`` runs the same search with another seed on the same
split (--seed stays the split's) and retrains its winner alone (ham10000_search32_seed1.json), the Table-1 CNN's
retrains on that split, budget and patience being in ham10000_growing_patience10.json. ``--search-seed 1 --generations
21 --reevaluate 3 --output ham10000_search32_seed1_reeval`` (no --timeout: then a search the time limit ended skipped
its re-evaluation) stops that search after 210 evaluations (on the machine that ran it, slower than the first one,
they took longer than the hour) and trains the three best genomes at the top rung twice more with other seeds,
choosing on the mean of three (ham10000_search32_seed1_reeval.json). ``--search-seed 2 --generations 40 --reevaluate 3
--timeout 3600 --output ham10000_search32_seed2_reeval`` is a third search seed held to the hour, re-evaluation
included: the time limit stops the search early enough to leave the re-evaluation its expected time
(ham10000_search32_seed2_reeval.json). The same command with ``--run-dir runs/bench-ham-32-s2-scaled --output
ham10000_search32_seed2_scaled`` ran it again once ``--max-epoch-seconds`` scaled with the rung's training images
(ham10000_search32_seed2_scaled.json). ``--search-seed 0 --retrain-max-seconds 1200 --retrain-schedule cosine
--retrain-stop-on balanced-accuracy --run-dir runs/bench-ham-32-s0-scaled --output ham10000_search32_seed0_scaled``
repeats that run with the first search seed and retrains its winner within 20 minutes, under the cosine schedule,
stopping on validation balanced accuracy (ham10000_search32_seed0_scaled.json). The same with ``--image-size 64
--max-flops 150000000 --max-epoch-seconds 60 --run-dir runs/bench-ham-64-s0-scaled --output
ham10000_search64_seed0_scaled`` searches at the retrain's 64 px instead (ham10000_search64_seed0_scaled.json),
and ``--search-seed 1 --run-dir runs/bench-ham-64-s1-scaled --output ham10000_search64_seed1_scaled`` with the next
search seed (ham10000_search64_seed1_scaled.json), ``--search-seed 2 --skip-table1 --run-dir
runs/bench-ham-64-s2-scaled --output ham10000_search64_seed2_scaled`` with the third
(ham10000_search64_seed2_scaled.json).

--data is the HAM10000 folder (default: $NAS_HAM10000, else ../shared/data/ham10000 beside the repository).

The search maximises validation balanced accuracy (the HAM10000 default) with one epoch on a seeded subset of the
training split per genome, and caps genomes at --max-params parameters. Prints accuracy, balanced accuracy and macro
F1 of both models on the test split, the search and training times, and writes RUN/final/report.md with the table.
Takes about 10 minutes on 2 cores (ham10000.json: 222 s of search, 49 s and 286 s of retraining, 5 s loading).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import epochs_spent, save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
import search_spaces  # noqa: E402
from nas.cli.options import sample_counts  # noqa: E402
from nas.recipe import Recipe  # noqa: E402
from nas.retrain import retrain  # noqa: E402


def _seeds(space: str, name: str | None) -> list[dict]:
    """The genome --seed-genome names (a design of --space, search_spaces.designs), as ``initial=`` takes it."""
    designs = search_spaces.designs(space)
    if name and name not in designs:
        raise SystemExit(f"--seed-genome {name} is not a design of --space {space} ({', '.join(designs)})")
    return [designs[name]] if name else []


def _span(run: nas.Run) -> float:
    """Seconds from the first evaluation's start to the last one's finish."""
    from nas.clock import parse

    times = [(parse(r["started"]), parse(r["finished"])) for r in run.evaluations if r.get("started")]
    return (max(f for _, f in times) - min(s for s, _ in times)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64, help="input size of the search (default 64)")
    parser.add_argument("--retrain-image-size", type=int,
                        help="input size of both retrains, on the same split (default: the search's)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--search-samples", type=int, default=3000, help="training images per search evaluation")
    parser.add_argument("--max-params", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=12, help="retraining epochs (both models)")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--retrain-max-seconds", type=float,
                        help="a time limit per retrained model (Recipe.max_seconds), e.g. 1200 for 20 minutes")
    parser.add_argument("--retrain-schedule", default="constant", choices=("constant", "cosine"),
                        help="Recipe.schedule of the retrains; with --retrain-max-seconds, cosine decays over the "
                             "epochs expected to fit")
    parser.add_argument("--retrain-stop-on", default="loss", choices=("loss", "balanced_accuracy"),
                        type=lambda s: s.replace("-", "_"),
                        help="Recipe.stop_on of the retrains: what early stopping watches and which epoch it keeps")
    parser.add_argument("--run-dir", default="runs/bench-ham10000")
    parser.add_argument("--seed", type=int, default=0, help="seed of the lesion-grouped split (and of the search)")
    parser.add_argument("--search-seed", type=int,
                        help="seed of the search alone (default --seed): another search on the same split")
    parser.add_argument("--skip-table1", action="store_true",
                        help="retrain the searched winner only (the Table-1 CNN's retrains on this split, budget and "
                             "patience are in another results file)")
    parser.add_argument("--space", default="cnn", choices=("cnn", "modern"))
    parser.add_argument("--seed-genome", choices=("plain4", "plain4-stride2", "table1"),
                        help="put this design in the first generation (plain4-stride2: modern.PLAIN4 with a stride-2 "
                             "stem, a quarter of its FLOPs)")
    parser.add_argument("--algorithm", default="generational", choices=("generational", "aging"))
    parser.add_argument("--fidelity", help="multi-fidelity rungs MIN:MAX:ETA in epochs (default: 1 epoch each)")
    parser.add_argument("--rung-samples", type=sample_counts, default=(), metavar="N,...",
                        help="with --fidelity: training images at each rung above the first ('all' for the whole "
                             "training split); the first rung trains on --search-samples")
    parser.add_argument("--reevaluate", type=int, default=0, help="retrain the top K with other seeds at the end")
    parser.add_argument("--max-flops", type=int, help="cap on a genome's FLOPs per image")
    parser.add_argument("--max-epoch-seconds", type=float, help="fail a genome whose epoch would take longer")
    parser.add_argument("--timeout", type=float,
                        help="seconds after which the search starts no new work (nor work expected to end past them)")
    parser.add_argument("--oversample", action="store_true",
                        help="search evaluations train on class-balanced epochs instead of class weights")
    parser.add_argument("--executor", default="local", choices=("local", "inline"))
    parser.add_argument("--output", default="ham10000", help="results file name under benchmarks/results/")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search in --run-dir (stopped, say, for time) up to --generations, which may "
                             "be the generations it finished; the search time is then its evaluations' span (give the "
                             "search's other options again: the results file records them)")
    add_data_option(parser)
    args = parser.parse_args()
    ham = data_folder(args)

    start = time.perf_counter()
    data = nas.data.ham10000(ham, image_size=args.image_size, seed=args.seed)
    load_seconds = time.perf_counter() - start
    print(data.summary(), f"(loaded in {load_seconds:.1f} s)", flush=True)

    start = time.perf_counter()
    if args.resume:  # a stopped search, continued (or ended) at --generations
        run = nas.resume(args.run_dir, data=data, generations=args.generations, executor=args.executor,
                         timeout=args.timeout)
        search_seconds = _span(run)
    else:
        shutil.rmtree(args.run_dir, ignore_errors=True)
        fidelity = nas.Fidelity.parse(args.fidelity) if args.fidelity else None
        run = nas.evolve(args.space, data, population=args.population, generations=args.generations,
                         algorithm=args.algorithm,
                         objectives=data.default_objectives, executor=args.executor, run_dir=args.run_dir,
                         seed=args.seed if args.search_seed is None else args.search_seed,
                         initial=_seeds(args.space, args.seed_genome), fidelity=fidelity,
                         reevaluate=args.reevaluate, timeout=args.timeout,
                         budget=nas.Budget(epochs=fidelity.max_epochs if fidelity else 1,
                                           max_train_samples=args.search_samples, max_params=args.max_params,
                                           max_flops=args.max_flops, max_epoch_seconds=args.max_epoch_seconds,
                                           class_weighted=data.class_weighted and not args.oversample,
                                           oversample=args.oversample,
                                           samples_from_epoch=fidelity.samples_from_epoch(*args.rung_samples)
                                           if args.rung_samples else ()))
        search_seconds = time.perf_counter() - start

    if args.retrain_image_size and args.retrain_image_size != args.image_size:
        data = nas.data.ham10000(ham, image_size=args.retrain_image_size, splits_file=run.path / "splits.csv")
    summary = retrain(run, epochs=args.epochs, patience=args.patience, data=data,
                      baselines=() if args.skip_table1 else "table1",
                      recipe=Recipe(max_seconds=args.retrain_max_seconds, schedule=args.retrain_schedule,
                                    stop_on=args.retrain_stop_on))
    trained = json.loads((run.path / "final" / "history.json").read_text())
    winner = next(c for c in trained["candidates"] if c["genome_hash"] == summary["genome_hash"])
    table1 = trained["baselines"].get("table1")
    rows = {"searched": summary["test"], **{name: summary["baselines"][name] for name in summary["baselines"]}}
    best = run.best
    figures = {"image_size": args.image_size, "retrain_image_size": data.input_shape[0],
               "split": {k: len(getattr(data, f"y_{k}")) for k in ("train", "val", "test")},
               "search": {"resumed": args.resume, "space": args.space, "seed_genome": args.seed_genome,
                          "seed": run.config["seed"], "algorithm": args.algorithm, "oversample": args.oversample,
                          "fidelity": args.fidelity, "reevaluate": args.reevaluate, "population": args.population,
                          "generations": args.generations, "evaluations": len(run.evaluations),
                          "epochs_trained": epochs_spent(run), "seconds": round(search_seconds, 1),
                          "evaluations_per_hour": round(3600 * len(run.evaluations) / search_seconds, 1),
                          "best_validation": best.fitness[0] if best else None,
                          "samples_per_evaluation": args.search_samples,
                          "rung_samples": ["all" if n is None else n for n in args.rung_samples],
                          "max_params": args.max_params,
                          "max_flops": args.max_flops, "max_epoch_seconds": args.max_epoch_seconds,
                          "timeout": args.timeout, "finished": run.finished, "reevaluation": run.reevaluation},
               "retrain": {"epochs": args.epochs, "patience": args.patience,
                           "max_seconds": args.retrain_max_seconds, "schedule": args.retrain_schedule,
                           "stop_on": args.retrain_stop_on},
               "searched": {"genome_hash": summary["genome_hash"], "params": winner["params"],
                            "epochs_run": winner["epochs_run"], "train_seconds": winner["seconds"]},
               "table1": table1 and {"params": table1["params"], "epochs_run": table1["epochs_run"],
                                     "train_seconds": table1["seconds"]},
               "test": {name: {"accuracy": r["accuracy"], "balanced_accuracy": r["balanced_accuracy"],
                               "macro_f1": r["macro"]["f1"], "melanoma_recall": r["melanoma_sensitivity"]}
                        for name, r in rows.items()},
               "load_seconds": round(load_seconds, 1), "report": str(run.path / "final" / "report.md")}
    save(args.output, figures)
    print(f"\nsearch: {len(run.evaluations)} evaluations in {search_seconds:.0f} s; winner {summary['genome_hash']} "
          f"({winner['params']:,} params)")
    print(f"retrain: searched {winner['seconds']:.0f} s ({winner['epochs_run']} epochs)" + (
        f", Table 1 {table1['seconds']:.0f} s ({table1['epochs_run']} epochs, {table1['params']:,} params)"
        if table1 else ""))
    print(f"test split ({len(data.y_test)} images of {len(set(data.lesion_ids_test))} lesions):")
    for name, r in rows.items():
        print(f"  {name:<9} accuracy {r['accuracy']:.3f}  balanced accuracy {r['balanced_accuracy']:.3f}  "
              f"macro F1 {r['macro']['f1']:.3f}  melanoma recall {r['melanoma_sensitivity']:.3f}")


if __name__ == "__main__":
    main()
