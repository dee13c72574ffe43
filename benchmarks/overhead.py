"""What nas adds on top of training: the same genomes trained by nas (engine + local executor + run folder) and by
bare Keras in the same process, and RSS growth over 30 evaluations.

    python benchmarks/overhead.py [--genomes 12] [--rounds 2]

Prints the wall-time ratio nas / bare Keras (target <= 1.05) and the RSS growth over 30 evaluations (target < 100 MB).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import rss_mb, save  # noqa: E402

import nas  # noqa: E402
from nas.executors import LocalExecutor  # noqa: E402
from nas.training import predict  # noqa: E402
from search_spaces import cnn  # noqa: E402


def genomes_for(data, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    picked, seen = [], set()
    while len(picked) < count:
        genome = cnn.SPACE.repair(cnn.SPACE.sample(rng), data.input_shape)
        if cnn.SPACE.hash(genome) not in seen and cnn.SPACE.count_params(genome, data.input_shape, 7) < 2_000_000:
            seen.add(cnn.SPACE.hash(genome))
            picked.append(genome)
    return picked


def bare_keras(genomes, data, epochs: int) -> float:
    """The loop a researcher would write by hand (with clear_session, or memory grows)."""
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


def with_nas(genomes, data, epochs: int, workdir: Path, tag: str) -> float:
    start = time.perf_counter()
    nas.evolve(cnn.SPACE, data, population=len(genomes), generations=1, initial=genomes,
               budget=nas.Budget(epochs=epochs), run_dir=workdir / tag, verbose=False)
    return time.perf_counter() - start


class RSSExecutor(LocalExecutor):
    """The local executor, recording this process's RSS after every evaluation."""

    def __init__(self):
        super().__init__()
        self.rss: list[float] = []

    def next_result(self):
        result = super().next_result()
        self.rss.append(rss_mb())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2, help="alternating nas / bare rounds")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    data = nas.data.synthetic_lesions(n=1000, image_size=32, seed=0)
    genomes = genomes_for(data, args.genomes, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare_keras(genomes[:2], data, 1)  # warm up TensorFlow before timing anything
        nas_times, bare_times = [], []
        for round_ in range(args.rounds):
            bare_times.append(bare_keras(genomes, data, args.epochs))
            nas_times.append(with_nas(genomes, data, args.epochs, workdir, f"overhead-{round_}"))
            print(f"round {round_ + 1}: nas {nas_times[-1]:.1f} s, bare Keras {bare_times[-1]:.1f} s "
                  f"({len(genomes)} genomes)", flush=True)

        executor = RSSExecutor()
        memory_genomes = genomes_for(data, 30, seed=2)
        nas.evolve(cnn.SPACE, data, population=30, generations=1, initial=memory_genomes, executor=executor,
                   budget=nas.Budget(epochs=1), run_dir=workdir / "memory", verbose=False)

    ratio = sum(nas_times) / sum(bare_times)
    growth_all = executor.rss[-1] - executor.rss[0]
    growth_warm = executor.rss[-1] - executor.rss[4]
    figures = {
        "genomes": len(genomes), "rounds": args.rounds, "epochs": args.epochs, "data": data.summary(),
        "nas_seconds": nas_times, "bare_keras_seconds": bare_times, "ratio_nas_over_bare": round(ratio, 4),
        "rss_mb_per_evaluation": [round(v, 1) for v in executor.rss],
        "rss_growth_mb_eval1_to_30": round(growth_all, 1), "rss_growth_mb_eval5_to_30": round(growth_warm, 1),
    }
    path = save("overhead", figures)
    print(f"results: {path}")
    print(f"RSS after evaluation 1/5/30: {executor.rss[0]:.0f} / {executor.rss[4]:.0f} / {executor.rss[-1]:.0f} MB")
    print(f"RSS growth over 30 evaluations: {growth_all:.1f} MB (from evaluation 5: {growth_warm:.1f} MB; "
          f"target < 100 MB)")
    print(f"wall time nas / bare Keras: {ratio:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
