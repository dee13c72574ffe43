"""The clinical evaluation report: hand-computed small cases, the files it writes, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nas.data import LESION_CLASSES
from nas.errors import DataError
from nas.uncertainty import describe_difference, paired_difference
from nas.report import classification_report, evaluate_model, expected_calibration_error, write_report
from nas.training import balanced_accuracy

HAM = list(LESION_CLASSES)  # akiec, bcc, bkl, df, mel, nv, vasc


def _confident(predicted, k, confidence=0.8):
    """Probabilities with ``confidence`` on each predicted class and the rest spread evenly."""
    p = np.full((len(predicted), k), (1 - confidence) / (k - 1))
    p[np.arange(len(predicted)), predicted] = confidence
    return p


def test_perfect_predictions():
    y = np.repeat(np.arange(7), [3, 2, 4, 1, 5, 9, 2])
    report = classification_report(y, np.eye(7)[y], HAM)
    assert report["accuracy"] == report["balanced_accuracy"] == 1.0
    assert report["macro"] == report["weighted"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert report["confusion_matrix"] == np.diag([3, 2, 4, 1, 5, 9, 2]).tolist()
    assert report["roc_auc_macro"] == 1.0
    assert report["per_class"]["nv"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 9, "roc_auc": 1.0}
    binary = report["benign_vs_malignant"]
    assert binary["malignant_classes"] == ["akiec", "bcc", "mel"]
    assert (binary["sensitivity"], binary["specificity"], binary["roc_auc"]) == (1.0, 1.0, 1.0)
    assert (binary["malignant_support"], binary["benign_support"]) == (10, 16)
    assert report["melanoma_sensitivity"] == 1.0
    assert report["expected_calibration_error"] == 0.0
    assert report["absent_classes"] == report["never_predicted"] == report["notes"] == []


def test_predicting_nv_for_everything():
    y = np.repeat(np.arange(7), [1, 1, 2, 1, 2, 12, 1])  # 12 of 20 are nv, as HAM10000's 67%
    report = classification_report(y, _confident(np.full(20, 5), 7, 0.9), HAM)
    assert report["accuracy"] == pytest.approx(12 / 20)
    assert report["balanced_accuracy"] == pytest.approx(1 / 7)
    assert report["per_class"]["nv"]["precision"] == pytest.approx(12 / 20)
    assert report["per_class"]["nv"]["f1"] == pytest.approx(2 * 0.6 / 1.6)
    assert report["per_class"]["mel"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "roc_auc": 0.5}
    assert report["never_predicted"] == ["akiec", "bcc", "bkl", "df", "mel", "vasc"]
    assert report["macro"]["precision"] == pytest.approx(0.6 / 7)
    assert report["weighted"]["recall"] == pytest.approx(12 / 20)
    assert report["benign_vs_malignant"]["sensitivity"] == 0.0
    assert report["benign_vs_malignant"]["specificity"] == 1.0
    assert report["melanoma_sensitivity"] == 0.0
    assert report["expected_calibration_error"] == pytest.approx(0.9 - 0.6)
    assert report["confusion_matrix"][4] == [0, 0, 0, 0, 0, 2, 0]


def test_known_confusion_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    report = classification_report(y, _confident([0, 0, 1, 1, 2, 2], 3), ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    per_class = report["per_class"]
    assert [per_class[c]["precision"] for c in "abc"] == pytest.approx([1, 1 / 2, 1 / 2])
    assert [per_class[c]["recall"] for c in "abc"] == pytest.approx([2 / 3, 1 / 2, 1])
    assert [per_class[c]["f1"] for c in "abc"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert report["macro"]["recall"] == report["balanced_accuracy"] == pytest.approx(13 / 18)
    assert report["macro"]["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["weighted"]["precision"] == pytest.approx((3 * 1 + 2 * 0.5 + 1 * 0.5) / 6)
    # Class a: positives score .8, .8, .1 and negatives .1, .1, .1: 6 wins and 3 ties of 9 pairs.
    assert per_class["a"]["roc_auc"] == pytest.approx(7.5 / 9)
    assert report["benign_vs_malignant"] is None and report["melanoma_sensitivity"] is None


def test_averages_and_auc_match_scikit_learn_on_random_data():
    from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 300)
    p = rng.dirichlet(np.ones(7), 300)
    p[np.arange(300), y] += rng.random(300)  # some skill, so that the figures are not all near chance
    p /= p.sum(axis=1, keepdims=True)
    report = classification_report(y, p, HAM)
    for average in ("macro", "weighted"):
        expected = precision_recall_fscore_support(y, p.argmax(1), average=average, zero_division=0)[:3]
        assert [report[average][k] for k in ("precision", "recall", "f1")] == pytest.approx(expected)
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
    assert report["roc_auc_macro"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))


def test_expected_calibration_error_of_calibrated_and_overconfident_toys():
    # Confidence 0.8 with 8 of 10 right and 0.6 with 6 of 10 right: perfectly calibrated.
    y = np.array([0] * 8 + [1] * 2 + [0] * 6 + [1] * 4)
    p = np.array([[0.8, 0.2]] * 10 + [[0.6, 0.4]] * 10)
    assert classification_report(y, p, ["a", "b"])["expected_calibration_error"] == pytest.approx(0.0)
    # Confidence 0.9 and half right: off by 0.4.
    assert classification_report([0, 1] * 5, [[0.9, 0.1]] * 10, ["a", "b"])["expected_calibration_error"] \
        == pytest.approx(0.4)
    # Two bins, each weighted by its share: (3 * |1 - 0.95| + 1 * |0 - 0.55|) / 4.
    assert expected_calibration_error([1, 1, 1, 0], [0.95, 0.95, 0.95, 0.55]) == pytest.approx((0.15 + 0.55) / 4)
    assert expected_calibration_error([1], [1.0]) == 0.0


def test_benign_malignant_rollup_counts_a_melanoma_called_bcc_as_found():
    names = HAM
    index = {name: i for i, name in enumerate(names)}
    truth = ["mel", "mel", "mel", "bcc", "nv", "nv", "nv", "bkl"]
    called = ["mel", "bcc", "nv", "akiec", "nv", "mel", "nv", "bkl"]
    y = np.array([index[t] for t in truth])
    report = classification_report(y, _confident([index[c] for c in called], 7), names)
    binary = report["benign_vs_malignant"]
    assert binary["sensitivity"] == pytest.approx(3 / 4)  # mel->mel, mel->bcc, bcc->akiec are malignant calls
    assert binary["specificity"] == pytest.approx(3 / 4)  # nv->mel is a false alarm
    assert (binary["malignant_support"], binary["benign_support"]) == (4, 4)
    assert report["melanoma_sensitivity"] == pytest.approx(1 / 3)


def test_malignant_classes_can_be_named_for_other_data():
    report = classification_report([0, 1, 2], np.eye(3), ["benign", "suspicious", "cancer"])
    assert report["benign_vs_malignant"] is None
    report = classification_report([0, 1, 2, 2], _confident([0, 2, 2, 0], 3), ["benign", "suspicious", "cancer"],
                                   malignant=["suspicious", "cancer"])
    assert report["benign_vs_malignant"]["sensitivity"] == pytest.approx(2 / 3)
    assert report["benign_vs_malignant"]["specificity"] == 1.0
    with pytest.raises(DataError, match="'tumour'"):
        classification_report([0, 1], np.eye(2), ["a", "b"], malignant=["tumour"])


def test_classes_absent_from_the_labels_are_reported_not_averaged():
    y = np.array([0, 0, 1, 1, 2, 2, 4, 4, 5, 5])  # no df (3), no vasc (6)
    predicted = np.array([0, 1, 1, 1, 2, 6, 4, 4, 5, 5])  # one image called vasc
    report = classification_report(y, _confident(predicted, 7), HAM)
    assert report["absent_classes"] == ["df", "vasc"]
    assert report["per_class"]["df"] == {"precision": None, "recall": None, "f1": None, "support": 0,
                                         "roc_auc": None}
    assert report["per_class"]["vasc"]["precision"] == 0.0 and report["per_class"]["vasc"]["recall"] is None
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy(y, predicted)) == pytest.approx(0.8)
    assert report["macro"]["f1"] == pytest.approx(np.mean([2 / 3, 0.8, 2 / 3, 1, 1]))
    assert report["roc_auc_macro"] is not None
    assert any("df, vasc" in note for note in report["notes"])


@pytest.mark.parametrize("y, p, message", [
    ([0, 1], np.eye(3), "shape"),
    ([0, 3], np.eye(3)[:2], "class index 3"),
    ([0, 1], [[2.0, -1.0], [0.0, 1.0]], "softmax"),
    ([0, 1], [[0.5, np.nan], [0.0, 1.0]], "NaN"),
    ([], np.zeros((0, 2)), "non-empty"),
    ([0.5, 1], np.eye(2), "integer"),
])
def test_bad_input_is_a_clear_data_error(y, p, message):
    with pytest.raises(DataError, match=message):
        classification_report(y, p, ["a", "b"] if np.asarray(p).shape[-1] == 2 else ["a", "b", "c"])


def test_sampling_errors_by_hand_and_against_resampled_test_sets():
    y = np.array([0, 0, 0, 0, 1, 1])
    errors = classification_report(y, _confident([0, 0, 1, 1, 1, 1], 2), ["mel", "nv"])["standard_errors"]
    assert errors["accuracy"] == pytest.approx(np.sqrt((4 / 6) * (2 / 6) / 6))
    assert errors["balanced_accuracy"] == pytest.approx(np.sqrt(0.25 / 4 + 0) / 2)  # nv's recall of 1 adds nothing
    assert errors["melanoma_sensitivity"] == pytest.approx(np.sqrt(0.25 / 4))
    # A classifier with known recalls, scored on many test sets of HAM10000's test split's class counts: the spread
    # of its balanced accuracy is the error one report gives.
    rng = np.random.default_rng(0)
    support, recall = np.array([49, 82, 167, 20, 160, 995, 22]), np.array([.4, .6, .5, .3, .5, .85, .7])
    y = np.repeat(np.arange(7), support)
    scores, errors = [], []
    for _ in range(300):
        hit = rng.random(len(y)) < recall[y]
        predicted = np.where(hit, y, (y + 1) % 7)
        report = classification_report(y, _confident(predicted, 7), HAM)
        scores.append(report["balanced_accuracy"])
        errors.append(report["standard_errors"]["balanced_accuracy"])
    assert np.std(scores) == pytest.approx(np.mean(errors), rel=0.15)
    assert 0.02 < np.mean(errors) < 0.04


def test_write_report_files_and_comparison_table(tmp_path):
    y = np.repeat(np.arange(7), 4)
    rng = np.random.default_rng(1)
    rng_probabilities = rng.dirichlet(np.ones(7), len(y))
    report = classification_report(y, rng_probabilities, HAM)
    baseline = classification_report(y, np.eye(7)[y], HAM)
    baseline["versus_searched"] = paired_difference(y, report["predicted"], baseline["predicted"])
    paths = write_report(report, tmp_path / "final", baselines={"table1": baseline, "vgg16": report},
                         title="HAM10000 test")
    assert sorted(p.name for p in paths) == ["baselines.json", "confusion_matrix.png", "report.json", "report.md"]
    assert json.loads((tmp_path / "final/report.json").read_text()) == report
    assert json.loads((tmp_path / "final/baselines.json").read_text())["table1"] == baseline
    markdown = (tmp_path / "final/report.md").read_text()
    assert markdown.startswith("# HAM10000 test\n")
    versus = describe_difference(baseline["versus_searched"]["balanced_accuracy"])
    assert versus.startswith(f"{100 * (report['balanced_accuracy'] - 1):+.1f}% ± ")
    assert f"| Traditional CNN (Table 1) | 100.0% | 100.0% | 1.000 | 85.0% | {versus} |" in markdown
    assert report["predicted"] == np.argmax(rng_probabilities, axis=1).tolist()
    assert f"| Searched CNN (this run) | {100 * report['accuracy']:.1f}% |" in markdown
    assert "| Melanoma (mel) |" in markdown and "melanoma sensitivity" in markdown
    error = report["standard_errors"]["balanced_accuracy"]
    assert f"| balanced accuracy (mean recall) | {100 * report['balanced_accuracy']:.1f}% ± {100 * error:.1f}% |" \
        in markdown
    with Image.open(tmp_path / "final/confusion_matrix.png") as image:
        assert image.format == "PNG" and image.size[0] > 1.5 * image.size[1] > 450  # two panels side by side

    alone = write_report(report, tmp_path / "alone")
    assert sorted(p.name for p in alone) == ["confusion_matrix.png", "report.json", "report.md"]
    assert "Comparison" not in (tmp_path / "alone/report.md").read_text()


def test_evaluate_model_predicts_and_reports(tiny_data):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(tiny_data.input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(tiny_data.num_classes, activation="softmax")])
    report = evaluate_model(model, tiny_data.x_test, tiny_data.y_test, tiny_data.class_names)
    predicted = np.asarray(model(tiny_data.x_test)).argmax(axis=1)
    assert report["n_samples"] == len(tiny_data.y_test)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == tiny_data.y_test))
    assert np.trace(np.array(report["confusion_matrix"])) == np.sum(predicted == tiny_data.y_test)
    assert report["benign_vs_malignant"]["malignant_classes"] == ["akiec", "bcc", "mel"]


def test_a_subset_of_ham10000_classes_rolls_up_the_malignant_ones_it_has():
    y = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    report = classification_report(y, probabilities, ["mel", "nv"])
    binary = report["benign_vs_malignant"]
    assert binary["malignant_classes"] == ["mel"]
    assert binary["sensitivity"] == 0.5 and binary["specificity"] == pytest.approx(2 / 3)
    assert classification_report(y, probabilities, ["bkl", "nv"])["benign_vs_malignant"] is None
