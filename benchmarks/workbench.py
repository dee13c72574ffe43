"""The workbench on a large run: reading a run folder of 2,000 simulated evaluations and turning it into a DataFrame.

    python benchmarks/workbench.py [--evaluations 2000] [--repeats 5]

The run has at least that many evaluations (extended by a generation while duplicates leave it short). Prints the
median seconds of ``nas.load_run`` and of ``Run.to_dataframe()`` (target < 1 s) over the repeats, and writes
``benchmarks/results/workbench.json``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    population = 40
    with tempfile.TemporaryDirectory() as folder:
        executor = nas.InlineExecutor(evaluate=nas.training.simulate)
        run = nas.evolve("cnn", "synthetic:200", population=population, generations=args.evaluations // population,
                         executor=executor, run_dir=Path(folder) / "run", seed=0, verbose=False)
        while len(run.evaluations) < args.evaluations:  # duplicate genomes are not trained again: extend the run
            run = nas.resume(run.path, executor=executor, generations=run.config["generations"] + 1, verbose=False)
        import pandas  # noqa: F401 - imported once, outside the timings, as in a notebook

        load, table = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            loaded = nas.load_run(run.path)
            load.append(time.perf_counter() - started)
            started = time.perf_counter()
            frame = loaded.to_dataframe()
            table.append(time.perf_counter() - started)
    figures = {"evaluations": len(frame), "columns": len(frame.columns), "repeats": args.repeats,
               "load_run_seconds_median": round(statistics.median(load), 4),
               "to_dataframe_seconds_median": round(statistics.median(table), 4),
               "to_dataframe_seconds_max": round(max(table), 4)}
    print(f"{figures['evaluations']} evaluations, {figures['columns']} columns: load_run "
          f"{figures['load_run_seconds_median']:.3f} s, to_dataframe {figures['to_dataframe_seconds_median']:.3f} s "
          f"(median of {args.repeats}; max {figures['to_dataframe_seconds_max']:.3f} s; target < 1 s)")
    print(save("workbench", figures))


if __name__ == "__main__":
    main()
