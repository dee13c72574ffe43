"""Temperature scaling (Guo et al. 2017): one number T, fitted on the validation split, that makes a classifier's
probabilities honest without changing any prediction's class.

A softmax model's probabilities ``p`` become ``softmax(log(p) / T)``: T > 1 softens an over-confident model, T < 1
sharpens an under-confident one, and the arg-max never moves. :func:`fit_temperature` picks the T that minimises the
negative log-likelihood of the validation labels; ``nas retrain`` stores it in ``final/calibration.json``
(:data:`CALIBRATION_FILE`), where ``nas evaluate`` and ``nas serve`` find it (:func:`read_calibration`).

It may also hold a recall floor, a decision rule that names a class more readily (:mod:`nas.decision`).

The same file holds the clinic's operating point: the highest threshold on the calibrated P(malignant) (the summed
probability of the malignant classes) that still finds the target share of the validation split's malignant lesions
(:func:`choose_threshold`, default :data:`DEFAULT_TARGET_SENSITIVITY`). :func:`calibrate` fits both on one split;
:func:`calibration_report` scores them on another (the test report's ``calibration`` block, which
:func:`nas.report.write_report` draws as ``reliability.png``).

Example:
    >>> import numpy as np
    >>> p = np.array([[0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.99, 0.01]])
    >>> t = fit_temperature(p, [0, 1, 0, 1])          # right half the time at 98% confidence: T is large
    >>> bool(t > 5), apply_temperature(p, t).argmax(axis=1).tolist()
    (True, [0, 0, 0, 0])
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .decision import decide, fit_recall_floors, floor_report
from .errors import ConfigError, DataError

__all__ = ["CALIBRATION_FILE", "DEFAULT_TARGET_SENSITIVITY", "TEMPERATURE_RANGE", "apply_temperature", "calibrate",
           "calibration_report", "choose_threshold", "fit_temperature", "negative_log_likelihood", "rates_at",
           "check_target_sensitivity", "decision_rule", "read_calibration"]

#: Where a retrained run keeps its calibration, relative to the run folder.
CALIBRATION_FILE = "final/calibration.json"
#: The temperatures :func:`fit_temperature` searches; a fit at either end says the model is degenerate.
TEMPERATURE_RANGE = (0.05, 20.0)
#: The malignant sensitivity the operating point is chosen for on the validation split (``--target-sensitivity``).
DEFAULT_TARGET_SENSITIVITY = 0.90
_FLOOR = 1e-12  # probabilities are clipped here before the log: a float32 softmax can round a class to 0


def _probabilities(probabilities: ArrayLike) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise DataError(f"probabilities must be an (n, k) array with k >= 2 classes, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise DataError("probabilities must be finite and non-negative")
    return p


def apply_temperature(probabilities: ArrayLike, temperature: float) -> np.ndarray:
    """``softmax(log(p) / temperature)`` row by row: the calibrated probabilities (the arg-max is unchanged)."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise DataError(f"temperature must be a positive number, got {temperature!r}")
    logits = np.log(np.clip(_probabilities(probabilities), _FLOOR, None)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: ArrayLike, y: ArrayLike) -> float:
    """The mean negative log-probability of the true classes."""
    p = _probabilities(probabilities)
    labels = np.asarray(y, dtype=np.int64)
    if labels.shape != (len(p),) or labels.min(initial=0) < 0 or labels.max(initial=0) >= p.shape[1]:
        raise DataError(f"labels must be {len(p)} class indices in [0, {p.shape[1]}), got shape {labels.shape}")
    return float(-np.mean(np.log(np.clip(p[np.arange(len(p)), labels], _FLOOR, None))))


