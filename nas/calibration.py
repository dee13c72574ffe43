"""Temperature scaling (Guo et al. 2017): one number T, fitted on the validation split, that makes a classifier's
probabilities honest without changing any prediction's class.

A softmax model's probabilities ``p`` become ``softmax(log(p) / T)``: T > 1 softens an over-confident model, T < 1
sharpens an under-confident one, and the arg-max never moves. :func:`fit_temperature` picks the T that minimises the
negative log-likelihood of the validation labels; ``nas retrain`` stores it in ``final/calibration.json``
(:data:`CALIBRATION_FILE`), where ``nas evaluate`` and ``nas serve`` find it (:func:`read_calibration`).

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

import numpy as np
from numpy.typing import ArrayLike

from .errors import DataError

__all__ = ["CALIBRATION_FILE", "TEMPERATURE_RANGE", "apply_temperature", "fit_temperature", "negative_log_likelihood",
           "read_calibration"]

#: Where a retrained run keeps its calibration, relative to the run folder.
CALIBRATION_FILE = "final/calibration.json"
#: The temperatures :func:`fit_temperature` searches; a fit at either end says the model is degenerate.
TEMPERATURE_RANGE = (0.05, 20.0)
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
