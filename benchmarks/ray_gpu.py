"""Evaluations per hour of the Ray executor on one GPU with 1, 2 or 4 trials packed on it (real training).

    KERAS_BACKEND=jax python benchmarks/ray_gpu.py [--fractions 1,0.5,0.25] [--evaluations 8] [--image-size 64]
        [--epochs 2] [--max-train-samples 2000] [--gpus 1]

For each GPU fraction ``f`` an aging search of the ``cnn`` space on synthetic lesions runs with
``nas.RayExecutor(gpus_per_trial=f, cpus_per_trial=1)``, so ``1/f`` trainings share the card, each in a fresh worker
process (the executor's default) or, with ``--reuse-workers``, in long-lived workers. It prints, per fraction:
evaluations per hour (trained evaluations / wall time of the search), the mean time of one evaluation and of its
``model.fit`` (``train_seconds``; with Keras on JAX this includes compiling the genome's train step, since every
genome is a new graph), Ray's overhead per
trial (``overhead_seconds``: scheduling, starting the worker process, shipping the outcome), what the trial did about
GPU memory (the record's ``gpu``), the workers' RSS, and the card's memory use and utilisation sampled with
nvidia-smi during the search.

One local Ray instance serves all fractions (started here with the options ``RayExecutor`` itself uses: the
driver's ``sys.path`` as the workers' PYTHONPATH), so Ray's start is measured once and left out of each search's wall
time. With ``--gpus 0`` it runs without a GPU (``gpus_per_trial=0`` and ``max_concurrent=1/f`` stand in for the
packing), which is only for checking the script on a CPU machine.

Before each fraction it waits (up to a minute) until no process holds memory on the card, and the per-process figures
leave out any process that was there before the search began: nvidia-smi lists every process on the card, and a worker
of the previous fraction may still be exiting (``gpu_processes_left_from_before`` counts those; the card's total
memory use still includes them).

Results go to ``$OUT/ray_gpu.json`` when ``OUT`` is set, else ``benchmarks/results/ray_gpu.json``, or to
``--output``. The files in ``benchmarks/results/``: ``ray_gpu.json`` (the default fractions, fresh workers); and, from
one later device call, ``ray_gpu_reused.json`` (``--fractions 1,0.25 --reuse-workers --output
benchmarks/results/ray_gpu_reused.json``) and ``ray_gpu_fresh_same_call.json`` (``--fractions 0.25 --output
benchmarks/results/ray_gpu_fresh_same_call.json``), the reused/fresh comparison of docs/ray.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import mean, median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, versions  # noqa: E402

import nas  # noqa: E402


class GpuSampler:
    """Samples the card's memory use and utilisation with nvidia-smi in a thread (nothing without nvidia-smi)."""

    def __init__(self, interval: float = 0.5, ignore: frozenset[int] = frozenset()) -> None:
        self.interval, self.samples, self.apps, self.ignore = interval, [], [], ignore
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _query(*args: str) -> str | None:
        try:
            return subprocess.run(["nvidia-smi", *args, "--format=csv,noheader,nounits"], capture_output=True,
                                  text=True, timeout=5, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            out = self._query("--query-gpu=memory.used,utilization.gpu")
            if out is None:
                return
            used, util = (float(v) for v in out.splitlines()[0].split(","))
            self.samples.append((used, util))
            apps = gpu_processes()
            if apps is not None:  # the memory of each process on the card, but those there before the search
                self.apps.append([memory for pid, memory in apps.items() if pid not in self.ignore])
            self._stop.wait(self.interval)

    def __enter__(self) -> "GpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        used = [s[0] for s in self.samples]
        util = [s[1] for s in self.samples]
        figures = {"gpu_memory_used_mb_max": round(max(used)), "gpu_utilisation_pct_mean": round(mean(util), 1),
                   "gpu_samples": len(self.samples)}
        if self.apps:
            figures["gpu_processes_max"] = max(len(a) for a in self.apps)
            per_process = [m for a in self.apps for m in a]
            if per_process:
                figures["gpu_memory_per_process_mb_max"] = round(max(per_process))
        return figures


def gpu_processes() -> dict[int, float] | None:
    """pid -> MB of GPU memory of every process on the card (other than this one); None without nvidia-smi."""
    out = GpuSampler._query("--query-compute-apps=pid,used_memory")
    if out is None:
        return None
    found = {}
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and fields[0].isdigit() and int(fields[0]) != os.getpid():
            try:
                found[int(fields[0])] = float(fields[1])
            except ValueError:
                pass
    return found


def wait_for_free_gpu(timeout: float = 60.0) -> frozenset[int]:
    """Waits until no other process holds memory on the card; returns the pids still there after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        apps = gpu_processes()
        if not apps or time.monotonic() > deadline:
            return frozenset(apps or ())
        time.sleep(0.5)


def gpu_name() -> str | None:
    out = GpuSampler._query("--query-gpu=name,memory.total,driver_version")
    return out.strip().splitlines()[0] if out else None


def start_ray(args) -> float:
    """A local Ray instance with the options RayExecutor uses when it starts one; returns the seconds it took."""
    import ray

    clock = time.perf_counter()
    path = os.pathsep.join(p for p in sys.path if p)
    # address="local": a new instance even where another one runs on this machine (ray.init() would join that)
    ray.init(address="local", num_cpus=args.cpus, num_gpus=args.gpus, log_to_driver=False, include_dashboard=False,
             configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}})
    seconds = time.perf_counter() - clock
    print(f"Ray started in {seconds:.1f} s: {ray.cluster_resources()}", flush=True)
    return seconds


def measure(fraction: float, data, args) -> dict:
    if args.gpus:
        executor = nas.RayExecutor(gpus_per_trial=fraction, cpus_per_trial=args.cpus_per_trial,
                                   trial_timeout=args.trial_timeout, reuse_workers=args.reuse_workers)
    else:  # CPU check of the script: the same number of trials in flight, no GPU
        executor = nas.RayExecutor(gpus_per_trial=0, cpus_per_trial=args.cpus_per_trial,
                                   max_concurrent=max(1, round(1 / fraction)), trial_timeout=args.trial_timeout,
                                   reuse_workers=args.reuse_workers)
    generations = max(1, -(-args.evaluations // args.population))
    budget = nas.Budget(epochs=args.epochs, max_train_samples=args.max_train_samples,
                        max_val_samples=args.max_val_samples, max_params=args.max_params)
    before = wait_for_free_gpu() if args.gpus else frozenset()
    with tempfile.TemporaryDirectory() as folder, GpuSampler(ignore=before) as sampler:
        clock = time.perf_counter()
        run = nas.evolve("cnn", data, population=args.population, generations=generations, algorithm="aging",
                         executor=executor, budget=budget, run_dir=Path(folder) / "run", seed=args.seed,
                         verbose=args.verbose)
        wall = time.perf_counter() - clock
    records = run.evaluations
    trained = [r for r in records if r["status"] in ("ok", "failed") and r.get("seconds")]
    ok = [r for r in trained if r["status"] == "ok"]
    failed = [r for r in records if r["status"] == "failed"]
    in_flight = max(1, round(1 / fraction))
    figures = {
        "gpus_per_trial": fraction if args.gpus else 0, "trials_per_gpu": in_flight,
        "evaluations": len(trained), "ok": len(ok), "failed": len(failed),
        "cached": sum(r["status"] == "cached" for r in records), "wall_seconds": round(wall, 1),
        "evaluations_per_hour": round(len(trained) / wall * 3600, 1),
        # fitness seconds / (slots x wall): how busy the packed slots were
        "slot_utilisation": round(sum(r["seconds"] for r in trained) / (in_flight * wall), 3),
    }
    if trained:
        seconds = [r["seconds"] for r in trained]
        figures.update(seconds_mean=round(mean(seconds), 2), seconds_median=round(median(seconds), 2))
    train_seconds = [r["metrics"]["train_seconds"] for r in ok if r["metrics"].get("train_seconds") is not None]
    if train_seconds:
        figures.update(train_seconds_mean=round(mean(train_seconds), 2),
                       train_seconds_median=round(median(train_seconds), 2),
                       train_seconds_first_finished=train_seconds[0])
    overheads = [r["overhead_seconds"] for r in trained if r.get("overhead_seconds") is not None]
    if overheads:
        figures.update(overhead_seconds_mean=round(mean(overheads), 2),
                       overhead_seconds_median=round(median(overheads), 2))
    rss = [r["worker_rss_mb"] for r in trained if r.get("worker_rss_mb")]
    if rss:
        figures["worker_rss_mb_mean"] = round(mean(rss))
    if ok:
        figures["params_mean"] = round(mean(r["metrics"]["params"] for r in ok))
        figures["val_accuracy_best"] = round(max(r["metrics"]["val_accuracy"] for r in ok), 3)
    figures["gpu_setting"] = sorted({str(r.get("gpu")) for r in trained})
    if failed:
        figures["errors"] = sorted({str(r.get("error"))[:200] for r in failed})[:5]
    figures.update(sampler.summary())
    if before:
        figures["gpu_processes_left_from_before"] = len(before)
    return figures


def line(f: dict) -> str:
    nan = float("nan")
    text = (f"  {f['trials_per_gpu']} per GPU (gpus_per_trial {f['gpus_per_trial']:g}): {f['evaluations']:>3} evals "
            f"({f['failed']} failed, {f['cached']} cached) in {f['wall_seconds']:6.1f} s = "
            f"{f['evaluations_per_hour']:7.1f}/h; evaluation {f.get('seconds_mean', nan):.2f} s, fit "
            f"{f.get('train_seconds_mean', nan):.2f} s, overhead {f.get('overhead_seconds_mean', nan):.2f} s "
            f"(means); slots busy {f['slot_utilisation']:.2f}")
    if "gpu_memory_used_mb_max" in f:
        text += (f"; GPU memory max {f['gpu_memory_used_mb_max']} MB, utilisation mean "
                 f"{f['gpu_utilisation_pct_mean']}%")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fractions", default="1,0.5,0.25", help="gpus_per_trial values, comma-separated")
    parser.add_argument("--evaluations", type=int, default=8, help="evaluations per fraction (rounded up to a "
                        "whole number of populations)")
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--images", type=int, default=3400, help="synthetic lesion images in all")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-train-samples", type=int, default=2000)
    parser.add_argument("--max-val-samples", type=int, default=500)
    parser.add_argument("--max-params", type=int, default=1_000_000)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs of the local Ray instance; 0 runs on CPUs only")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--trial-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-workers", action="store_true",
                        help="long-lived workers that clear the Keras session (default: a fresh process per trial)")
    parser.add_argument("--verbose", action="store_true", help="the search's progress per evaluation")
    parser.add_argument("--output", default=None, help="results file (default: $OUT/ray_gpu.json or "
                        "benchmarks/results/ray_gpu.json)")
    args = parser.parse_args()
    fractions = [float(f) for f in args.fractions.split(",") if f.strip()]

    print(f"{machine()}; GPU: {gpu_name()}; {versions()}", flush=True)
    clock = time.perf_counter()
    data = nas.data.synthetic_lesions(n=args.images, image_size=args.image_size, seed=args.seed)
    print(f"data: {args.images} synthetic lesions at {args.image_size} px in {time.perf_counter() - clock:.1f} s",
          flush=True)
    ray_seconds = start_ray(args)
    results: list[dict] = []
    report = {
        "benchmark": "ray_gpu", "machine": machine(), "gpu": gpu_name(), "versions": versions(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("output", "verbose")},
        "ray_start_seconds": round(ray_seconds, 1),
        "note": "evaluations_per_hour = trained evaluations / wall time of the search (Ray's start excluded); "
                + ("workers are reused, so only a worker's first evaluation pays for its process start and imports"
                   if args.reuse_workers else "each evaluation runs in a fresh worker process, so its time includes "
                   "the process start and the imports")
                + "; with Keras on JAX every genome compiles its graph; train_seconds is model.fit's time, compile "
                  "included",
        "results": results,
    }
    if args.output:
        path = Path(args.output)
    elif os.environ.get("OUT"):
        path = Path(os.environ["OUT"]) / "ray_gpu.json"
    else:
        path = Path(__file__).resolve().parent / "results" / "ray_gpu.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        for fraction in fractions:
            figures = measure(fraction, data, args)
            results.append(figures)
            print(line(figures), flush=True)
            if figures.get("errors"):
                print(f"    errors: {figures['errors']}", flush=True)
            path.write_text(json.dumps(report, indent=2) + "\n")  # after each fraction, in case the run is cut off
    finally:
        import ray

        ray.shutdown()
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
