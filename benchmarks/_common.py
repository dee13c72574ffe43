"""Helpers shared by the benchmark scripts: quiet TensorFlow, RSS, machine description, writing results, the epochs a
search spent, a pick's retrained test scores."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def cpu() -> str:
    """The processor's model name (Linux; "unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def versions() -> dict:
    """The processor and the versions of Python and the packages a figure depends on: the same genome retrained by
    the same code gave other figures under another install (docs/search.md), so results files record them."""
    found = {"python": platform.python_version(), "cpu": cpu(),
             "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    for package in ("nas", "keras", "jax", "jaxlib", "tensorflow", "ray", "deap", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def save(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "versions": versions(), **figures}, indent=2) + "\n")
    return path


def epochs_spent(run) -> int:
    """Epochs a search really trained (cache hits trained nothing; a promotion only its added epochs)."""
    return sum(int(r["metrics"].get("epochs") or 0) for r in run.evaluations if r["status"] != "cached")


def test_scores(genome: dict, space, data, epochs: int, seeds: list[int]) -> dict:
    """``genome`` trained on the whole training split for ``epochs`` once per seed in ``seeds``, each model scored
    once on the test split: the lists of accuracy and balanced accuracy (one retrain is itself a noisy measurement),
    and of validation accuracy (``val_accuracy``), to choose between retrained genomes without the test split."""
    import keras

    from nas.training import Budget, balanced_accuracy, predict, train

    accuracy, balanced, validation = [], [], []
    for seed in seeds:
        model = train(genome, space=space, data=data, budget=Budget(epochs=epochs), seed=seed)
        predicted = predict(model, data.x_test).argmax(axis=1)
        validation.append(float((predict(model, data.x_val).argmax(axis=1) == data.y_val).mean()))
        keras.backend.clear_session()
        accuracy.append(float((predicted == data.y_test).mean()))
        balanced.append(balanced_accuracy(data.y_test, predicted))
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "val_accuracy": validation}
