"""A search on Ray: on this machine (a local Ray instance is started and stopped) or on a running cluster.

    python examples/ray_cluster.py                                   # local Ray, all of this machine's CPUs
    python examples/ray_cluster.py --population 4 --generations 2    # about a minute on 2 cores
    python examples/ray_cluster.py --address auto --gpus-per-trial 0.5 --algorithm aging   # on a cluster

The data are small generated lesion images (16x16, one epoch per genome), so the run measures the machinery rather
than the models; see docs/ray.md for the options, the run record and how to start a cluster (or use SLURM:
examples/slurm/nas_search.sbatch). Run it from the repository root, or anywhere once nas is installed.
"""
from __future__ import annotations

import argparse
import sys

import nas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=None,
                        help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 (default: start a local Ray instance)")
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--algorithm", choices=("generational", "aging"), default="generational",
                        help="aging: asynchronous regularized evolution, keeps every worker busy")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0,
                        help="GPUs per trial; 0.5 packs two trainings on one GPU (default 0: CPUs only)")
    parser.add_argument("--run-dir", default=None, help="run folder (default runs/<timestamp>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # The executor object carries the Ray settings; executor="ray" would be the same with every default.
    executor = nas.RayExecutor(address=args.address, cpus_per_trial=args.cpus_per_trial,
                               gpus_per_trial=args.gpus_per_trial)
    run = nas.evolve(
        space="cnn",
        data=nas.data.synthetic_lesions(n=400, image_size=16, seed=args.seed),
        population=args.population,
        generations=args.generations,
        budget=nas.Budget(epochs=1, max_train_samples=256),
        executor=executor,
        algorithm=args.algorithm,
        run_dir=args.run_dir,
        seed=args.seed,
    )

    evaluations = run.evaluations
    nodes = sorted({r["node"] for r in evaluations if r.get("node")})
    workers = {r["worker"] for r in evaluations if r.get("worker")}
    print(f"\n{len(evaluations)} evaluations on {len(nodes)} node(s) ({', '.join(nodes) or '-'}), "
          f"{len(workers)} worker process(es), {len(run.failures)} failed")
    if run.best is not None:
        print(f"best genome {run.best.genome_hash}: val_accuracy {run.best.metrics.get('val_accuracy')}")
        print("  " + ", ".join(f"{k}={v}" for k, v in run.best.genome.items()))
    print(f"run folder: {run.path}  (nas runs show {run.path}; continue with nas resume {run.path} --executor ray)")


if __name__ == "__main__":
    try:
        main()
    except nas.NasError as error:  # a bad setting or an unreachable cluster: one line, not a traceback
        sys.exit(f"ray_cluster.py: error: {error}")
