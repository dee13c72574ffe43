"""How well the Ray executor keeps workers busy, and what a trial costs on top of its training.

    python benchmarks/ray_scaling.py [--workers 4,8,16] [--median 2] [--sigma 0.5] [--generations 16] [--no-real]

1. Sleep fitness (no training): every genome "trains" for a log-normal time (median ``--median`` s, shape
   ``--sigma``, fixed per genome) on a local Ray instance with 4, 8 and 16 logical workers. For generational and aging
   evolution with reused workers (the default), and for aging with a fresh process per trial, it prints the worker
   utilisation (fitness time / (workers x wall time)) and Ray's overhead per evaluation (the time a trial took in the
   driver's view minus the fitness's own time: scheduling, starting a worker process, shipping results).
2. Real training on this machine (``cnn`` space, synthetic lesions at 32 px, 1 epoch): evaluations per minute with the
   ``local`` executor and with ``ray`` on 2 workers, fresh and reused; and each worker's RSS after every trial, which
   shows what a long-lived worker keeps. ``vs_local``: evaluations per minute / those of ``local`` in the same run.

Results go to ``benchmarks/results/ray_scaling.json``.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import nas  # noqa: E402
from nas.training import simulate  # noqa: E402


def lognormal_sleep(genome, *, space, data, budget, seed, genome_hash=None, median_s=2.0, sigma=0.5):
    """The search sees a fitness that takes a heterogeneous, genome-determined time, as real trainings do."""
    seconds = median_s * math.exp(sigma * random.Random(genome_hash).gauss(0.0, 1.0))
    return simulate(genome, space=space, data=data, budget=budget, seed=seed, genome_hash=genome_hash,
                    seconds=seconds)


def measure(data, workers: int, algorithm: str, reuse: bool, args, space="cnn", real=False, executor=None) -> dict:
    import functools

    if executor is None:
        fitness = None if real else functools.partial(lognormal_sleep, median_s=args.median, sigma=args.sigma)
        executor = nas.RayExecutor(max_concurrent=workers, reuse_workers=reuse, evaluate=fitness)
    population = args.real_population if real else 2 * workers
    generations = args.real_generations if real else args.generations
    budget = nas.Budget(epochs=1, max_params=300_000) if real else nas.Budget()
    with tempfile.TemporaryDirectory() as folder:
        clock = time.perf_counter()
        run = nas.evolve(space, data, population=population, generations=generations, algorithm=algorithm,
                         executor=executor, budget=budget, run_dir=Path(folder) / "run", seed=0, verbose=False)
        wall = time.perf_counter() - clock
    trained = [r for r in run.evaluations if r["status"] in ("ok", "failed") and r.get("seconds")]
    busy = sum(r["seconds"] for r in trained)
    overheads = [r["overhead_seconds"] for r in trained if "overhead_seconds" in r]
    figures = {"executor": executor if isinstance(executor, str) else "ray", "workers": workers,
               "algorithm": algorithm, "reuse_workers": reuse, "evaluations": len(trained),
               "wall_seconds": round(wall, 2), "utilisation": round(busy / (workers * wall), 3),
               "evaluations_per_minute": round(len(trained) / wall * 60, 2)}
    if overheads:
        figures.update(overhead_ms_mean=round(1000 * mean(overheads), 1),
                       overhead_ms_median=round(1000 * median(overheads), 1))
    rss: dict[str, list[float]] = {}
    for r in sorted(trained, key=lambda r: r["finished"]):
        if r.get("worker_rss_mb"):
            rss.setdefault(r["worker"], []).append(round(r["worker_rss_mb"]))
    if real and rss:
        figures["worker_rss_mb"] = rss
        figures["train_seconds_mean"] = round(mean(r["seconds"] for r in trained), 2)
    return figures


def line(f: dict) -> str:
    mode = "local" if f["executor"] == "local" else "reused" if f["reuse_workers"] else "fresh"
    extra = f"  overhead mean {f['overhead_ms_mean']:7.1f} ms, median {f['overhead_ms_median']:7.1f} ms" \
        if "overhead_ms_mean" in f else ""
    return (f"  {f['algorithm']:<12} {f['workers']:>2} workers  {mode:<6}  {f['evaluations']:>3} evals in "
            f"{f['wall_seconds']:7.1f} s  utilisation {f['utilisation']:.3f}  {f['evaluations_per_minute']:6.1f}/min"
            + extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="4,8,16")
    parser.add_argument("--median", type=float, default=2.0, help="median seconds of the sleep fitness")
    parser.add_argument("--sigma", type=float, default=0.5, help="log-normal shape of the sleep fitness")
    parser.add_argument("--generations", type=int, default=16)
    parser.add_argument("--fresh-workers", default="4",
                        help="worker counts at which aging also runs with a fresh process per trial")
    parser.add_argument("--real-population", type=int, default=8)
    parser.add_argument("--real-generations", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="skip the real-training comparison")
    args = parser.parse_args()
    import ray

    workers = [int(w) for w in args.workers.split(",")]
    ray.init(num_cpus=max(workers), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                                       "TF_CPP_MIN_LOG_LEVEL": "2"}})
    data = nas.data.synthetic_lesions(n=70, image_size=8, seed=0)
    print(f"Sleep fitness: log-normal, median {args.median} s, sigma {args.sigma}; population 2 x workers, "
          f"{args.generations} generations", flush=True)
    sleep = []
    fresh = {int(w) for w in args.fresh_workers.split(",") if w}
    for count in workers:
        modes = [("generational", True), ("aging", True)] + ([("aging", False)] if count in fresh else [])
        for algorithm, reuse in modes:
            sleep.append(measure(data, count, algorithm, reuse, args))
            print(line(sleep[-1]), flush=True)
    ray.shutdown()

    real = []
    if not args.no_real:
        data = nas.data.synthetic_lesions(n=600, image_size=32, seed=0)
        print(f"Real training: cnn space, synthetic lesions at 32 px, 1 epoch, population {args.real_population} x "
              f"{args.real_generations} generations, {os.cpu_count()} cores", flush=True)
        local = measure(data, 1, "generational", False, args, real=True, executor="local")
        real.append(local)
        print(line(local), flush=True)
        for reuse in (False, True):
            real.append(measure(data, 2, "generational", reuse, args, real=True,
                                executor=nas.RayExecutor(num_cpus=2, reuse_workers=reuse)))
            print(line(real[-1]), flush=True)
            for worker, sizes in real[-1]["worker_rss_mb"].items():
                print(f"    {worker}: RSS after each trial {sizes} MB", flush=True)
        for figures in real:  # the ratio of this run, so the docs quote it rather than divide figures of two runs
            figures["vs_local"] = round(figures["evaluations_per_minute"] / local["evaluations_per_minute"], 3)
        for figures in real[1:]:
            print(f"  ray (2 workers, {'reused' if figures['reuse_workers'] else 'fresh'}) / local: "
                  f"{figures['vs_local']:.2f}x evaluations per minute")
    path = save("ray_scaling", {"sleep_fitness": {"median_seconds": args.median, "sigma": args.sigma,
                                                  "runs": sleep}, "real_training": real})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