def fit_temperature(probabilities: ArrayLike, y: ArrayLike) -> float:
    """The temperature in :data:`TEMPERATURE_RANGE` that minimises the negative log-likelihood of ``y``.

    The likelihood is a smooth function of log T, so a bounded one-dimensional search on log T finds it (scipy's
    Brent method, to 1e-4 in log T).
    """
    from scipy.optimize import minimize_scalar

    p = _probabilities(probabilities)
    if len(p) < 2:
        raise DataError("fitting a temperature needs at least 2 validation images")
    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(lambda log_t: negative_log_likelihood(apply_temperature(p, float(np.exp(log_t))), y),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def read_calibration(run_dir: str | os.PathLike) -> dict | None:
    """The calibration a retrain stored in ``RUN/final/calibration.json`` (None when there is none)."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        calibration = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path} is not readable JSON ({error}); run nas retrain again to rewrite it") from None
    temperature = calibration.get("temperature") if isinstance(calibration, dict) else None
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise DataError(f"{path} holds no positive temperature; run nas retrain again to rewrite it")
    return calibration


# -- the operating point -----------------------------------------------------------------------------------------------
def check_target_sensitivity(target_sensitivity: float) -> float:
    """``target_sensitivity`` as a float in (0, 1], else one :class:`ConfigError` saying what to give."""
    value = target_sensitivity
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < value <= 1:
        raise ConfigError(f"the target sensitivity must be a number in (0, 1], e.g. 0.9 to find 90% of the malignant "
                          f"lesions, got {value!r}")
    return float(value)


def _scored(scores: ArrayLike, is_positive: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(is_positive)
    if s.ndim != 1 or len(s) == 0 or positive.shape != s.shape:
        raise DataError(f"scores and is_positive must be two 1-D arrays of one non-zero length, got shapes {s.shape} "
                        f"and {positive.shape}")
    if not np.all(np.isfinite(s)):
        raise DataError("scores must be finite numbers")
    if positive.dtype != bool and not np.isin(positive, (0, 1)).all():
        raise DataError("is_positive must hold booleans (or 0 and 1)")
    return s, positive.astype(bool)


def rates_at(scores: ArrayLike, is_positive: ArrayLike, threshold: float) -> dict:
    """``sensitivity`` and ``specificity`` when a score at or above ``threshold`` counts as positive (None without
    positives, or without negatives), and ``n_positive``, ``n_negative``."""
    s, positive = _scored(scores, is_positive)
    called = s >= threshold
    return {"sensitivity": float(called[positive].mean()) if positive.any() else None,
            "specificity": float((~called[~positive]).mean()) if (~positive).any() else None,
            "n_positive": int(positive.sum()), "n_negative": int((~positive).sum())}


def choose_threshold(scores: ArrayLike, is_positive: ArrayLike,
                     target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY) -> dict:
    """The highest threshold on ``scores`` whose sensitivity is at least ``target_sensitivity``.

    A score at or above the threshold counts as positive. The threshold is the score of a positive, the
    ceil(target x positives)-th highest, so every image tied with it counts as positive and the sensitivity reached
    can exceed the target (ties, or a target between two multiples of 1/positives); a target of 1 gives the lowest
    positive score. A threshold any higher would miss the target.

    Returns:
        ``{"threshold", "target_sensitivity", "sensitivity", "specificity", "n_positive", "n_negative"}`` with the
        figures reached on these scores (``specificity`` None when there is no negative).

    Raises:
        ConfigError: the target is not in (0, 1].
        DataError: no positive at all (there is no sensitivity to aim for), or arrays that do not fit.

    Example:
        >>> point = choose_threshold([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 0, 0], 0.6)
        >>> point["threshold"], point["sensitivity"], point["specificity"]
        (0.8, 0.6666666666666666, 1.0)
    """
    target = check_target_sensitivity(target_sensitivity)
    s, positive = _scored(scores, is_positive)
    ranked = np.sort(s[positive])[::-1]
    if len(ranked) == 0:
        raise DataError("there is no positive example, so no sensitivity can be measured and no threshold chosen for "
                        "it; choose the threshold on data that holds positives")
    needed = max(1, int(np.ceil(target * len(ranked) - 1e-9)))  # 0.9 * 10 is 9.000000000000002 in floats
    threshold = float(ranked[needed - 1])
    return {"threshold": threshold, "target_sensitivity": target, **rates_at(s, positive, threshold)}


# -- calibration at retrain, and on a test split -----------------------------------------------------------------------
def _fit_figures(y: np.ndarray, p: np.ndarray, when: str) -> dict:
    from .report import expected_calibration_error

    return {f"nll_{when}": negative_log_likelihood(p, y),
            f"ece_{when}": expected_calibration_error(p.argmax(axis=1) == y, p.max(axis=1))}


def _operating_point(y: np.ndarray, calibrated: np.ndarray, class_names: Sequence[str],
                     malignant: Sequence[str] | None, target: float, split: str) -> tuple[dict | None, list[str]]:
    from .report import malignant_columns

    columns = malignant_columns(class_names, malignant)
    if columns is None:
        return None, ["no operating point: the classes are not HAM10000's (whose malignant ones are mel, bcc and "
                      "akiec) and no malignant classes were named, so there is no P(malignant) to set a threshold on"]
    names = [str(class_names[c]) for c in columns]
    positive = np.isin(y, columns)
    if not positive.any():
        return None, [f"no operating point: the {split} split has no malignant image ({', '.join(names)}) to measure "
                      f"a sensitivity on"]
    return {**choose_threshold(calibrated[:, columns].sum(axis=1), positive, target), "malignant_classes": names}, []


def calibrate(y: ArrayLike, probabilities: ArrayLike, class_names: Sequence[str], *,
              malignant: Sequence[str] | None = None, target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY,
              split: str = "validation", recall_floors: Mapping[str, float] | None = None) -> dict:
    """Fit the temperature and choose the operating point on one split (``nas retrain``: the validation split).

    The operating point is :func:`choose_threshold` on the calibrated P(malignant), the summed probability of the
    malignant classes (:func:`nas.report.malignant_columns`: ``malignant``, or mel, bcc and akiec for HAM10000's
    classes), for ``target_sensitivity``. ``recall_floors`` (``{class name: fraction}``, optional) fits a decision
    rule on the calibrated probabilities: :func:`nas.decision.fit_recall_floors`.

    Returns:
        What ``final/calibration.json`` holds: ``temperature``, ``fitted_on`` (``{"split", "n_images"}``),
        ``validation`` (``{"nll_before", "nll_after", "ece_before", "ece_after"}`` on that split),
        ``operating_point`` (:func:`choose_threshold`'s dict plus ``malignant_classes``, or None) and ``notes``
        (why there is no operating point), ``recall_floors`` (the fitted rule, or None).
    """
    target = check_target_sensitivity(target_sensitivity)
    p = _probabilities(probabilities)
    labels = np.asarray(y, dtype=np.int64)
    temperature = fit_temperature(p, labels)
    calibrated = apply_temperature(p, temperature)
    point, notes = _operating_point(labels, calibrated, class_names, malignant, target, split)
    if not TEMPERATURE_RANGE[0] * 1.01 < temperature < TEMPERATURE_RANGE[1] / 1.01:
        notes.insert(0, f"the temperature stopped at the end of its range {TEMPERATURE_RANGE}: on the {split} split "
                        f"the model's confidence tells little about whether it is right; check its training")
    floors = fit_recall_floors(labels, calibrated, class_names, recall_floors) if recall_floors else None
    return {"temperature": temperature, "fitted_on": {"split": split, "n_images": len(p)},
            "validation": {**_fit_figures(labels, p, "before"), **_fit_figures(labels, calibrated, "after")},
            "operating_point": point, "notes": notes + (floors["notes"] if floors else []), "recall_floors": floors}


def decision_rule(calibration: Mapping | None,
                  class_names: Sequence[str]) -> Callable[[ArrayLike], np.ndarray] | None:
    """The classes a calibration's recall floors name, as a function of the model's (uncalibrated) probabilities:
    the temperature, then the offsets, as ``nas serve`` decides. None without a rule (the arg-max decides)."""
    if not calibration or not calibration.get("recall_floors"):
        return None
    temperature, offsets = calibration["temperature"], dict(calibration["recall_floors"]["offsets"])
    return lambda probabilities: decide(apply_temperature(probabilities, temperature), class_names, offsets)


def calibration_report(y: ArrayLike, probabilities: ArrayLike, calibration: Mapping,
                       class_names: Sequence[str]) -> dict:
    """How a stored calibration (:func:`calibrate`'s or :func:`read_calibration`'s dict) does on other images (``nas
    retrain``: the test split): the ``calibration`` block of a report (:mod:`nas.report`).

    Returns:
        ``temperature``, ``fitted_on``, ``bins``, ``ece_before`` and ``ece_after``, ``nll_before`` and ``nll_after``
        (the model's probabilities, then temperature-scaled), ``reliability`` (``{"before", "after"}``, each
        :func:`nas.report.reliability_bins`), ``operating_point`` (``threshold``, ``target_sensitivity``,
        ``malignant_classes``, ``validation_sensitivity`` and ``validation_specificity`` where it was chosen, and
        :func:`rates_at` on these images; None without one), ``recall_floors`` (:func:`nas.decision.floor_report`
        on these images, when the calibration has a rule) and ``notes``.
    """
    from .report import CALIBRATION_BINS, malignant_columns, reliability_bins

    p = _probabilities(probabilities)
    labels = np.asarray(y, dtype=np.int64)
    calibrated = apply_temperature(p, calibration["temperature"])
    block: dict = {"temperature": calibration["temperature"], "fitted_on": calibration.get("fitted_on"),
                   "bins": CALIBRATION_BINS, **_fit_figures(labels, p, "before"),
                   **_fit_figures(labels, calibrated, "after"),
                   "reliability": {when: reliability_bins(q.argmax(axis=1) == labels, q.max(axis=1))
                                   for when, q in (("before", p), ("after", calibrated))}}
    notes = list(calibration.get("notes") or [])
    point = calibration.get("operating_point")
    if point:
        columns = malignant_columns(class_names, point["malignant_classes"])
        assert columns is not None  # the classes were malignant ones of these names when the point was chosen
        figures = rates_at(calibrated[:, columns].sum(axis=1), np.isin(labels, columns), point["threshold"])
        if figures["sensitivity"] is None:
            notes.append("no malignant image here: the operating point's sensitivity is undefined")
        point = {key: point[key] for key in ("threshold", "target_sensitivity", "malignant_classes")} | {
            "validation_sensitivity": point["sensitivity"], "validation_specificity": point["specificity"], **figures}
    floors = calibration.get("recall_floors")
    if floors:
        block["recall_floors"] = floor_report(labels, calibrated, class_names, floors)
    return block | {"operating_point": point or None, "notes": notes}
