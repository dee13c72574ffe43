"""Weight inheritance on and off: the same generational search (digits at 8 px, cnn space, same seed) with
``inherit=False`` and ``inherit=True``, over several seeds.

    python benchmarks/inherit.py [--seeds 3] [--population 8] [--generations 4] [--epochs 1]

For each run: the best validation score of the search, the mean validation score of the last generation's
population, the share of children that inherited at least one layer, and the wall time. Results go to
results/inherit.json (written after every run).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import nas  # noqa: E402


def one_run(data, args, seed: int, inherit: bool, run_dir: str) -> dict:
    """One search and its figures."""
    clock = time.perf_counter()
    run = nas.evolve("cnn", data, population=args.population, generations=args.generations,
                     budget=nas.Budget(epochs=args.epochs), seed=seed, inherit=inherit, run_dir=run_dir,
                     executor=nas.InlineExecutor(), verbose=False)
    seconds = time.perf_counter() - clock
    last = run.generations[-1]["stats"]["val_accuracy"]
    children = [r for r in run.evaluations if r["parents"] and r["status"] == "ok"]
    return {"seed": seed, "inherit": inherit, "best_val_accuracy": run.best.metrics["val_accuracy"],
            "last_generation_mean_val_accuracy": last["mean"] if last else None,
            "children_inheriting": sum(bool(r.get("inherited_layers")) for r in children) if inherit else 0,
            "children": len(children), "wall_seconds": round(seconds, 1)}


def summary(rows: list[dict]) -> dict:
    """Means over seeds per setting."""
    result = {}
    for inherit in (False, True):
        ours = [r for r in rows if r["inherit"] is inherit]
        if ours:
            result["on" if inherit else "off"] = {
                key: round(statistics.fmean(r[key] for r in ours), 4)
                for key in ("best_val_accuracy", "last_generation_mean_val_accuracy", "wall_seconds")}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    data = nas.data.digits()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.seeds):
            for inherit in (False, True):
                row = one_run(data, args, seed, inherit, f"{root}/{seed}-{inherit}")
                rows.append(row)
                print(f"seed {seed} inherit {'on ' if inherit else 'off'}: best {row['best_val_accuracy']:.4f}, "
                      f"last generation mean {row['last_generation_mean_val_accuracy']:.4f}, "
                      f"{row['children_inheriting']}/{row['children']} children inherited, "
                      f"{row['wall_seconds']:.1f} s", flush=True)
                save("inherit", {"settings": {"data": "digits 8x8", "space": "cnn", "algorithm": "generational",
                                              **vars(args)}, "seeds_finished": seed + int(inherit),
                                 "runs": rows, "mean": summary(rows)})  # saved after each run: a stop keeps them
    for setting, figures in summary(rows).items():
        print(f"mean over {args.seeds} seeds, inherit {setting}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
