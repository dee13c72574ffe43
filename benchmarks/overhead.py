"""What nas adds on top of training: the same genomes trained by nas and by bare Keras in one process, and memory
growth over 30 evaluations.

    python benchmarks/overhead.py [--genomes 16] [--rounds 2]

Prints the wall-time ratio nas / bare Keras per evaluation (interleaved genome by genome, target <= 1.05) and for whole
searches with the default `local` executor (a worker process) and with `inline` (in this process), and the RSS growth
over 30 evaluations of the search process and of the worker (target < 100 MB).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import rss_mb, save  # noqa: E402

import nas  # noqa: E402
from nas.executors import InlineExecutor, LocalExecutor  # noqa: E402
from nas.training import evaluate, predict  # noqa: E402
from search_spaces import cnn  # noqa: E402


def genomes_for(data, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    picked, seen = [], set()
    while len(picked) < count:
        genome = cnn.SPACE.repair(cnn.SPACE.sample(rng), data.input_shape)
        if cnn.SPACE.hash(genome) not in seen and cnn.count_params(genome, data.input_shape, 7) < 500_000:
            seen.add(cnn.SPACE.hash(genome))
            picked.append(genome)
    return picked


def bare_keras(genomes, data, epochs: int) -> float:
    """The loop a researcher would write by hand (with clear_session, or memory grows faster)."""
    import keras

    start = time.perf_counter()
    for genome in genomes:
        keras.utils.set_random_seed(0)
        model = cnn.build(genome, data.input_shape, data.num_classes)
        cnn.SPACE.compile(model, genome)
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=genome["batch_size"], verbose=0)
        probabilities = predict(model, data.x_val)
        float((probabilities.argmax(1) == data.y_val).mean())
        del model
        keras.backend.clear_session()
    return time.perf_counter() - start


def per_evaluation(genomes, data, epochs: int, rounds: int) -> tuple[float, float]:
    """Bare Keras and nas's evaluation of one genome, interleaved genome by genome so that drift and noise of a shared
    machine hit both alike. Returns the summed seconds (bare, nas)."""
    bare = mine = 0.0
    budget = nas.Budget(epochs=epochs)
    for _ in range(rounds):
        for genome in genomes:
            bare += bare_keras([genome], data, epochs)
            start = time.perf_counter()
            evaluate(genome, space=cnn.SPACE, data=data, budget=budget, seed=0)
            mine += time.perf_counter() - start
    return bare, mine


def with_nas(genomes, data, epochs: int, executor, run_dir: Path) -> float:
    start = time.perf_counter()
    nas.evolve(cnn.SPACE, data, population=len(genomes), generations=1, initial=genomes, executor=executor,
               budget=nas.Budget(epochs=epochs), run_dir=run_dir, verbose=False)
    return time.perf_counter() - start


def measured(base):
    class Measured(base):
        """The executor, recording this (the search's) process's RSS after every evaluation."""

        def __init__(self):
            super().__init__()
            self.rss: list[float] = []

        def next_result(self):
            result = super().next_result()
            self.rss.append(rss_mb())
            return result

    return Measured()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of bare / local / inline")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    data = nas.data.synthetic_lesions(n=1000, image_size=32, seed=0)
    genomes = genomes_for(data, args.genomes, seed=1)
    times: dict[str, list[float]] = {"bare": [], "local": [], "inline": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare_keras(genomes[:2], data, 1)  # warm up TensorFlow in this process before timing anything
        bare_each, nas_each = per_evaluation(genomes, data, args.epochs, args.rounds)
        print(f"per evaluation, interleaved: bare Keras {bare_each:.1f} s, nas {nas_each:.1f} s "
              f"({args.rounds} x {len(genomes)} genomes)", flush=True)
        for round_ in range(args.rounds):
            times["bare"].append(bare_keras(genomes, data, args.epochs))
            times["local"].append(with_nas(genomes, data, args.epochs, "local", workdir / f"local-{round_}"))
            times["inline"].append(with_nas(genomes, data, args.epochs, "inline", workdir / f"inline-{round_}"))
            print(f"round {round_ + 1} ({len(genomes)} genomes): bare Keras {times['bare'][-1]:.1f} s, nas local "
                  f"{times['local'][-1]:.1f} s, nas inline {times['inline'][-1]:.1f} s", flush=True)

        memory = {}
        memory_genomes = genomes_for(data, 30, seed=2)
        for name, base in (("local", LocalExecutor), ("inline", InlineExecutor)):
            executor = measured(base)
            run = nas.evolve(cnn.SPACE, data, population=30, generations=1, initial=memory_genomes,
                             executor=executor, budget=nas.Budget(epochs=1), run_dir=workdir / f"memory-{name}",
                             verbose=False)
            worker = [r.get("worker_rss_mb") for r in run.evaluations]
            memory[name] = {"search_process_rss_mb": [round(v, 1) for v in executor.rss],
                            "worker_rss_mb": [round(v, 1) if v else None for v in worker],
                            "workers_used": len({r["worker"] for r in run.evaluations})}

    ratio = {name: sum(times[name]) / sum(times["bare"]) for name in ("local", "inline")}
    per_eval_ratio = nas_each / bare_each
    figures = {"genomes": len(genomes), "rounds": args.rounds, "epochs": args.epochs, "data": data.summary(),
               "per_evaluation_seconds": {"bare": bare_each, "nas": nas_each},
               "per_evaluation_ratio": per_eval_ratio, "search_seconds": times, "search_ratio_over_bare_keras": ratio,
               "memory_30_evaluations": memory}
    path = save("overhead", figures)
    print(f"results: {path}")
    for name, values in memory.items():
        rss = values["search_process_rss_mb"]
        print(f"{name}: search process RSS growth over 30 evaluations {rss[-1] - rss[0]:+.0f} MB "
              f"({rss[0]:.0f} -> {rss[-1]:.0f} MB)", end="")
        worker = [v for v in values["worker_rss_mb"] if v]
        if worker:
            print(f"; worker RSS {worker[0]:.0f} -> max {max(worker):.0f} MB, {values['workers_used']} worker(s)",
                  end="")
        print()
    print(f"whole search of {len(genomes)} genomes, nas / bare Keras: local {ratio['local']:.3f} (includes starting "
          f"the worker process), inline {ratio['inline']:.3f}")
    print(f"per evaluation (interleaved), nas / bare Keras: {per_eval_ratio:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
