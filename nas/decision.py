"""Recall floors: a decision rule, chosen on the validation split, that finds at least a given share of a class.

A classifier's diagnosis is the class of highest probability. A clinic may need more than that from one class: on
HAM10000 a model trained for balanced accuracy can find fewer than half of the melanomas while finding most nevi. A
recall floor ``{"mel": 0.6}`` adds an offset to that class's log-probability before the arg-max, the smallest offset
(on a grid of :data:`OFFSET_STEP`) with which the split it is fitted on (``nas retrain``: validation) reaches the floor.
The probabilities are left as they are; only which class is named changes, and only for images where the floored
class came close. :func:`fit_recall_floors` fits the offsets, :func:`decide` applies them, :func:`floor_report` scores
them on other images (the test report's ``recall_floors`` block). ``nas retrain --recall-floor mel=0.6`` stores the
rule in ``final/calibration.json`` beside the temperature (:mod:`nas.calibration`).

Example:
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1]])
    >>> rule = fit_recall_floors([1, 1, 1, 0], p, ["a", "b"], {"b": 0.6})
    >>> rule["offsets"], decide(p, ["a", "b"], rule["offsets"]).tolist()
    ({'b': 0.45}, [0, 1, 1, 0])
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import ConfigError, DataError
from .training import balanced_accuracy

__all__ = ["OFFSET_STEP", "MAX_OFFSET", "parse_recall_floors", "decide", "fit_recall_floors", "floor_report"]

#: The offsets tried, in log-probability: 0, 0.05, ... up to :data:`MAX_OFFSET` (a factor of e^5, about 148).
OFFSET_STEP = 0.05
MAX_OFFSET = 5.0
_FLOOR = 1e-12


def _pairs(text: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ConfigError(f"recall floors {text!r}: give CLASS=FRACTION pairs separated by commas, e.g. mel=0.6")
    return {name.strip(): value.strip() for name, value in pairs}


def parse_recall_floors(floors: str | Mapping[str, float] | None, class_names: Sequence[str]) -> dict[str, float]:
    """``"mel=0.6,bcc=0.5"`` or ``{"mel": 0.6}`` as a dict of class name to floor in (0, 1], checked against
    ``class_names``; None or "" gives {}. Raises one :class:`ConfigError` that says what to give."""
    if not floors:
        return {}
    given: Mapping[str, Any] = floors if not isinstance(floors, str) else _pairs(floors)
    parsed = {}
    for name, value in given.items():
        if name not in class_names:
            raise ConfigError(f"recall floor for {name!r}: the model's classes are {', '.join(map(str, class_names))}")
        try:
            fraction = float(value)
        except (TypeError, ValueError):
            fraction = float("nan")
        if isinstance(value, bool) or not 0 < fraction <= 1:
            raise ConfigError(f"recall floor for {name!r} must be a fraction in (0, 1], e.g. 0.6, got {value!r}")
        parsed[str(name)] = fraction
    return parsed


def _checked(probabilities: ArrayLike, class_names: Sequence[str]) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(class_names) or not np.all(np.isfinite(p)):
        raise DataError(f"probabilities must be a finite (n, {len(class_names)}) array, one column per class, got "
                        f"shape {p.shape}")
    return p


def decide(probabilities: ArrayLike, class_names: Sequence[str], offsets: Mapping[str, float]) -> np.ndarray:
    """The class index each row names under the rule: the arg-max of log(p) plus each class's offset (0 if none)."""
    scores = np.log(np.clip(_checked(probabilities, class_names), _FLOOR, None))
    for name, offset in offsets.items():
        scores[:, list(class_names).index(name)] += offset
    return scores.argmax(axis=1)


def _recalls(y: np.ndarray, predicted: np.ndarray, classes: Sequence[int]) -> dict[int, float | None]:
    return {c: float(np.mean(predicted[y == c] == c)) if np.any(y == c) else None for c in classes}


def fit_recall_floors(y: ArrayLike, probabilities: ArrayLike, class_names: Sequence[str],
                      floors: Mapping[str, float]) -> dict:
    """The smallest offset for each floored class, in the order given, with which these images reach its floor.

    A class whose floor no offset up to :data:`MAX_OFFSET` reaches keeps the largest one, and a note says so; a
    class with no image here gets offset 0 and a note.

    Returns:
        ``{"floors", "offsets", "recall" ({class: recall reached here}), "balanced_accuracy_before",
        "balanced_accuracy_after", "n_images", "notes"}``.
    """
    floors = parse_recall_floors(floors, class_names)
    p, labels = _checked(probabilities, class_names), np.asarray(y, dtype=np.int64)
    index = {name: list(class_names).index(name) for name in floors}
    offsets: dict[str, float] = {}
    notes = []
    for name, floor in floors.items():
        if not np.any(labels == index[name]):
            offsets[name] = 0.0
            notes.append(f"no {name} image to fit its recall floor on: offset 0")
            continue
        for offset in np.arange(0.0, MAX_OFFSET + OFFSET_STEP / 2, OFFSET_STEP):
            offsets[name] = round(float(offset), 4)
            if (_recalls(labels, decide(p, class_names, offsets), [index[name]])[index[name]] or 0.0) >= floor:
                break
        else:
            notes.append(f"{name}: no offset up to {MAX_OFFSET} reaches a recall of {floor}; kept {MAX_OFFSET}")
    predicted = decide(p, class_names, offsets)
    recalls = _recalls(labels, predicted, list(index.values()))
    return {"floors": floors, "offsets": offsets, "recall": {name: recalls[c] for name, c in index.items()},
            "balanced_accuracy_before": balanced_accuracy(labels, p.argmax(axis=1)),
            "balanced_accuracy_after": balanced_accuracy(labels, predicted), "n_images": len(labels), "notes": notes}


def floor_report(y: ArrayLike, probabilities: ArrayLike, class_names: Sequence[str], rule: Mapping) -> dict:
    """How a fitted rule (:func:`fit_recall_floors`'s dict) does on other images: ``{"floors", "offsets",
    "validation_recall", "balanced_accuracy_before", "balanced_accuracy_after", "recall_before", "recall_after"}``
    (recalls per floored class, None for a class with no image here)."""
    p, labels = _checked(probabilities, class_names), np.asarray(y, dtype=np.int64)
    index = {name: list(class_names).index(name) for name in rule["floors"]}
    before, after = p.argmax(axis=1), decide(p, class_names, rule["offsets"])
    recall_before, recall_after = (_recalls(labels, predicted, list(index.values())) for predicted in (before, after))
    return {"floors": dict(rule["floors"]), "offsets": dict(rule["offsets"]), "validation_recall": dict(rule["recall"]),
            "balanced_accuracy_before": balanced_accuracy(labels, before),
            "balanced_accuracy_after": balanced_accuracy(labels, after),
            "recall_before": {name: recall_before[c] for name, c in index.items()},
            "recall_after": {name: recall_after[c] for name, c in index.items()}}
