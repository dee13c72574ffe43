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
from nas.retrain import retrain  # noqa: E402


def _figures(report: dict) -> dict:
    return {"balanced_accuracy": report["balanced_accuracy"], "accuracy": report["accuracy"],
            "melanoma_recall": report["per_class"]["mel"]["recall"]}


def _recorded(history: dict, args) -> dict:
    """The figures of ``final/history.json``, after checking that it was trained with these settings."""
    settings = history["settings"]
    wanted = {"epochs": args.epochs, "patience": args.patience, "image_size": args.image_size,
              "members": args.top_k}
    found = {"epochs": settings["epochs"], "patience": settings["patience"],
             "image_size": settings["data"]["image_size"], "members": len((history.get("ensemble") or {})
                                                                          .get("members", []))}
    if found != wanted:
        sys.exit(f"ham10000_topk.py: final/history.json was trained with {found}, not {wanted}")
    members = history["ensemble"]["members"]
    chosen = next(m for m in members if m["genome_hash"] == history["genome_hash"])
    seconds = {c["genome_hash"]: c["seconds"] for c in history["candidates"]}
    return {"members": [{"genome_hash": m["genome_hash"], "rank": m["rank"], "params": m["params"],
                         "val_balanced_accuracy": m["validation"]["val_balanced_accuracy"], **_figures(m["test"]),
                         "train_seconds": seconds[m["genome_hash"]]} for m in members],
            "chosen_on_validation": chosen["genome_hash"],
            "proxy_rank_correlation": {k: history["proxy_rank_correlation"][k] for k in ("kendall_tau", "k")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="a search run folder of benchmarks/ham10000.py")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--output", required=True, help="results file name under benchmarks/results/")
    parser.add_argument("--record", action="store_true", help="train nothing: record RUN-topK/final/")
    add_data_option(parser)
    args = parser.parse_args()
    copy = Path(f"{args.run_dir.rstrip('/')}-top{args.top_k}")
    if not args.record:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.run_dir, copy, ignore=shutil.ignore_patterns("final"))
        run = nas.load_run(copy)
        data = nas.data.ham10000(data_folder(args), image_size=args.image_size, splits_file=copy / "splits.csv")
        retrain(run, epochs=args.epochs, patience=args.patience, top_k=args.top_k, ensemble=True, data=data)
    if not (copy / "final" / "history.json").is_file():
        sys.exit(f"ham10000_topk.py: {copy}/final/history.json is missing; run without --record to retrain")
    history = json.loads((copy / "final" / "history.json").read_text())
    report = json.loads((copy / "final" / "report.json").read_text())
    figures = {"run_dir": args.run_dir, "retrained_in": str(copy), "top_k": args.top_k, "image_size": args.image_size,
               "epochs": args.epochs, "patience": args.patience, **_recorded(history, args),
               "ensemble": _figures(report)}
    save(args.output, figures)
    for member in figures["members"]:
        print(f"rank {member['rank']} {member['genome_hash'][:8]}: validation {member['val_balanced_accuracy']:.4f}, "
              f"test balanced accuracy {member['balanced_accuracy']:.4f}"
              + ("  <- chosen on validation" if member["genome_hash"] == figures["chosen_on_validation"] else ""))
    print(f"ensemble of {args.top_k}: test balanced accuracy {figures['ensemble']['balanced_accuracy']:.4f}, "
          f"melanoma recall {figures['ensemble']['melanoma_recall']:.3f}")


if __name__ == "__main__":
    main()
