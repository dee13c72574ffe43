"""Crash and resume: searches killed with SIGKILL at random instants (some twice in a row, the second time while
resuming), resumed until they finish, and compared with uninterrupted runs of the same seed.

    python benchmarks/crash_resume.py [--runs 20] [--population 8] [--generations 8] [--algorithm aging]
                                      [--fidelity 1:4:2]

The fitness is nas.training.simulate (deterministic, 10 ms per evaluation), so what is measured is the search
machinery: run folder, checkpoints, resume. Prints how many runs ended identical to the uninterrupted one (genome
sequence, final population, best; target all), evaluations lost (logged before a kill, missing after; target 0),
evaluations repeated (an evaluation trained again after it was logged; target 0) and the resume time.

Results go to ``benchmarks/results/crash_resume.json`` (``crash_resume_aging.json`` with ``--algorithm aging``;
``_fidelity`` is added to the name with ``--fidelity``, whose runs keep training states for their promotions).
"""
from __future__ import annotations

import argparse
from datetime import datetime
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import nas  # noqa: E402


def log_records(run_dir: Path) -> list[dict]:
    path = run_dir / "evaluations.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a torn last line: not a finished evaluation
    return records


def fingerprint(run_dir: Path) -> tuple:
    run = nas.load_run(run_dir)
    rungs = [r.get("rung", 0) for r in sorted(run.evaluations, key=lambda r: r["index"])]
    return run.genome_sequence(), rungs, run.generations[-1]["population"], run.best.genome_hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill instants")
    parser.add_argument("--algorithm", choices=("generational", "aging"), default="generational")
    parser.add_argument("--fidelity", default=None, help="multi-fidelity runs, e.g. 1:4:2")
    args = parser.parse_args()

    search = ["--space", "cnn", "--data", "synthetic:70", "--image-size", "16", "--population", args.population,
              "--generations", args.generations, "--simulate", "0.01", "--executor", "inline", "--quiet",
              "--algorithm", args.algorithm, *(["--fidelity", args.fidelity] if args.fidelity else [])]
    nas_cli = [sys.executable, "-m", "nas"]
    rng = random.Random(args.seed)
    rows, resume_latencies = [], []
    with tempfile.TemporaryDirectory() as tmp:
        references = {}
        for seed in range(5):
            clock = time.perf_counter()
            subprocess.run(nas_cli + ["search", *map(str, search), "--seed", str(seed), "--run-dir",
                                      f"{tmp}/reference-{seed}"], check=True, capture_output=True)
            references[seed] = (fingerprint(Path(f"{tmp}/reference-{seed}")), time.perf_counter() - clock)
        duration = statistics.fmean(seconds for _, seconds in references.values())

        for number in range(args.runs):
            seed = number % 5
            run_dir = Path(tmp) / f"run-{number}"
            twice = number % 4 == 3  # every fourth run is killed again while it resumes
            command = nas_cli + ["search", *map(str, search), "--seed", str(seed), "--run-dir", str(run_dir)]
            kills, lost = 0, 0
            planned = 2 if twice else 1
            while True:
                resuming = command[3] == "resume"
                before = {r["index"]: r for r in log_records(run_dir)}
                launched = time.time()
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if kills < planned:
                    # the first kill anywhere in the run; the second early in the resume, before it gets far
                    time.sleep(rng.uniform(0.1, 0.9 * duration) if kills == 0 else rng.uniform(0.05, 0.8))
                    if process.poll() is None:
                        process.send_signal(signal.SIGKILL)
                        kills += 1
                code = process.wait()
                if code == 0 and kills == 0:  # finished before the kill: start this run again with another instant
                    shutil.rmtree(run_dir)
                    continue
                appended = [r for r in log_records(run_dir) if r["index"] not in before]
                if resuming and appended:  # from launching `nas resume` to its first evaluation starting
                    first = min(appended, key=lambda r: r["index"])
                    resume_latencies.append(datetime.fromisoformat(first["started"]).timestamp() - launched)
                after = {r["index"]: r for r in log_records(run_dir)}
                lost += sum(1 for index, record in before.items() if after.get(index) != record)
                if code == 0:
                    break
                if (run_dir / "config.json").exists():
                    command = nas_cli + ["resume", str(run_dir), "--executor", "inline", "--quiet"]
            records = log_records(run_dir)
            indices = [r["index"] for r in records]
            ok = [(r["genome_hash"], r.get("rung", 0)) for r in records if r["status"] == "ok"]
            repeated = (len(indices) - len(set(indices))) + (len(ok) - len(set(ok)))
            identical = fingerprint(run_dir) == references[seed][0]
            rows.append({"run": number, "seed": seed, "kills": kills, "identical": identical, "lost": lost,
                         "repeated": repeated})
            print(f"run {number + 1:>2}: seed {seed}, killed {kills}x, identical {identical}, lost {lost}, "
                  f"repeated {repeated}", flush=True)

        # Resume time: restoring a finished run of 30 generations (log, checkpoint and cache), in this process.
        long_run = Path(tmp) / "long"
        subprocess.run(nas_cli + ["search", "--data", "synthetic:70", "--image-size", "16", "--population", "16",
                                  "--generations", "30", "--simulate", "0", "--executor", "inline", "--quiet",
                                  "--run-dir", str(long_run)], check=True, capture_output=True)
        data = nas.data.synthetic_lesions(n=70, image_size=16)
        clock = time.perf_counter()
        resumed = nas.resume(long_run, data=data, executor="inline", verbose=False)
        restore_seconds = time.perf_counter() - clock

        clock = time.perf_counter()
        subprocess.run(nas_cli + ["runs", "show", str(long_run)], check=True, capture_output=True)
        show_seconds = time.perf_counter() - clock

    identical = sum(r["identical"] for r in rows)
    figures = {"runs": rows, "identical": identical, "lost": sum(r["lost"] for r in rows),
               "repeated": sum(r["repeated"] for r in rows), "kills": sum(r["kills"] for r in rows),
               "uninterrupted_run_seconds": duration, "resume_latencies_seconds": resume_latencies,
               "resume_finished_run_seconds": restore_seconds,
               "resume_finished_run_evaluations": len(resumed.evaluations), "runs_show_seconds": show_seconds}
    figures.update(algorithm=args.algorithm, fidelity=args.fidelity)
    name = "crash_resume" if args.algorithm == "generational" else f"crash_resume_{args.algorithm}"
    path = save(name + ("_fidelity" if args.fidelity else ""), figures)
    print(f"results: {path}")
    print(f"kills: {figures['kills']} in {args.runs} runs ({sum(r['kills'] == 2 for r in rows)} runs killed twice)")
    print(f"resume: from launching `nas resume` to its first evaluation, median "
          f"{statistics.median(resume_latencies):.2f} s (max {max(resume_latencies):.2f} s, {len(resume_latencies)} "
          f"resumes; Python start and imports included)")
    print(f"resume of a finished run with {len(resumed.evaluations)} logged evaluations (30 generations x 16): "
          f"{restore_seconds:.2f} s in process; `nas runs show` of it: {show_seconds:.2f} s")
    print(f"identical to the uninterrupted run: {identical}/{args.runs} (target {args.runs}/{args.runs}); "
          f"evaluations lost: {figures['lost']} (target 0); evaluations repeated: {figures['repeated']} (target 0)")


if __name__ == "__main__":
    main()
