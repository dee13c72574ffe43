"""Does choosing among the search's best few after retraining beat taking its single best? ``nas retrain --top-k K
--ensemble`` on a HAM10000 search run, recorded: each of the K genomes retrained once (with its search training
seed), the one best on the validation split (what ``nas retrain --top-k K`` hands over), the ensemble of all K, and
the proxy-to-final rank correlation, each scored once on the test split.

    python benchmarks/ham10000_topk.py --run-dir runs/bench-ham-32-s1 --top-k 3 --image-size 64 --epochs 20 \\
        --patience 10 --output ham10000_search32_seed1_top3

The retrain runs in a copy of the run folder (RUN-topK), so the run's own ``final/`` stays as ham10000.py left it.
``--record`` trains nothing: it records the ``final/`` that ``nas retrain RUN-topK --top-k K --ensemble
--image-size N --epochs E --patience P`` already wrote there, after checking that its settings are these.
ham10000_search32_seed1_top3.json holds the search with search seed 1 (ham10000_search32_seed1.json), whose single
best retrained below the seeded design.

``--seeds N`` retrains each of the K genomes N times (``nas retrain --seeds N``: the search's training seed, then
seeds derived from it), in RUN-topK-seedsN, and the ensemble averages all K x N; ``--schedule`` and ``--stop-on`` are
``nas retrain``'s recipe options. Two ensembles of two trainings on one search (``nas search`` with the HAM10000
recipe of docs/ham10000.md but ``--timeout 25m`` and no re-evaluation, ``--run-dir runs/ham14``), both ``--schedule
cosine --stop-on balanced_accuracy``: ham10000_top1_seeds2.json holds ``--top-k 1 --seeds 2`` and
ham10000_top2.json ``--top-k 2``, each recorded with ``--record`` from ``nas retrain``'s own ``final/``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
from nas.recipe import SCHEDULES, STOP_ON, Recipe  # noqa: E402
from nas.retrain import retrain  # noqa: E402


def _figures(report: dict) -> dict:
    return {"balanced_accuracy": report["balanced_accuracy"], "accuracy": report["accuracy"],
            "melanoma_recall": report["per_class"]["mel"]["recall"]}


def _final(report: dict) -> dict:
    """What the final model's report adds to a member's figures: calibration and the camera-like shifts."""
    calibration, shifted = report["calibration"], report.get("robustness") or {}
    return {"balanced_accuracy_standard_error": report["standard_errors"]["balanced_accuracy"],
            "ece_before": calibration["ece_before"], "ece_after": calibration["ece_after"],
            "mean_shifted_balanced_accuracy": shifted.get("mean_shifted_balanced_accuracy"),
            "shifted_ratio_to_clean": shifted.get("ratio_to_clean")}


def _recorded(history: dict, args) -> dict:
    """The figures of ``final/history.json``, after checking that it was trained with these settings."""
    settings = history["settings"]
    wanted = {"epochs": args.epochs, "patience": args.patience, "image_size": args.image_size,
              "members": args.top_k * args.seeds, "seeds": args.seeds, "schedule": args.schedule,
              "stop_on": args.stop_on}
    found = {"epochs": settings["epochs"], "patience": settings["patience"],
             "image_size": settings["data"]["image_size"], "members": len((history.get("ensemble") or {})
                                                                          .get("members", [])),
             "seeds": settings.get("seeds", 1), "schedule": settings["recipe"]["schedule"],
             "stop_on": settings["recipe"]["stop_on"]}
    if found != wanted:
        sys.exit(f"ham10000_topk.py: final/history.json was trained with {found}, not {wanted}")
    members = history["ensemble"]["members"]
    chosen = max(members, key=lambda m: m["validation"]["val_balanced_accuracy"])  # the earlier on ties
    seconds = {(c["genome_hash"], c["seed"]): c["seconds"] for c in history["candidates"]}
    return {"members": [{"genome_hash": m["genome_hash"], "rank": m["rank"], "seed": m["seed"], "params": m["params"],
                         "val_balanced_accuracy": m["validation"]["val_balanced_accuracy"], **_figures(m["test"]),
                         "train_seconds": seconds[m["genome_hash"], m["seed"]]} for m in members],
            "chosen_on_validation": [chosen["genome_hash"], chosen["seed"]],
            "proxy_rank_correlation": {k: history["proxy_rank_correlation"][k] for k in ("kendall_tau", "k")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="a search run folder of benchmarks/ham10000.py")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--output", required=True, help="results file name under benchmarks/results/")
    parser.add_argument("--seeds", type=int, default=1, help="retrain each genome with N seeds (nas retrain --seeds)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=Recipe().schedule)
    parser.add_argument("--stop-on", choices=STOP_ON, default=Recipe().stop_on)
    parser.add_argument("--record", action="store_true", help="train nothing: record RUN-topK[-seedsN]/final/")
    add_data_option(parser)
    args = parser.parse_args()
    copy = Path(f"{args.run_dir.rstrip('/')}-top{args.top_k}" + (f"-seeds{args.seeds}" if args.seeds > 1 else ""))
    if not args.record:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.run_dir, copy, ignore=shutil.ignore_patterns("final"))
        run = nas.load_run(copy)
        data = nas.data.ham10000(data_folder(args), image_size=args.image_size, splits_file=copy / "splits.csv")
        retrain(run, epochs=args.epochs, patience=args.patience, top_k=args.top_k, ensemble=True, data=data,
                seeds=args.seeds, recipe=Recipe(schedule=args.schedule, stop_on=args.stop_on))
    if not (copy / "final" / "history.json").is_file():
        sys.exit(f"ham10000_topk.py: {copy}/final/history.json is missing; run without --record to retrain")
    history = json.loads((copy / "final" / "history.json").read_text())
    report = json.loads((copy / "final" / "report.json").read_text())
    search = nas.load_run(args.run_dir)
    figures = {"run_dir": args.run_dir, "search_evaluations": len(search.evaluations),
               "search_genomes": len({e["genome_hash"] for e in search.evaluations}),
               "retrained_in": str(copy), "top_k": args.top_k, "seeds": args.seeds,
               "schedule": args.schedule, "stop_on": args.stop_on, "image_size": args.image_size,
               "epochs": args.epochs, "patience": args.patience, **_recorded(history, args),
               "ensemble": _figures(report) | _final(report)}
    save(args.output, figures)
    for member in figures["members"]:
        chosen = [member["genome_hash"], member["seed"]] == figures["chosen_on_validation"]
        print(f"rank {member['rank']} {member['genome_hash'][:8]} seed {member['seed']}: validation "
              f"{member['val_balanced_accuracy']:.4f}, test balanced accuracy {member['balanced_accuracy']:.4f}"
              + ("  <- chosen on validation" if chosen else ""))
    print(f"ensemble of {len(figures['members'])}: test balanced accuracy "
          f"{figures['ensemble']['balanced_accuracy']:.4f}, "
          f"melanoma recall {figures['ensemble']['melanoma_recall']:.3f}")


if __name__ == "__main__":
    main()
