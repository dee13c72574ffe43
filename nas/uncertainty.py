"""How far a test split's figures would move on another test set: the sampling errors of one model's figures
(:func:`sampling_errors`, the ``standard_errors`` of :mod:`nas.report`) and the error of the difference between two
models scored on the same images (:func:`paired_difference`).

Two models tested on one split err on many of the same images, so the error of the difference of their scores is
smaller than their two sampling errors combined would say. :func:`paired_difference` measures it from the per-image
pairs: each image contributes +1 where only model A is right, -1 where only B is, 0 where both or neither are.
``nas retrain`` stores it in each baseline's report as ``versus_searched`` (the searched model as A, the baseline as
B, from the reports' ``predicted``), and ``report.md``'s comparison shows its balanced accuracy.

    >>> diff = paired_difference([0, 0, 1, 1], [0, 0, 1, 0], [0, 1, 1, 0])
    >>> diff["accuracy"]["difference"], diff["only_a_right"], diff["only_b_right"]
    (0.25, 1, 0)
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from numpy.typing import ArrayLike

from .errors import DataError

__all__ = ["sampling_errors", "paired_difference", "describe_difference"]


def sampling_errors(accuracy: float, n_samples: int, per_class: Mapping[str, Mapping]) -> dict:
    """The binomial standard errors of accuracy, balanced accuracy and melanoma recall on a test set of this size
    and these class counts: sqrt(a(1-a)/n) for accuracy, sqrt(sum of r(1-r)/n_c over the classes present) / (their
    number) for balanced accuracy, from each class's recall r and support n_c.

    Images are treated as independent; several images of one lesion are not, so the true error is somewhat larger.
    A recall of 0 or 1 gives an error of 0 (the normal approximation says nothing there). On HAM10000's
    lesion-grouped test split (about 1,500 images, 20 of them dermatofibroma) balanced accuracy's error is about
    0.026: two models closer than about twice that cannot be told apart on it.

        >>> round(sampling_errors(0.5, 100, {"a": {"recall": 0.5, "support": 100}})["accuracy"], 3)
        0.05
    """
    present = [(row["recall"], row["support"]) for row in per_class.values() if row["support"]]
    mel = per_class.get("mel")
    return {"accuracy": float(np.sqrt(accuracy * (1 - accuracy) / n_samples)),
            "balanced_accuracy": float(np.sqrt(sum(r * (1 - r) / n for r, n in present)) / len(present)),
            "melanoma_sensitivity": float(np.sqrt(mel["recall"] * (1 - mel["recall"]) / mel["support"]))
            if mel and mel["support"] else None}


def _indices(values: ArrayLike, what: str, n: int | None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0 or array.dtype.kind not in "iu":
        raise DataError(f"{what} must be a non-empty 1-D array of class indices, got shape {array.shape} and dtype "
                        f"{array.dtype}")
    if n is not None and len(array) != n:
        raise DataError(f"{what} has {len(array)} predictions for {n} labels: pair predictions of the same images")
    return array


def paired_difference(y_true: ArrayLike, predicted_a: ArrayLike, predicted_b: ArrayLike) -> dict:
    """Accuracy and balanced accuracy of model A minus those of model B on the same images, each with its paired
    standard error and the unpaired one (the two binomial errors combined), for comparison.

    Balanced accuracy's difference is the mean over the classes present of the difference of recalls; its error
    is sqrt(sum of var_c / n_c) / (number of classes), var_c the variance of the per-image differences of class c.
    Variances divide by n, as the binomial errors of :func:`sampling_errors` do; images are treated as
    independent (several images of one lesion are not, so the true error is somewhat larger).

    Returns ``{"n_samples", "only_a_right", "only_b_right", "accuracy": {"difference", "standard_error",
    "unpaired_standard_error"}, "balanced_accuracy": {...}}``.
    """
    y = _indices(y_true, "y_true", None)
    a = _indices(predicted_a, "predicted_a", len(y)) == y
    b = _indices(predicted_b, "predicted_b", len(y)) == y
    d = a.astype(np.float64) - b.astype(np.float64)

    def unpaired(x: np.ndarray) -> float:
        return float(x.mean() * (1 - x.mean()) / len(x))

    classes = np.unique(y)
    groups = [y == c for c in classes]
    balanced = {"difference": float(np.mean([d[g].mean() for g in groups])),
                "standard_error": math.sqrt(sum(d[g].var() / g.sum() for g in groups)) / len(groups),
                "unpaired_standard_error": math.sqrt(sum(unpaired(a[g]) + unpaired(b[g]) for g in groups))
                / len(groups)}
    return {"n_samples": len(y), "only_a_right": int(np.sum(d > 0)), "only_b_right": int(np.sum(d < 0)),
            "accuracy": {"difference": float(d.mean()), "standard_error": math.sqrt(d.var() / len(d)),
                         "unpaired_standard_error": math.sqrt(unpaired(a) + unpaired(b))},
            "balanced_accuracy": balanced}


def describe_difference(figure: dict) -> str:
    """'+3.1% ± 1.2%' for one figure of :func:`paired_difference` (the difference and its paired error)."""
    return f"{100 * figure['difference']:+.1f}% ± {100 * figure['standard_error']:.1f}%"
