"""Export formats of the paper's Table-1 network at 64x64: size, per-image CPU latency and top-1 agreement.

Keras (.keras) vs TFLite float32, float16 and int8, each made by ``nas.export.export`` from the same model and checked
on the test split of synthetic lesions at 64 px: once with random weights (as built), once after 6 epochs of training
(a model whose outputs are not near-ties, which is what quantization is normally applied to); the test accuracy of
each export is printed next to its agreement. Latency is the median of single-image calls on the CPU; the ratios
against the Keras file are measured in this run.

    python benchmarks/export.py [--repeats 200]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import machine, save

import numpy as np

import nas
from nas import baselines
from nas.export import export, tflite_predictor
from nas.training import predict

VARIANTS = (("keras", None), ("tflite", None), ("tflite", "float16"), ("tflite", "int8"))


def measure(model, data, folder: Path, repeats: int) -> dict:
    rows = {}
    for format, quantize in VARIANTS:
        label = format if quantize is None else f"{format}-{quantize}"
        out = folder / f"{label}.{format}"
        clock = time.perf_counter()
        figures = export(model, format, quantize, out=out, data=data, repeats=repeats)
        seconds = time.perf_counter() - clock
        probabilities = (predict(model, data.x_test) if format == "keras"
                         else tflite_predictor(out.read_bytes())(data.x_test))
        rows[label] = {"size_mb": round(figures["size_bytes"] / 2 ** 20, 3),
                       "latency_ms": round(figures["latency_ms"], 3),
                       "agreement": round(figures["agreement"], 4),
                       "test_accuracy": round(float(np.mean(probabilities.argmax(1) == data.y_test)), 4),
                       "test_images": figures["test_images"], "export_seconds": round(seconds, 2)}
    for row in rows.values():
        row["speedup_vs_keras"] = round(rows["keras"]["latency_ms"] / row["latency_ms"], 2)
        row["size_vs_keras"] = round(row["size_mb"] / rows["keras"]["size_mb"], 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="single-image calls timed per latency")
    args = parser.parse_args()

    import keras

    data = nas.data.synthetic_lesions(n=700, image_size=64, seed=0)
    keras.utils.set_random_seed(0)
    model = baselines.build("table1", data.input_shape, data.num_classes)
    results = {"model": f"table1 at 64x64x3, {model.count_params():,} parameters", "repeats": args.repeats,
               "data": data.summary()}
    with tempfile.TemporaryDirectory() as scratch:
        results["random_weights"] = measure(model, data, Path(scratch), args.repeats)
        baselines.compile(model, "table1")
        clock = time.perf_counter()
        model.fit(data.x_train, data.y_train, epochs=6, batch_size=32, verbose=0)
        results["train_seconds"] = round(time.perf_counter() - clock, 1)
        results["trained_6_epochs"] = measure(model, data, Path(scratch), args.repeats)

    save("export", results)
    print(f"{machine()}; {results['model']}; latency = median of {args.repeats} single-image CPU calls")
    print(f"{'weights':<17} {'format':<15} {'size MB':>8} {'x keras':>8} {'latency ms':>11} {'speed-up':>9} "
          f"{'agreement':>10} {'accuracy':>9}")
    for weights in ("random_weights", "trained_6_epochs"):
        for label, row in results[weights].items():
            print(f"{weights:<17} {label:<15} {row['size_mb']:>8.3f} {row['size_vs_keras']:>8.3f} "
                  f"{row['latency_ms']:>11.3f} {row['speedup_vs_keras']:>8.2f}x {row['agreement']:>10.1%} "
                  f"{row['test_accuracy']:>9.1%}")


if __name__ == "__main__":
    main()
