"""Tests of nas.decision: recall floors fitted on one split, on toy score distributions with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from nas.calibration import calibrate, calibration_report
from nas.decision import MAX_OFFSET, OFFSET_STEP, decide, fit_recall_floors, floor_report, parse_recall_floors
from nas.errors import ConfigError, DataError
from nas.training import balanced_accuracy

NAMES = ["nv", "mel", "bcc"]


def _toy(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; the model under-calls ``mel`` (its melanomas give mel only a bit less than nv)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 0.5, (n, 3))
    logits[np.arange(n), y] += 1.0
    logits[y == 1, 0] += 1.2  # melanomas look like nevi
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def _recall(y, predicted, c):
    return float(np.mean(predicted[y == c] == c))


def test_no_offset_is_the_arg_max_and_an_offset_only_ever_adds_that_class():
    y, p = _toy()
    assert (decide(p, NAMES, {}) == p.argmax(axis=1)).all()
    shifted = decide(p, NAMES, {"mel": 0.8})
    changed = shifted != p.argmax(axis=1)
    assert changed.any() and (shifted[changed] == 1).all()


def test_the_smallest_offset_reaching_the_floor_is_chosen():
    y, p = _toy()
    before = _recall(y, p.argmax(axis=1), 1)
    rule = fit_recall_floors(y, p, NAMES, {"mel": 0.75})
    offset = rule["offsets"]["mel"]
    assert before < 0.75 and offset > 0 and rule["notes"] == []
    assert _recall(y, decide(p, NAMES, {"mel": offset}), 1) == pytest.approx(rule["recall"]["mel"])
    assert rule["recall"]["mel"] >= 0.75
    assert _recall(y, decide(p, NAMES, {"mel": offset - OFFSET_STEP}), 1) < 0.75
    assert rule["balanced_accuracy_before"] == pytest.approx(balanced_accuracy(y, p.argmax(axis=1)))
    assert rule["balanced_accuracy_after"] == pytest.approx(balanced_accuracy(y, decide(p, NAMES, rule["offsets"])))
    # a floor the model already reaches needs no offset
    assert fit_recall_floors(y, p, NAMES, {"nv": 0.5})["offsets"] == {"nv": 0.0}


def test_a_rule_fitted_on_one_split_is_scored_on_another():
    y, p = _toy(0)
    y_test, p_test = _toy(1)
    rule = fit_recall_floors(y, p, NAMES, {"mel": 0.75})
    block = floor_report(y_test, p_test, NAMES, rule)
    after = decide(p_test, NAMES, rule["offsets"])
    assert block["recall_before"]["mel"] == pytest.approx(_recall(y_test, p_test.argmax(axis=1), 1))
    assert block["recall_after"]["mel"] == pytest.approx(_recall(y_test, after, 1))
    assert block["recall_after"]["mel"] > block["recall_before"]["mel"]
    assert block["validation_recall"] == rule["recall"] and block["offsets"] == rule["offsets"]
    assert block["balanced_accuracy_after"] == pytest.approx(balanced_accuracy(y_test, after))
    # the same rule through nas.calibration: fitted on calibrated probabilities, reported beside the temperature
    calibration = calibrate(y, p, NAMES, recall_floors={"mel": 0.75})
    fitted = calibration["recall_floors"]
    assert fitted["floors"] == {"mel": 0.75} and fitted["recall"]["mel"] >= 0.75
    assert "recall_floors" in calibration_report(y_test, p_test, calibration, NAMES)
    assert calibrate(y, p, NAMES)["recall_floors"] is None


def test_an_unreachable_floor_or_an_absent_class_is_said_not_hidden():
    y, p = _toy()
    p_never = p.copy()
    p_never[:, 1] = 1e-30  # the model never gives mel any probability: no offset up to the cap helps
    rule = fit_recall_floors(y, p_never, NAMES, {"mel": 0.5})
    assert rule["offsets"]["mel"] == MAX_OFFSET and "no offset up to" in rule["notes"][0]
    absent = fit_recall_floors(y[y != 2], p[y != 2], NAMES, {"bcc": 0.5})
    assert absent["offsets"] == {"bcc": 0.0} and absent["recall"] == {"bcc": None}
    assert "no bcc image" in absent["notes"][0]


def test_bad_floors_get_one_clear_error():
    assert parse_recall_floors("mel=0.6, bcc=0.5", NAMES) == {"mel": 0.6, "bcc": 0.5}
    assert parse_recall_floors(None, NAMES) == {} and parse_recall_floors({"mel": 1}, NAMES) == {"mel": 1.0}
    with pytest.raises(ConfigError, match="give CLASS=FRACTION pairs"):
        parse_recall_floors("mel:0.6", NAMES)
    with pytest.raises(ConfigError, match="the model's classes are nv, mel, bcc"):
        parse_recall_floors({"melanoma": 0.6}, NAMES)
    for bad in ("0", "1.2", "most", True):
        with pytest.raises(ConfigError, match="must be a fraction in"):
            parse_recall_floors({"mel": bad}, NAMES)
    with pytest.raises(DataError, match="one column per class"):
        decide(np.ones((3, 2)), NAMES, {})
