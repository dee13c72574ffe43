"""Training and scoring one genome (the fitness), with real Keras at tiny sizes."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

import nas
from conftest import dense_space
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
