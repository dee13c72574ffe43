"""Tests of nas.uncertainty: the difference of two models' scores on the same images and its paired error."""
import numpy as np
import pytest

from nas.errors import DataError
from nas.uncertainty import describe_difference, paired_difference
from nas.report import classification_report

NAMES = ["a", "b", "c"]


def _predictions(rng, y, right: float) -> np.ndarray:
    """Predictions right on about a fraction ``right`` of the images, a wrong class elsewhere."""
    wrong = (y + rng.integers(1, len(NAMES), len(y))) % len(NAMES)
    return np.where(rng.random(len(y)) < right, y, wrong)


def test_differences_are_those_of_the_two_reports():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    a, b = _predictions(rng, y, 0.7), _predictions(rng, y, 0.5)
    diff = paired_difference(y, a, b)
    report_a = classification_report(y, np.eye(3)[a], NAMES)
    report_b = classification_report(y, np.eye(3)[b], NAMES)
    for key in ("accuracy", "balanced_accuracy"):
        assert diff[key]["difference"] == pytest.approx(report_a[key] - report_b[key])
        # unpaired: the two reports' own binomial errors combined
        assert diff[key]["unpaired_standard_error"] == pytest.approx(
            np.hypot(report_a["standard_errors"][key], report_b["standard_errors"][key]))
    assert diff["only_a_right"] - diff["only_b_right"] == np.sum(a == y) - np.sum(b == y)
    assert diff["n_samples"] == 300


def test_models_that_err_on_the_same_images_have_a_small_paired_error():
    """B is A with 10 of 400 images changed: their scores differ a little, and the pairs say it is real."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    a = _predictions(rng, y, 0.6)
    b = a.copy()
    flipped = np.flatnonzero(a == y)[:10]
    b[flipped] = (y[flipped] + 1) % 3
    diff = paired_difference(y, a, b)
    accuracy = diff["accuracy"]
    assert accuracy["difference"] == pytest.approx(10 / 400)
    assert accuracy["standard_error"] < accuracy["unpaired_standard_error"] / 4
    assert accuracy["difference"] > 3 * accuracy["standard_error"]
    assert diff["balanced_accuracy"]["standard_error"] < diff["balanced_accuracy"]["unpaired_standard_error"] / 4
    assert (diff["only_a_right"], diff["only_b_right"]) == (10, 0)
    assert describe_difference(accuracy) == f"+2.5% ± {100 * accuracy['standard_error']:.1f}%"


def test_the_paired_error_matches_the_spread_over_test_sets():
    """Over many test sets drawn alike, the differences spread as far as the paired error says."""
    rng = np.random.default_rng(2)
    differences, errors = [], []
    for _ in range(300):
        y = rng.integers(0, 3, 200)
        a = _predictions(rng, y, 0.7)
        b = np.where(rng.random(200) < 0.8, a, _predictions(rng, y, 0.6))  # mostly the same answers as A
        diff = paired_difference(y, a, b)["balanced_accuracy"]
        differences.append(diff["difference"])
        errors.append(diff["standard_error"])
    assert np.std(differences) == pytest.approx(np.mean(errors), rel=0.15)


def test_bad_input_is_named():
    with pytest.raises(DataError, match="3 predictions for 4 labels"):
        paired_difference([0, 1, 0, 1], [0, 1, 0], [0, 1, 0, 1])
    with pytest.raises(DataError, match="predicted_b must be a non-empty 1-D array of class indices"):
        paired_difference([0, 1], [0, 1], [[0.2, 0.8], [0.9, 0.1]])
