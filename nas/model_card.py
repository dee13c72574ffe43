"""The Markdown pieces of the web page's model card (:meth:`nas.serve.Predictor.model_card`): the test report's
figures, and how far the page's probabilities and its referral threshold can be trusted.

Everything here reads files a retrain wrote (``final/report.json``, ``final/calibration.json``: keys in
:mod:`nas.report` and :mod:`nas.calibration`) and names no path on the server: anyone who reaches the page reads it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .data import CLASS_FULL_NAMES

__all__ = ["display_name", "probability_lines", "read_json", "report_lines", "value_text"]


def display_name(class_name: str) -> str:
    """The readable name of a class, e.g. ``"Melanoma (mel)"``; unknown classes keep their own name."""
    return CLASS_FULL_NAMES.get(class_name, class_name)


def value_text(value: object) -> str:
    """A metric as the card prints it: floats to 3 decimals, integers with thousands separators, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable (the card then leaves its part out)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def report_lines(report: dict) -> list[str]:
    """Markdown lines for ``final/report.json`` (keys: see :mod:`nas.report`)."""
    lines = [f"- balanced accuracy **{value_text(report['balanced_accuracy'])}**, accuracy "
             f"{value_text(report['accuracy'])}, macro ROC AUC {value_text(report.get('roc_auc_macro'))}"]
    binary = report.get("benign_vs_malignant")
    if binary:
        lines.append(f"- malignant vs benign: sensitivity {value_text(binary['sensitivity'])}, specificity "
                     f"{value_text(binary['specificity'])}, ROC AUC {value_text(binary['roc_auc'])}")
    if report.get("melanoma_sensitivity") is not None:
        lines.append(f"- melanoma sensitivity {value_text(report['melanoma_sensitivity'])}")
    lines += ["", "| class | recall | precision | test images |", "|---|---|---|---|"]
    lines += [f"| {display_name(name)} | {value_text(row['recall'])} | {value_text(row['precision'])} | "
              f"{row['support']} |" for name, row in report["per_class"].items()]
    return lines


def probability_lines(calibration: dict | None, report: dict | None, views: Sequence[str]) -> list[str]:
    """Markdown lines saying whether the page's probabilities are calibrated (``final/calibration.json``), where its
    referral threshold stands with the sensitivity and specificity it gave on the test split (the ``calibration``
    block of ``report.json``), and which test-time views are averaged (``views``, the first being the photo)."""
    lines = ["", "### Probabilities and the referral threshold"]
    if calibration is None:
        lines.append("- **not calibrated**: the probabilities are the model's own (there is no "
                     "`final/calibration.json`; `nas retrain` fits a temperature on the validation split)")
    else:
        fitted = calibration.get("fitted_on") or {}
        tested = (report or {}).get("calibration") or {}
        lines.append(f"- **calibrated**: temperature scaling, T = {calibration['temperature']:.3f}, fitted on the "
                     f"{fitted.get('split', 'validation')} split ({fitted.get('n_images', '?')} images)"
                     + (f"; expected calibration error on the test split {value_text(tested.get('ece_before'))} "
                        f"before, {value_text(tested.get('ece_after'))} after" if tested else ""))
    point = (calibration or {}).get("operating_point")
    tested_point = ((report or {}).get("calibration") or {}).get("operating_point") or {}
    if point:
        lines.append(f"- referral threshold: P(malignant) at or above **{point['threshold']:.3f}** sends to a "
                     f"dermatologist; chosen on the validation split for a malignant sensitivity of at least "
                     f"{point['target_sensitivity']:.0%} (reached {value_text(point['sensitivity'])} there)"
                     + (f"; on the test split: sensitivity **{value_text(tested_point.get('sensitivity'))}**, "
                        f"specificity **{value_text(tested_point.get('specificity'))}**" if tested_point else ""))
    else:
        reasons = [note.removeprefix("no operating point: ") for note in (calibration or {}).get("notes", [])
                   if note.startswith("no operating point")]
        lines.append(f"- no referral threshold: {reasons[0] if reasons else 'it comes with the calibration'}; the "
                     f"advice uses only its fixed levels")
    floors = (calibration or {}).get("recall_floors") or {}
    tested_floors = ((report or {}).get("calibration") or {}).get("recall_floors") or {}
    for name, floor in floors.get("floors", {}).items():
        lines.append(f"- recall floor: {display_name(name)} is named more readily (log-probability offset "
                     f"{floors['offsets'][name]:.2f}) so as to find at least {floor:.0%} of them on the validation "
                     f"split" + (f"; on the test split: recall {value_text(tested_floors['recall_before'][name])} "
                                 f"without it, **{value_text(tested_floors['recall_after'][name])}** with it"
                                 if tested_floors else ""))
    if len(views) > 1:
        lines.append(f"- test-time augmentation: the probabilities are the mean over {len(views)} views "
                     f"({', '.join(views)}); the temperature was fitted on single views")
    return lines
