"""How long the run workbench takes on a large run: a 2,000-evaluation run folder (cnn space, population 40 x 50
generations, simulated fitness, objectives val_accuracy and -params), then `nas report` on it as a user runs it (a fresh
process: imports included), `nas.load_run` and `Run.to_dataframe()`.

    python benchmarks/workbench.py [--population 40] [--generations 50] [--repeats 2]

Prints the report's wall time (target < 10 s on 2 cores) the first time and again (the layer summaries cached), with
--no-layers (no Keras) and the time of `import keras` alone for comparison, the time to load the run and to build its
data frame, and writes benchmarks/results/workbench.json.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import nas  # noqa: E402
from nas.training import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_run(path: Path, population: int, generations: int) -> nas.Run:
    data = nas.data.synthetic_lesions(n=140, image_size=32, seed=0)
    return nas.evolve("cnn", data, population=population, generations=generations, objectives="val_accuracy,-params",
                      executor=nas.InlineExecutor(evaluate=simulate), run_dir=path, seed=0, verbose=False)


CPU: list[float] = []  # CPU seconds (user + system) of each timed command and its children, in the order timed


def timed(*arguments: str) -> float:
    """Seconds a fresh ``python ARGUMENTS`` takes (imports included, as a user's command); its CPU seconds, which a
    loaded machine inflates less than wall time, go to CPU."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, env=environment, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2))
    return wall


def time_dataframe(path: Path, repeats: int) -> dict:
    """Median seconds of ``nas.load_run`` and of ``Run.to_dataframe()`` over ``repeats`` (pandas imported first, as
    in a notebook)."""
    import pandas  # noqa: F401

    load, table = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run = nas.load_run(path)
        load.append(time.perf_counter() - start)
        start = time.perf_counter()
        frame = run.to_dataframe()
        table.append(time.perf_counter() - start)
    return {"load_run_seconds_median": round(statistics.median(load), 4), "dataframe_rows": len(frame),
            "dataframe_columns": len(frame.columns), "to_dataframe_seconds_median": round(statistics.median(table), 4),
            "to_dataframe_seconds_max": round(max(table), 4), "to_dataframe_target_seconds": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--population", type=int, default=40)
    parser.add_argument("--generations", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run"
        start = time.perf_counter()
        run = make_run(path, args.population, args.generations)
        generated = time.perf_counter() - start
        first = round(timed("-m", "nas", "report", str(path)), 2)  # builds the top genomes' models
        first_cpu = CPU[-1]
        again = [round(timed("-m", "nas", "report", str(path)), 2) for _ in range(args.repeats)]  # layers cached
        again_cpu = CPU[-args.repeats:]
        size = (path / "report.html").stat().st_size
        no_layers = [round(timed("-m", "nas", "report", str(path), "--no-layers"), 2) for _ in range(args.repeats)]
        keras_import = [round(timed("-c", "import keras"), 2) for _ in range(args.repeats)]
        keras_cpu = CPU[-args.repeats:]
        table = time_dataframe(path, max(5, args.repeats))
    figures = {"evaluations": len(run.evaluations), "population": args.population, "generations": args.generations,
               "space": "cnn", "generate_seconds": round(generated, 1), "report_first_seconds": first,
               "report_again_seconds": again, "report_target_seconds": 10, "report_first_cpu_seconds": first_cpu,
               "report_again_cpu_seconds": again_cpu, "import_keras_cpu_seconds": keras_cpu,
               "report_no_layers_seconds": no_layers, "import_keras_seconds": keras_import,
               "report_bytes": size, **table, "load_average_1min": round(os.getloadavg()[0], 2)}
    path = save("workbench", figures)
    print(f"{len(run.evaluations)} evaluations (cnn, population {args.population} x {args.generations} generations)")
    print(f"nas report: {first:.2f} s the first time (builds the top genomes' models), "
          f"{', '.join(f'{s:.2f} s' for s in again)} again (layers cached); target < 10 s; page {size / 1e6:.2f} MB")
    print(f"CPU seconds: first {first_cpu:.2f}, again {', '.join(map(str, again_cpu))}, import keras "
          f"{', '.join(map(str, keras_cpu))}")
    print(f"nas report --no-layers: {', '.join(f'{s:.2f} s' for s in no_layers)}; python -c 'import keras' alone: "
          f"{', '.join(f'{s:.2f} s' for s in keras_import)} (load average {figures['load_average_1min']})")
    print(f"load_run {table['load_run_seconds_median']:.3f} s, Run.to_dataframe() "
          f"{table['to_dataframe_seconds_median']:.3f} s ({table['dataframe_rows']} rows x "
          f"{table['dataframe_columns']} columns; median of {max(5, args.repeats)}, max "
          f"{table['to_dataframe_seconds_max']:.3f} s; target < 1 s)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
