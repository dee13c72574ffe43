"""The clinical evaluation report of a trained classifier: metrics, ``report.json``, ``report.md`` and the confusion
matrix.

:func:`classification_report` turns test labels and predicted probabilities into one JSON-able dict;
:func:`write_report` writes it (with an optional comparison against baselines, and ``reliability.png`` when the report
has a ``calibration`` block) to a folder, normally ``RUN/final/``;
:func:`evaluate_model` predicts and reports in one call.

Keys of the report dict (and of ``report.json``); every rate is a fraction in [0, 1], None where undefined:

* ``n_samples``, ``class_names``: how many test images, and the class of each column of ``confusion_matrix``.
* ``accuracy``, ``balanced_accuracy``: top-1 accuracy, and the mean recall over the classes present in the labels.
* ``macro``, ``weighted``: ``{"precision", "recall", "f1"}`` averaged over the classes present in the labels,
  unweighted (macro) or weighted by support.
* ``per_class``: ``{class name: {"precision", "recall", "f1", "support", "roc_auc"}}`` for every class.
* ``confusion_matrix``: counts, rows = true class, columns = predicted class, in ``class_names`` order.
* ``roc_auc_macro``: mean of the one-vs-rest ROC AUCs that are defined.
* ``benign_vs_malignant``: None unless malignant classes are known (HAM10000 class names: mel, bcc, akiec);
  else ``{"malignant_classes", "sensitivity", "specificity", "roc_auc", "malignant_support", "benign_support"}``. A
  prediction counts as malignant when its top-1 class is malignant; the AUC scores the summed malignant probability.
* ``melanoma_sensitivity``: recall of ``mel`` (None when there is no such class or no melanoma in the labels).
* ``expected_calibration_error``, ``calibration_bins``: ECE of the top-1 confidence over 15 equal-width bins.
* ``standard_errors``: ``{"accuracy", "balanced_accuracy", "melanoma_sensitivity"}``, how far each figure would move
  from one test set to another of the same size and class counts (:func:`nas.uncertainty.sampling_errors`).
* ``calibration`` (only when a temperature was fitted, as ``nas retrain`` does on the validation split): the same
  probabilities before and after temperature scaling (:func:`nas.calibration.calibration_report`), ``{"temperature",
  "fitted_on": {"split", "n_images"}, "bins", "ece_before", "ece_after", "nll_before", "nll_after", "reliability":
  {"before", "after"}, "operating_point", "notes"}``. ``reliability`` holds :func:`reliability_bins` (the data of
  ``reliability.png``); ``recall_floors`` (only with a rule: :func:`nas.decision.floor_report`); ``operating_point`` is
  None, or ``{"threshold", "target_sensitivity", "malignant_classes", "validation_sensitivity",
  "validation_specificity", "sensitivity", "specificity", "n_positive", "n_negative"}``: the threshold on the calibrated
  P(malignant) chosen on the validation split, and the sensitivity and specificity it gives on these images. The other
  keys score the model's own probabilities (temperature scaling moves no arg-max).
* ``robustness`` (only where asked: ``nas retrain``, ``nas evaluate``): balanced accuracy under camera-like shifts,
  :func:`nas.shifts.robustness`'s dict, with ``with_rule`` (the same figures for the classes the recall floors name)
  when the model has recall floors; ``report.md`` gets a table of it.
* ``predicted``: each image's top-1 class index. A baseline's report from ``nas retrain`` also has ``versus_searched``:
  the searched model's figures minus the baseline's, with paired errors (:func:`nas.uncertainty.paired_difference`).
* ``absent_classes``, ``never_predicted``: classes with no test image (their recall, F1 and AUC are None and they are
  left out of the averages), and classes the model never predicts (their precision is 0).
* ``notes``: plain-language remarks about the above, for the readable report.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .data import CLASS_FULL_NAMES, LESION_CLASSES, MALIGNANT
from .errors import DataError
from .uncertainty import describe_difference, sampling_errors
from .ranking import describe
from .runs import RunFolder

if TYPE_CHECKING:
    import keras

__all__ = ["CALIBRATION_BINS", "PAPER_ACCURACY", "classification_report", "expected_calibration_error",
           "malignant_columns", "reliability_bins", "sampling_errors", "write_report", "evaluate_model"]

CALIBRATION_BINS = 15
#: Accuracies the paper claims (its Table-1 network, VGG16, ResNet50, and its optimised CNN), quoted next to ours.
PAPER_ACCURACY = {"table1": 0.85, "vgg16": 0.88, "resnet50": 0.90, "searched": 0.93}
_LABELS = {"table1": "Traditional CNN (Table 1)", "vgg16": "VGG16", "resnet50": "ResNet50",
           "searched": "Searched CNN (this run)"}
# Row sums of softmax outputs drift from 1 in float16/int8 exports; anything further off is not a probability.
_SUM_TOLERANCE = 0.02


def _check(y_true, probabilities, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = [str(c) for c in class_names]
    k = len(names)
    if k < 2:
        raise DataError(f"a classification report needs at least 2 class names, got {names}")
    y = np.asarray(y_true)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.ndim != 1 or len(y) == 0:
        raise DataError(f"y_true must be a non-empty 1-D array of class indices, got shape {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise DataError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if p.shape != (len(y), k):
        raise DataError(f"probabilities must have shape (n_samples, n_classes) = ({len(y)}, {k}), got {p.shape}")
    if y.min() < 0 or y.max() >= k:
        raise DataError(f"y_true holds class index {int(y.min() if y.min() < 0 else y.max())}, outside 0..{k - 1} "
                        f"for {k} class names")
    if not np.all(np.isfinite(p)):
        raise DataError(f"probabilities hold {int((~np.isfinite(p)).sum())} NaN or infinite values")
    sums = p.sum(axis=1)
    if p.min() < -1e-6 or np.abs(sums - 1).max() > _SUM_TOLERANCE:
        raise DataError(f"probabilities must be softmax outputs (non-negative rows summing to 1), got values in "
                        f"[{p.min():.3g}, {p.max():.3g}] and row sums in [{sums.min():.3g}, {sums.max():.3g}]; "
                        f"pass the model's probabilities, not logits")
    return y, p, names


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _roc_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for the boolean ``positive``; None when only one of the two groups is present."""
    if positive.all() or not positive.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, score))


