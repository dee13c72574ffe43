"""Budget(max_epoch_seconds=): an evaluation whose first batches project a longer epoch fails at once with
TooSlowError; under the limit, or too short to probe, training is what it would have been."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest

import nas
from nas.errors import ConfigError
from nas.space import resolve_space
from nas.training import Budget, evaluate

SPACE = resolve_space("cnn")


@pytest.fixture(scope="module")
def genome(tiny_data):
    sampled = SPACE.repair(SPACE.sample(random.Random(0)), tiny_data.input_shape)
    return {**sampled, "batch_size": 16}  # about 7 batches of 16 on 112 training images


def test_a_genome_over_the_limit_fails_early(tiny_data, genome):
    batches = -(-len(tiny_data.y_train) // 16)
    assert batches > 3, "the fixture must have enough batches to probe"
    outcome = evaluate(genome, space=SPACE, data=tiny_data, budget=Budget(epochs=2, max_epoch_seconds=1e-6), seed=0)
    assert outcome["status"] == "failed"
    assert outcome["error"].startswith("TooSlowError: an epoch would take about")
    assert f"({batches} batches), more than Budget.max_epoch_seconds=1e-06" in outcome["error"]
    assert outcome["metrics"]["epochs"] == 0 and outcome["curve"] == []
    assert outcome["metrics"]["params"] > 0 and outcome["metrics"]["train_seconds"] >= 0


def test_an_epoch_on_more_images_gets_the_limit_scaled_by_its_images(tiny_data, genome):
    """Training images that grow with the epochs (the rungs of a search) raise the limit in proportion: it bounds a
    genome's pace, not its rung's size. The first epoch (32 images, 2 batches) is too short to probe; the second, on
    all 112, is held to the limit times 112 / 32."""
    images = len(tiny_data.y_train)
    budget = Budget(epochs=2, max_train_samples=32, samples_from_epoch=((2, None),), max_epoch_seconds=1e-6)
    outcome = evaluate(genome, space=SPACE, data=tiny_data, budget=budget, seed=0)
    assert outcome["status"] == "failed" and outcome["metrics"]["epochs"] == 1
    assert (f"more than Budget.max_epoch_seconds for 32 images scaled to {images}: {1e-6 * images / 32:g}"
            in outcome["error"])


def test_under_the_limit_training_is_unchanged(tiny_data, genome):
    free = evaluate(genome, space=SPACE, data=tiny_data, budget=Budget(epochs=2), seed=0)
    limited = evaluate(genome, space=SPACE, data=tiny_data, budget=Budget(epochs=2, max_epoch_seconds=3600), seed=0)
    assert free["status"] == limited["status"] == "ok"
    assert [e["val_loss"] for e in limited["curve"]] == [e["val_loss"] for e in free["curve"]]


def test_a_re_evaluation_replicate_is_not_limited(tiny_data, genome):
    """A replicate repeats a training the genome passed: the machine's load must not drop a seed from its mean."""
    budget = Budget(epochs=1, max_epoch_seconds=1e-6)
    assert evaluate(genome, space=SPACE, data=tiny_data, budget=budget, seed=0)["status"] == "failed"
    outcome = evaluate(genome, space=SPACE, data=tiny_data, budget=budget, seed=0, replicate=1)
    assert outcome["status"] == "ok", outcome["error"]


def test_an_epoch_too_short_to_probe_is_not_checked(tiny_data, genome):
    outcome = evaluate({**genome, "batch_size": 128}, space=SPACE, data=tiny_data,
                       budget=Budget(epochs=1, max_epoch_seconds=1e-6), seed=0)  # one batch an epoch
    assert outcome["status"] == "ok", outcome["error"]


@pytest.mark.parametrize("limit", [0, -3, True, "60", float("nan")])
def test_bad_limits_are_refused(limit):
    with pytest.raises(ConfigError, match="Budget.max_epoch_seconds must be a number of seconds above 0 or None"):
        Budget(max_epoch_seconds=limit)


def test_cli_search_with_an_epoch_time_limit(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:700", "--image-size", "16",
                             "--population", "2", "--generations", "1", "--executor", "inline", "--max-epoch-seconds",
                             "0.000001", "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run = nas.load_run(run_dir)
    assert run.config["budget"]["max_epoch_seconds"] == 1e-6
    # every genome has at least 4 batches of at most 128 on 490 training images, so every one is probed and fails
    assert run.evaluations and all(r["status"] == "failed" and "TooSlowError" in r["error"] for r in run.evaluations)
