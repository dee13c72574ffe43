"""Training and scoring one genome (the fitness), with real Keras at tiny sizes."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

import nas
from conftest import dense_space
from nas.epochs import EpochBatches
from nas.training import Budget, balanced_accuracy, evaluate, subset, training_seed

GENOME = {"units": 16, "activation": "relu", "learning_rate": 0.01, "mode": "ok"}


def test_evaluate_reports_metrics_and_is_repeatable(tiny_data):
    space = dense_space(modes=("ok",))
    first = evaluate(GENOME, space=space, data=tiny_data, budget=Budget(epochs=2), seed=0)
    assert first["status"] == "ok" and first["error"] is None
    metrics = first["metrics"]
    assert set(nas.training.METRICS) <= set(metrics)
    assert metrics["params"] == 16 * 16 * 16 * 3 + 16 + 16 * 7 + 7
    assert metrics["epochs"] == 2 and metrics["train_samples"] == len(tiny_data.x_train)
    assert 0 <= metrics["val_balanced_accuracy"] <= 1 and metrics["val_loss"] > 0
    assert first["node"] and first["worker"].startswith("pid-") and first["started"] <= first["finished"]
    again = evaluate(GENOME, space=space, data=tiny_data, budget=Budget(epochs=2), seed=0)
    assert again["metrics"]["val_loss"] == pytest.approx(metrics["val_loss"], abs=1e-9)


def test_deterministic_budget_trains_repeatably(tiny_data):
    budget = Budget(epochs=1, deterministic=True)
    first, second = (evaluate(GENOME, space=dense_space(), data=tiny_data, budget=budget, seed=1) for _ in range(2))
    assert first["status"] == "ok" and first["metrics"]["val_loss"] == second["metrics"]["val_loss"]


def test_budget_limits_training_and_validation_samples(tiny_data):
    outcome = evaluate(GENOME, space=dense_space(), data=tiny_data,
                       budget=Budget(epochs=1, max_train_samples=30, max_val_samples=14), seed=0)
    assert outcome["metrics"]["train_samples"] == 30
    assert outcome["metrics"]["val_accuracy"] * 14 == pytest.approx(round(outcome["metrics"]["val_accuracy"] * 14))


def test_failures_become_failed_outcomes_not_exceptions(tiny_data):
    space = dense_space(modes=("ok", "raise", "nan"))
    raised = evaluate({**GENOME, "mode": "raise"}, space=space, data=tiny_data, budget=Budget(), seed=0)
    assert raised["status"] == "failed" and raised["error"] == "RuntimeError: this genome is built to fail"
    assert "Traceback" in raised["traceback"]
    nan = evaluate({**GENOME, "mode": "nan"}, space=space, data=tiny_data, budget=Budget(), seed=0)
    assert nan["status"] == "failed" and "NaN" in nan["error"]
    big = evaluate({**GENOME, "units": 64}, space=space, data=tiny_data, budget=Budget(max_params=1000), seed=0)
    assert big["status"] == "failed" and "more than Budget.max_params=1,000" in big["error"]
    assert big["metrics"]["params"] > 1000


def test_training_seed_depends_on_run_seed_and_genome_only():
    assert training_seed(0, "abc") == training_seed(0, "abc")
    assert len({training_seed(0, "abc"), training_seed(1, "abc"), training_seed(0, "abd")}) == 3
    assert 0 <= training_seed(123, "ffff") < 2 ** 31


def test_subset_is_seeded_and_bounded():
    assert subset(10, None, 0) is None and subset(10, 20, 0) is None
    picked = subset(100, 10, 0)
    assert len(set(picked)) == 10 and list(picked) == sorted(picked) and list(picked) == list(subset(100, 10, 0))


def test_balanced_accuracy_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("kwargs", [dict(epochs=0), dict(epochs=1.5), dict(max_train_samples=0),
                                    dict(max_params=-1), dict(max_val_samples=True)])
def test_budget_rejects_bad_values(kwargs):
    with pytest.raises(nas.ConfigError, match="must be a positive integer"):
        Budget(**kwargs)


def test_budget_round_trip():
    budget = Budget(epochs=3, max_params=10)
    assert Budget.from_dict(budget.to_dict()) == budget
    with pytest.raises(nas.ConfigError, match="unknown Budget fields"):
        Budget.from_dict({"epochs": 1, "patience": 2})


def test_oversampled_epochs_draw_every_class_equally_in_an_order_fixed_by_seed_and_epoch():
    x, y = np.arange(100, dtype="float32")[:, None], np.repeat([0, 1, 2], [90, 8, 2])
    batches = EpochBatches(x, y, batch_size=10, seed=5, balanced=True)
    order = batches.order
    assert len(order) == 102 and len(batches) == 11  # ceil(100 / 3) places for each of the 3 classes
    assert np.bincount(y[order]).tolist() == [34, 34, 34]
    assert set(order[y[order] == 1]) == set(range(90, 98)) and set(order[y[order] == 2]) == {98, 99}
    assert len(set(order[y[order] == 0])) == 34  # a large class is not repeated, part of it waits for other epochs
    assert np.array_equal(EpochBatches(x, y, batch_size=10, seed=5, balanced=True).order, order)
    batches.on_epoch_end()
    assert not np.array_equal(batches.order, order)
    assert np.array_equal(EpochBatches(x, y, batch_size=10, seed=5, first_epoch=1, balanced=True).order, batches.order)
    assert sorted(EpochBatches(x, y, batch_size=10, seed=5).order) == list(range(100))  # the default: each image once


def test_an_oversampled_budget_trains_class_balanced_without_class_weights(tiny_data):
    keep = np.flatnonzero((tiny_data.y_train == 0) | (np.arange(len(tiny_data.y_train)) % 4 == 0))
    skewed = replace(tiny_data, x_train=tiny_data.x_train[keep], y_train=tiny_data.y_train[keep], class_weighted=True)
    assert Budget(oversample=True).for_data(skewed).class_weighted is False
    assert Budget().for_data(skewed).class_weighted is True
    weighted = evaluate(GENOME, space=dense_space(), data=skewed, budget=Budget(epochs=2), seed=0)
    oversampled = evaluate(GENOME, space=dense_space(), data=skewed, budget=Budget(epochs=2, oversample=True), seed=0)
    assert weighted["status"] == oversampled["status"] == "ok", oversampled["error"]
    assert oversampled["metrics"]["val_loss"] != pytest.approx(weighted["metrics"]["val_loss"], abs=1e-6)
    with pytest.raises(nas.ConfigError, match="both balance the classes; give one"):
        Budget(oversample=True, class_weighted=True)
    with pytest.raises(nas.ConfigError, match="Budget.oversample must be True or False"):
        Budget(oversample="yes")
    recorded = Budget().to_dict()
    del recorded["oversample"]  # a budget recorded before the field existed
    assert Budget.from_dict(recorded).oversample is False


def test_cli_oversample_flag_is_recorded_and_a_contradiction_is_refused(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16",
                           "--population", "2", "--generations", "1", "--oversample", "--simulate", "0",
                           "--executor", "inline", "--run-dir", str(run), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    budget = json.loads((run / "config.json").read_text())["budget"]
    assert budget["oversample"] is True and budget["class_weighted"] is False
    bad = subprocess.run([sys.executable, "-m", "nas", "search", "--oversample", "--class-weights", "--simulate", "0",
                          "--run-dir", str(tmp_path / "bad")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "give one" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