def reliability_bins(correct: ArrayLike, confidence: ArrayLike, bins: int = CALIBRATION_BINS) -> dict:
    """A reliability diagram's data: per equal-width confidence bin, closed on the right, (lo, hi], as in Guo et al.
    (2017), so a confidence of exactly 1 is in the last bin: ``count``, ``accuracy`` and mean ``confidence`` (both
    None for an empty bin)."""
    correct = np.asarray(correct, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    sums = {key: np.bincount(which, weights=values, minlength=bins)
            for key, values in (("accuracy", correct), ("confidence", confidence))}
    return {"count": count.tolist(), **{key: [float(total / n) if n else None for total, n in zip(values, count)]
                                        for key, values in sums.items()}}


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE: the sample-weighted mean gap between accuracy and mean confidence over the ``bins`` equal-width bins of
    :func:`reliability_bins`."""
    table = reliability_bins(correct, confidence, bins)
    gaps = [n * abs(accuracy - mean) for n, accuracy, mean in zip(table["count"], table["accuracy"],
                                                                  table["confidence"]) if n]
    return float(sum(gaps) / sum(table["count"]))


def malignant_columns(class_names: Sequence[str], malignant: Sequence[str] | None = None) -> list[int] | None:
    """The column indices of the malignant classes for the benign-vs-malignant roll-up, or None when there is none:
    ``malignant`` names them; None means mel, bcc and akiec when every class name is a HAM10000 one. A roll-up needs
    a benign class too."""
    names = [str(c) for c in class_names]
    chosen = _malignant_classes(names, malignant)
    return None if chosen is None else [names.index(name) for name in chosen]


def _malignant_classes(names: list[str], malignant: Sequence[str] | None) -> list[str] | None:
    if malignant is None:
        # Only HAM10000's own class names say which classes are malignant.
        if not set(names) <= set(LESION_CLASSES):
            return None
        malignant = [m for m in MALIGNANT if m in names]  # a subset of HAM10000's classes rolls up what it has
    unknown = sorted(set(malignant) - set(names))
    if unknown:
        raise DataError(f"malignant classes {unknown} are not among the class names {names}")
    chosen = [n for n in names if n in set(malignant)]
    return chosen if chosen and len(chosen) < len(names) else None


def _notes(absent: list[str], never: list[str], undefined_auc: bool) -> list[str]:
    """What a reader of the report must know about undefined or degenerate figures."""
    notes = []
    if absent:
        notes.append(f"no test image of {', '.join(absent)}: recall, F1 and ROC AUC of "
                     f"{'that class are' if len(absent) == 1 else 'those classes are'} undefined (null) and left out "
                     f"of the macro and weighted averages and of the balanced accuracy")
    if never:
        notes.append(f"never predicted: {', '.join(never)} (precision counted as 0)")
    if undefined_auc:
        notes.append("one-vs-rest ROC AUC is undefined for a class that every test image belongs to")
    return notes


def _benign_vs_malignant(y: np.ndarray, p: np.ndarray, predicted: np.ndarray, names: list[str],
                         malignant_names: list[str] | None) -> dict | None:
    """The benign-vs-malignant roll-up (None without malignant classes)."""
    if malignant_names is None:
        return None
    is_malignant = np.isin(np.arange(len(names)), [names.index(m) for m in malignant_names])
    truth, call = is_malignant[y], is_malignant[predicted]
    return {"malignant_classes": malignant_names,
            "sensitivity": _ratio(np.sum(truth & call), truth.sum()),
            "specificity": _ratio(np.sum(~truth & ~call), (~truth).sum()),
            "roc_auc": _roc_auc(truth, p[:, is_malignant].sum(axis=1)),
            "malignant_support": int(truth.sum()), "benign_support": int((~truth).sum())}


def classification_report(y_true: ArrayLike, probabilities: ArrayLike, class_names: Sequence[str], *,
                          malignant: Sequence[str] | None = None) -> dict:
    """Every figure of the clinical evaluation for one model on one test split (keys: see the module docstring).

    Args:
        y_true: (n,) true class indices.
        probabilities: (n, k) predicted class probabilities (softmax outputs), one column per class name.
        class_names: the k class names.
        malignant: the malignant classes for the benign-vs-malignant roll-up; None means mel, bcc and akiec when
            every class name is a HAM10000 one, and no roll-up otherwise.

    Example:
        >>> r = classification_report([0, 1, 1], [[.9, .1], [.2, .8], [.6, .4]], ["a", "b"])
        >>> r["accuracy"], r["per_class"]["b"]["recall"]
        (0.6666666666666666, 0.5)
    """
    y, p, names = _check(y_true, probabilities, class_names)
    k, n = len(names), len(y)
    predicted = p.argmax(axis=1)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y, predicted), 1)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    present = support > 0

    per_class = {}
    for c, name in enumerate(names):
        precision = _ratio(matrix[c, c], predicted_count[c])
        if precision is None and present[c]:
            precision = 0.0  # never predicted: none of its images found, as scikit-learn's zero_division=0
        recall = _ratio(matrix[c, c], support[c])
        per_class[name] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                           "support": int(support[c]), "roc_auc": _roc_auc(y == c, p[:, c])}

    def average(key: str, weights: np.ndarray) -> float:
        values = np.array([per_class[names[c]][key] for c in np.flatnonzero(present)], dtype=np.float64)
        return float(np.sum(values * weights[present]) / np.sum(weights[present]))

    macro = {key: average(key, np.ones(k)) for key in ("precision", "recall", "f1")}
    weighted = {key: average(key, support.astype(np.float64)) for key in ("precision", "recall", "f1")}
    aucs = [v["roc_auc"] for v in per_class.values() if v["roc_auc"] is not None]

    absent = [names[c] for c in range(k) if not present[c]]
    never = [names[c] for c in range(k) if present[c] and predicted_count[c] == 0]
    notes = _notes(absent, never, undefined_auc=len(aucs) < k - len(absent))
    binary = _benign_vs_malignant(y, p, predicted, names, _malignant_classes(names, malignant))

    confidence = p.max(axis=1)
    accuracy = float(np.mean(predicted == y))
    return {
        "n_samples": n,
        "class_names": names,
        "accuracy": accuracy,
        "balanced_accuracy": macro["recall"],
        "macro": macro,
        "weighted": weighted,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "roc_auc_macro": float(np.mean(aucs)) if aucs else None,
        "benign_vs_malignant": binary,
        "melanoma_sensitivity": per_class["mel"]["recall"] if "mel" in per_class else None,
        "expected_calibration_error": expected_calibration_error(predicted == y, confidence),
        "calibration_bins": CALIBRATION_BINS,
        "standard_errors": sampling_errors(accuracy, n, per_class),
        "predicted": predicted.tolist(),
        "absent_classes": absent,
        "never_predicted": never,
        "notes": notes,
    }


def evaluate_model(model: "keras.Model", x: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
                   malignant: Sequence[str] | None = None) -> dict:
    """Predict ``x`` with ``model`` in batches and return :func:`classification_report` of the result."""
    from .training import predict

    return classification_report(y, predict(model, np.asarray(x, dtype=np.float32)), class_names,
                                 malignant=malignant)


# -- writing -----------------------------------------------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _figure(report: Mapping, key: str) -> str:
    """'61.2% ± 2.6%': the figure and its sampling standard error, where the report has one (older reports do not)."""
    error = report.get("standard_errors", {}).get(key)
    return _percent(report[key]) + ("" if error is None else f" ± {_percent(error)}")


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def _markdown(report: Mapping, baselines: Mapping[str, Mapping] | None, title: str | None,
              proxy_correlation: Mapping | None = None) -> str:
    names = report["class_names"]
    binary = report.get("benign_vs_malignant")
    lines = [f"# {title or 'Evaluation report'}", "",
             f"Test split: {report['n_samples']} images, {len(names)} classes. Figures are fractions of the test "
             f"split; `report.json` holds them all. ± is one standard error of the test split's sampling (binomial "
             f"per class): models closer than about twice it cannot be told apart on this split.", "",
             "## Metrics", "", "| metric | value |", "|---|---|",
             f"| accuracy | {_figure(report, 'accuracy')} |",
             f"| balanced accuracy (mean recall) | {_figure(report, 'balanced_accuracy')} |"]
    for average in ("macro", "weighted"):
        values = report[average]
        lines.append(f"| {average} precision / recall / F1 | {_number(values['precision'])} / "
                     f"{_number(values['recall'])} / {_number(values['f1'])} |")
    lines.append(f"| one-vs-rest ROC AUC (macro) | {_number(report['roc_auc_macro'])} |")
    if binary is not None:
        lines += [f"| malignant sensitivity ({', '.join(binary['malignant_classes'])}) | "
                  f"{_percent(binary['sensitivity'])} |",
                  f"| benign specificity | {_percent(binary['specificity'])} |",
                  f"| benign-vs-malignant ROC AUC | {_number(binary['roc_auc'])} |"]
    if "mel" in names:
        lines.append(f"| melanoma sensitivity | {_figure(report, 'melanoma_sensitivity')} |")
    lines.append(f"| expected calibration error ({report['calibration_bins']} bins) | "
                 f"{_number(report['expected_calibration_error'])} |")

    lines += ["", "## Per class", "", "| class | precision | recall | F1 | ROC AUC | support |",
             "|---|---|---|---|---|---|"]
    for name in names:
        row = report["per_class"][name]
        lines.append(f"| {CLASS_FULL_NAMES.get(name, name)} | {_number(row['precision'])} | {_number(row['recall'])} "
                     f"| {_number(row['f1'])} | {_number(row['roc_auc'])} | {row['support']} |")

    lines += ["", "## Confusion matrix", "", "Rows: true class; columns: predicted class.", "",
              "| true \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "![confusion matrix](confusion_matrix.png)"]

    if baselines:
        lines += _comparison_lines(report, baselines)
    if report.get("calibration"):
        lines += _calibration_lines(report["calibration"])
    if report.get("robustness"):
        from .shifts import robustness_markdown

        lines += ["", robustness_markdown(report["robustness"]).rstrip("\n")]
    if proxy_correlation is not None:
        lines += ["", "## Search proxy", "", describe(proxy_correlation)]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def _comparison_lines(report: Mapping, baselines: Mapping[str, Mapping]) -> list[str]:
    """The comparison with the baselines in ``report.md``."""
    lines = ["", "## Comparison with the baselines", "",
             "Every model is scored on the same test split as the searched one. The paper's accuracies are "
             "quoted as published; its split is not known to keep a lesion's images together, which inflates "
             "accuracy. Last column: the searched model's balanced accuracy minus the model's, ± its error "
             "from the images' pairs (both models err on many of the same images).", "",
             "| model | accuracy | balanced accuracy | macro F1 | paper's accuracy | searched − model |",
             "|---|---|---|---|---|---|"]
    for name, row in [("searched", report), *baselines.items()]:
        paired = row.get("versus_searched")
        lines.append(f"| {_label(name)} | {_percent(row['accuracy'])} | {_percent(row['balanced_accuracy'])} | "
                     f"{_number(row['macro']['f1'])} | {_percent(PAPER_ACCURACY.get(name))} | "
                     f"{describe_difference(paired['balanced_accuracy']) if paired else '-'} |")
    return lines


def _calibration_lines(block: Mapping) -> list[str]:
    """The Calibration section of ``report.md`` for a report's ``calibration`` block."""
    fitted = block.get("fitted_on") or {}
    lines = ["", "## Calibration", "",
             f"Temperature scaling: the probabilities are divided in log space by T = {block['temperature']:.3f}, "
             f"fitted on the {fitted.get('split', 'validation')} split ({fitted.get('n_images', '?')} images); the "
             f"predicted classes do not change.", "", "| | before | after |", "|---|---|---|",
             f"| expected calibration error ({block['bins']} bins) | {_number(block['ece_before'])} | "
             f"{_number(block['ece_after'])} |",
             f"| negative log-likelihood | {_number(block['nll_before'])} | {_number(block['nll_after'])} |", "",
             "![reliability diagram](reliability.png)"]
    point = block.get("operating_point")
    if point:
        lines += ["", f"**Operating point**: P(malignant) ({', '.join(point['malignant_classes'])}, calibrated) at or "
                  f"above **{point['threshold']:.4f}** counts as malignant. Chosen on the validation split as the "
                  f"highest threshold reaching a malignant sensitivity of {_percent(point['target_sensitivity'])} "
                  f"(there: sensitivity {_percent(point['validation_sensitivity'])}, specificity "
                  f"{_percent(point['validation_specificity'])}). On this split: sensitivity "
                  f"**{_percent(point['sensitivity'])}**, specificity **{_percent(point['specificity'])}** "
                  f"({point['n_positive']} malignant, {point['n_negative']} benign images)."]
    if block.get("recall_floors"):
        lines += _floor_lines(block["recall_floors"])
    return lines + ([""] + [f"- {note}" for note in block["notes"]] if block.get("notes") else [])


def _floor_lines(floors: Mapping) -> list[str]:
    """The recall floors paragraph and table of ``report.md`` (:func:`nas.decision.floor_report`'s block)."""
    lines = ["", "**Recall floors**: before the arg-max, each class below gets an offset on its log-probability, the "
             "smallest that finds the floor's share of it on the validation split. The figures above are the plain "
             "arg-max's; with the rule, on this split:", "",
             "| class | floor | offset | validation recall | recall before | recall after |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {_percent(floor)} | {floors['offsets'][name]:.2f} | "
              f"{_percent(floors['validation_recall'][name])} | {_percent(floors['recall_before'][name])} | "
              f"{_percent(floors['recall_after'][name])} |" for name, floor in floors["floors"].items()]
    return lines + ["", f"Balanced accuracy: {_number(floors['balanced_accuracy_before'])} without the rule, "
                        f"**{_number(floors['balanced_accuracy_after'])}** with it."]


def _confusion_png(report: Mapping) -> bytes:
    from matplotlib.figure import Figure

    names = report["class_names"]
    counts = np.asarray(report["confusion_matrix"], dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 2.5 + 0.45 * len(names)
    figure = Figure(figsize=(2 * size + 1, size))
    for axis, values, top, title, text in zip(figure.subplots(1, 2), (counts, normalised), (counts.max() or 1, 1.0),
                                              ("counts", "row-normalised (recall on the diagonal)"),
                                              ("{:.0f}", "{:.2f}")):
        image = axis.imshow(values, cmap="Blues", vmin=0, vmax=top)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
        axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("predicted class")
        axis.set_ylabel("true class")
        axis.set_title(title)
        if len(names) <= 20:
            for (i, j), value in np.ndenumerate(values):
                axis.text(j, i, text.format(value), ha="center", va="center", fontsize=8,
                          color="white" if value > top / 2 else "black")
    figure.suptitle(f"Confusion matrix, {report['n_samples']} test images")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _reliability_png(block: Mapping) -> bytes:
    """A reliability diagram of a report's ``calibration`` block: accuracy against confidence per bin, before and
    after temperature scaling side by side, with the diagonal of perfect calibration and the ECE in each title."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.4))
    width = 1 / block["bins"]
    centres = (np.arange(block["bins"]) + 0.5) * width
    titles = {"before": f"before: ECE {block['ece_before']:.3f}",
              "after": f"after temperature scaling (T = {block['temperature']:.2f}): ECE {block['ece_after']:.3f}"}
    for axis, (when, title) in zip(figure.subplots(1, 2, sharey=True), titles.items()):
        table = block["reliability"][when]
        filled = np.array([n > 0 for n in table["count"]])
        accuracy = np.array([a or 0.0 for a in table["accuracy"]])
        confidence = np.array([c or 0.0 for c in table["confidence"]])
        axis.bar(centres[filled], accuracy[filled], width=width, edgecolor="black", color="tab:blue",
                 label="accuracy")
        axis.bar(centres[filled], (confidence - accuracy)[filled], bottom=accuracy[filled], width=width,
                 color="tab:red", alpha=0.3, edgecolor="tab:red", label="gap to mean confidence")
        axis.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1 probability)", title=title)
        axis.grid(alpha=0.3)
    figure.axes[0].set_ylabel("accuracy")
    figure.axes[0].legend(loc="upper left", fontsize=8)
    figure.suptitle(f"Reliability diagram, {sum(block['reliability']['before']['count'])} images, "
                    f"{block['bins']} bins")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def write_report(report: Mapping, out_dir: str | os.PathLike, baselines: Mapping[str, Mapping] | None = None,
                 title: str | None = None, proxy_correlation: Mapping | None = None) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``confusion_matrix.png`` to ``out_dir`` (normally ``RUN/final``), and
    ``reliability.png`` when the report has a ``calibration`` block.

    Args:
        report: a :func:`classification_report` dict.
        out_dir: the folder to write to (created if missing).
        baselines: name -> report dict of the baselines (``table1``, ``vgg16``, ``resnet50`` get the paper's labels and
            claimed accuracies); when given, they are written to ``baselines.json`` as well and ``report.md`` gets
            the comparison table.
        title: the heading of ``report.md``.
        proxy_correlation: a :func:`nas.ranking.proxy_rank_correlation` dict (``nas retrain`` passes the one of its
            top K); when given, ``report.md`` says in one line how far the search's ranking held after retraining.

    Returns the paths written. Each file is replaced atomically.
    """
    folder = RunFolder(out_dir)
    paths = [folder.write_json("report.json", dict(report))]
    if baselines:
        paths.append(folder.write_json("baselines.json", {name: dict(value) for name, value in baselines.items()}))
    paths.append(folder.write_bytes("report.md", _markdown(report, baselines, title, proxy_correlation).encode()))
    paths.append(folder.write_bytes("confusion_matrix.png", _confusion_png(report)))
    if report.get("calibration"):
        paths.append(folder.write_bytes("reliability.png", _reliability_png(report["calibration"])))
    return paths
