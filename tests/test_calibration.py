"""Calibration and the clinic's operating point (nas.calibration): temperature scaling lowers the calibration error of
over-confident models (one by construction, one a real Keras model trained to overfit) without moving any prediction;
the threshold search on known score distributions; ``nas retrain`` writes calibration.json and the report's figures;
the web page's Predictor applies the temperature and refers at the threshold."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

import nas
from nas import cli, serve
from nas.calibration import (CALIBRATION_FILE, apply_temperature, calibrate, calibration_report, choose_threshold,
                             decision_rule, fit_temperature, rates_at, read_calibration)
from nas.decision import decide, fit_recall_floors
from nas.errors import ConfigError, DataError
from nas.images import read_image
from nas.report import classification_report, expected_calibration_error, malignant_columns, write_report
from nas.retrain import retrain
from nas.shifts import shift, shift_names
from nas.training import balanced_accuracy, predict

HAM = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")


def _ece(probabilities: np.ndarray, y: np.ndarray) -> float:
    return expected_calibration_error(probabilities.argmax(axis=1) == y, probabilities.max(axis=1))


# -- temperature scaling -----------------------------------------------------------------------------------------------
def test_temperature_undoes_sharpening_by_construction():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, size=(4000, 5))
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in honest])  # labels drawn from the probabilities: calibrated
    sharpened = apply_temperature(honest, 1 / 3)  # the same model, three times as sure of itself
    temperature = fit_temperature(sharpened[:2000], y[:2000])
    assert temperature == pytest.approx(3, rel=0.1)
    calibrated = apply_temperature(sharpened[2000:], temperature)
    assert _ece(calibrated, y[2000:]) <= _ece(sharpened[2000:], y[2000:]) / 2
    assert np.array_equal(calibrated.argmax(axis=1), sharpened[2000:].argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1)


def test_temperature_scaling_halves_the_ece_of_an_overfitted_keras_model():
    import keras

    data = nas.data.digits(seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    model.fit(data.x_train[:50], data.y_train[:50], epochs=100, batch_size=50, verbose=0)  # 50 images: overfits
    calibration = calibrate(data.y_val, predict(model, data.x_val), data.class_names)
    assert calibration["temperature"] > 1.2  # over-confident: the probabilities are softened
    validation = calibration["validation"]
    assert validation["nll_after"] < validation["nll_before"] and validation["ece_after"] < validation["ece_before"]
    test = predict(model, data.x_test)
    block = calibration_report(data.y_test, test, calibration, data.class_names)
    assert block["ece_before"] == pytest.approx(_ece(test, data.y_test))
    assert block["ece_after"] <= block["ece_before"] / 2 and block["nll_after"] < block["nll_before"]
    assert np.array_equal(apply_temperature(test, calibration["temperature"]).argmax(axis=1), test.argmax(axis=1))
    assert sum(block["reliability"]["after"]["count"]) == len(data.y_test)
    assert len(block["reliability"]["before"]["accuracy"]) == block["bins"] == 15
    # digits have no malignant classes: no operating point, and the report says why
    assert calibration["operating_point"] is None and block["operating_point"] is None
    assert any("no operating point: the classes are not HAM10000's" in note for note in calibration["notes"])


# -- the operating point -----------------------------------------------------------------------------------------------
POSITIVE = [0.95, 0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
NEGATIVE = [0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.1, 0.05]


@pytest.mark.parametrize("target, threshold, sensitivity, specificity", [
    (0.9, 0.3, 0.9, 0.4),      # the 9th highest positive score; 4 of 10 negatives below it
    (0.5, 0.7, 0.5, 0.8),
    (0.35, 0.8, 0.4, 0.9),     # 3.5 positives round up to 4; the 4th ties with the 3rd, so 0.4 is reached
    (0.3, 0.8, 0.4, 0.9),      # 3 positives would do, but the tie at 0.8 takes a 4th along
    (1.0, 0.2, 1.0, 0.3),      # every positive: the lowest positive score
    (0.05, 0.95, 0.1, 1.0),    # at least one positive is always needed
])
def test_threshold_on_a_known_score_distribution(target, threshold, sensitivity, specificity):
    scores = np.array(POSITIVE + NEGATIVE)
    positive = np.array([True] * 10 + [False] * 10)
    order = np.random.default_rng(1).permutation(20)  # the order of the images does not matter
    point = choose_threshold(scores[order], positive[order], target)
    assert point == {"threshold": threshold, "target_sensitivity": target, "sensitivity": sensitivity,
                     "specificity": specificity, "n_positive": 10, "n_negative": 10}


def test_threshold_is_the_highest_that_reaches_the_target():
    rng = np.random.default_rng(2)
    for _ in range(20):
        scores = np.round(rng.random(60), 1)  # rounded: many ties
        positive = rng.random(60) < 0.3
        positive[0] = True
        target = float(rng.uniform(0.05, 1))
        point = choose_threshold(scores, positive, target)
        reaching = [t for t in np.unique(scores) if rates_at(scores, positive, t)["sensitivity"] >= target]
        assert point["threshold"] == max(reaching) and point["sensitivity"] >= target
        assert point == {**rates_at(scores, positive, point["threshold"]), "threshold": point["threshold"],
                         "target_sensitivity": target}


def test_threshold_ties_with_negatives_and_degenerate_inputs():
    point = choose_threshold([0.5, 0.5, 0.2], [1, 0, 0], 1.0)
    assert point["threshold"] == 0.5 and point["specificity"] == 0.5  # a negative tied with it is called positive
    assert choose_threshold([0.4, 0.3], [True, True], 0.5)["specificity"] is None  # no negatives
    assert choose_threshold([0.4], [True], 0.9)["threshold"] == 0.4
    with pytest.raises(DataError, match="no positive example"):
        choose_threshold([0.1, 0.2], [False, False])
    for target in (0, 1.5, -0.1, float("nan"), True, "0.9", None):
        with pytest.raises(ConfigError, match=r"target sensitivity must be a number in \(0, 1\]"):
            choose_threshold([0.1, 0.2], [1, 0], target)
    with pytest.raises(DataError, match="same|one non-zero length"):
        choose_threshold([0.1, 0.2], [1, 0, 1])
    with pytest.raises(DataError, match="finite"):
        choose_threshold([0.1, float("nan")], [1, 0])
    with pytest.raises(DataError, match="booleans"):
        choose_threshold([0.1, 0.2], [2, 0])


def test_operating_point_is_chosen_on_calibrated_malignant_probability():
    rng = np.random.default_rng(3)
    y = np.tile(np.arange(7), 30)
    guess = np.where(rng.random(len(y)) < 0.6, y, rng.integers(0, 7, len(y)))  # right about two times in three
    probabilities = rng.dirichlet(np.ones(7), size=len(y)) * 0.5 + np.eye(7)[guess] * 0.5
    calibration = calibrate(y, probabilities, HAM, target_sensitivity=0.8)
    point = calibration["operating_point"]
    columns = malignant_columns(HAM)
    assert point["malignant_classes"] == ["akiec", "bcc", "mel"] and columns == [0, 1, 4]
    scores = apply_temperature(probabilities, calibration["temperature"])[:, columns].sum(axis=1)
    assert point == {**choose_threshold(scores, np.isin(y, columns), 0.8), "malignant_classes": ["akiec", "bcc", "mel"]}
    assert calibration["fitted_on"] == {"split": "validation", "n_images": len(y)} and calibration["notes"] == []
    # reported on other images: the threshold's own sensitivity and specificity there
    block = calibration_report(y[::-1], probabilities[::-1], calibration, HAM)
    assert block["operating_point"]["sensitivity"] == pytest.approx(rates_at(scores, np.isin(y, columns),
                                                                             point["threshold"])["sensitivity"])
    assert block["operating_point"]["validation_sensitivity"] == point["sensitivity"]
    # no malignant image where it is chosen: none, with a note that says so
    benign = np.isin(y, [2, 3, 5, 6])
    calibration = calibrate(y[benign], probabilities[benign], HAM)
    assert calibration["operating_point"] is None
    assert "the validation split has no malignant image" in calibration["notes"][-1]


def test_report_with_a_calibration_block(tmp_path):
    rng = np.random.default_rng(4)
    y = np.tile(np.arange(7), 20)
    sure = apply_temperature(rng.dirichlet(np.ones(7), size=len(y)) * 0.4 + np.eye(7)[y] * 0.6, 0.3)
    calibration = calibrate(y[::2], sure[::2], HAM)
    report = classification_report(y[1::2], sure[1::2], HAM)
    report["calibration"] = calibration_report(y[1::2], sure[1::2], calibration, HAM)
    paths = write_report(report, tmp_path)
    assert tmp_path / "reliability.png" in paths and (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "report.json").read_text())["calibration"]
    assert saved["ece_before"] == report["expected_calibration_error"] and saved["bins"] == 15
    text = (tmp_path / "report.md").read_text()
    point = saved["operating_point"]
    assert "## Calibration" in text and f"T = {calibration['temperature']:.3f}" in text
    assert f"**{point['threshold']:.4f}**" in text and f"sensitivity **{100 * point['sensitivity']:.1f}%**" in text
    assert f"specificity **{100 * point['specificity']:.1f}%**" in text
    assert "![reliability diagram](reliability.png)" in text


# -- retrain and the web page ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """A tiny searched run retrained by ``nas retrain --target-sensitivity 0.8 --recall-floor mel=0.7``, and what the
    command printed."""
    run = nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=2, generations=1,
                     executor="inline", run_dir=tmp_path_factory.mktemp("calibration") / "run", seed=0,
                     verbose=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["retrain", str(run.path), "--epochs", "1", "--quiet",
                           "--target-sensitivity", "0.8", "--recall-floor", "mel=0.7"])
    assert status == 0
    return nas.load_run(run.path), out.getvalue()


def test_retrain_writes_the_calibration_and_the_reports_figures(retrained):
    run, printed = retrained
    final = run.path / "final"
    calibration = read_calibration(run.path)
    assert calibration == json.loads((run.path / CALIBRATION_FILE).read_text())
    data = run.dataset()
    model = run.model()
    validation = predict(model, data.x_val)
    assert calibration["temperature"] == pytest.approx(fit_temperature(validation, data.y_val), rel=1e-3)
    assert calibration["fitted_on"] == {"split": "validation", "n_images": len(data.y_val)}
    columns = malignant_columns(data.class_names)
    point = calibration["operating_point"]
    assert point["target_sensitivity"] == 0.8 and point["sensitivity"] >= 0.8
    scores = apply_temperature(validation, calibration["temperature"])[:, columns].sum(axis=1)
    assert point["threshold"] == pytest.approx(choose_threshold(scores, np.isin(data.y_val, columns), 0.8)["threshold"])

    block = json.loads((final / "report.json").read_text())["calibration"]
    test = predict(model, data.x_test)
    assert block["ece_before"] == pytest.approx(_ece(test, data.y_test))
    assert block["ece_after"] == pytest.approx(_ece(apply_temperature(test, calibration["temperature"]), data.y_test))
    expected = rates_at(apply_temperature(test, calibration["temperature"])[:, columns].sum(axis=1),
                        np.isin(data.y_test, columns), point["threshold"])
    assert {k: block["operating_point"][k] for k in expected} == pytest.approx(expected)
    assert (final / "reliability.png").stat().st_size > 0
    text = (final / "report.md").read_text()
    assert "## Calibration" in text and f"**{point['threshold']:.4f}**" in text
    assert f"calibration: temperature {calibration['temperature']:.3f}" in printed
    assert f"operating point: P(malignant) >= {point['threshold']:.4f}" in printed
    report = json.loads((final / "report.json").read_text())
    assert (f"balanced accuracy {report['balanced_accuracy']:.4f} ± "
            f"{report['standard_errors']['balanced_accuracy']:.4f}") in printed


def test_retrain_fits_the_recall_floor_on_validation_and_scores_it_on_test(retrained):
    run, printed = retrained
    data, model = run.dataset(), run.model()
    calibration = read_calibration(run.path)
    rule = calibration["recall_floors"]
    validation = apply_temperature(predict(model, data.x_val), calibration["temperature"])
    assert rule == fit_recall_floors(data.y_val, validation, data.class_names, {"mel": 0.7})
    mel = list(data.class_names).index("mel")
    reached = np.mean(decide(validation, data.class_names, rule["offsets"])[data.y_val == mel] == mel)
    assert rule["recall"]["mel"] == pytest.approx(reached) and (reached >= 0.7 or rule["notes"])
    block = json.loads((run.path / "final" / "report.json").read_text())["calibration"]["recall_floors"]
    test = apply_temperature(predict(model, data.x_test), calibration["temperature"])
    after = decide(test, data.class_names, rule["offsets"])
    assert block["recall_after"]["mel"] == pytest.approx(np.mean(after[data.y_test == mel] == mel))
    assert block["balanced_accuracy_after"] == pytest.approx(balanced_accuracy(data.y_test, after))
    assert block["recall_before"]["mel"] == pytest.approx(np.mean(test.argmax(axis=1)[data.y_test == mel] == mel))
    assert "**Recall floors**" in (run.path / "final" / "report.md").read_text()
    assert f"recall floors (fitted on validation): mel >= 0.7 (log offset {rule['offsets']['mel']})" in printed


def test_retrain_reports_the_final_model_under_camera_like_shifts(retrained):
    run, printed = retrained
    data = run.dataset()
    shifted = json.loads((run.path / "final" / "report.json").read_text())["robustness"]
    assert set(shifted["shifts"]) == set(shift_names())
    model = run.model()
    blurred = predict(model, shift(data.x_test, "blur", "strong")).argmax(axis=1)
    assert shifted["shifts"]["blur"]["strong"]["accuracy"] == pytest.approx(np.mean(blurred == data.y_test))
    assert shifted["clean"]["accuracy"] == pytest.approx(np.mean(predict(model, data.x_test).argmax(axis=1)
                                                                 == data.y_test))
    assert "## Robustness to camera-like shifts" in (run.path / "final" / "report.md").read_text()
    assert f"mean balanced accuracy {shifted['mean_shifted_balanced_accuracy']:.4f}" in printed
    calibration = read_calibration(run.path)  # the run's recall floor decides, as nas serve does, under every shift
    ruled = decide(apply_temperature(predict(model, shift(data.x_test, "blur", "strong")), calibration["temperature"]),
                   data.class_names, calibration["recall_floors"]["offsets"])
    assert shifted["with_rule"]["shifts"]["blur"]["strong"]["balanced_accuracy"] == pytest.approx(
        balanced_accuracy(data.y_test, ruled))
    assert "with the recall floors" in (run.path / "final" / "report.md").read_text()


def test_the_decision_rule_applies_the_temperature_then_the_offsets_and_is_none_without_floors():
    names = ["nv", "mel"]
    p = np.array([[0.6, 0.4], [0.9, 0.1], [0.55, 0.45]])
    assert decision_rule(None, names) is None
    assert decision_rule({"temperature": 2.0, "recall_floors": None}, names) is None
    rule = decision_rule({"temperature": 0.5, "recall_floors": {"offsets": {"mel": 0.5}}}, names)
    # temperature 0.5 squares the odds (0.4/0.6 -> 0.44, 0.1/0.9 -> 0.012, 0.45/0.55 -> 0.67); exp(0.5) = 1.65 lifts
    # mel above nv where the squared odds exceed 1/1.65 = 0.61: the third row only
    assert rule(p).tolist() == [0, 0, 1]


def test_a_bad_target_sensitivity_stops_retrain_before_training(retrained, capsys):
    run, _ = retrained
    assert cli.main(["retrain", str(run.path), "--target-sensitivity", "1.5"]) == 2
    assert "the target sensitivity must be a number in (0, 1]" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="target sensitivity"):
        retrain(run.path, target_sensitivity=0)
    assert cli.main(["retrain", str(run.path), "--recall-floor", "melanoma=0.6"]) == 2
    assert "recall floor for 'melanoma': the model's classes are akiec, bcc" in capsys.readouterr().err


def test_the_page_shows_calibrated_probabilities_and_refers_at_the_threshold(retrained, tmp_path):
    run, _ = retrained
    calibration = read_calibration(run.path)
    predictor = serve.Predictor.from_run(run.path)
    assert predictor.temperature == calibration["temperature"]
    assert predictor.threshold == calibration["operating_point"]["threshold"]
    image = run.dataset().x_test[0]
    path = tmp_path / "lesion.png"
    from PIL import Image

    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    result = predictor.predict(path)
    raw = np.asarray(predictor.model(read_image(path, size=(16, 16))[None], training=False), dtype=np.float64)
    expected = apply_temperature(raw / raw.sum(), calibration["temperature"])[0]
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-6)
    assert result["calibrated"] and result["threshold"] == predictor.threshold
    malignant = result["malignant_probability"]
    assert result["level"] == serve.advise(result["probability"], malignant, predictor.threshold)

    # a threshold just below this image's P(malignant) refers it; just above, it does not
    for threshold, referred in ((malignant - 0.01, True), (malignant + 0.01, False)):
        moved = {**calibration, "operating_point": {**calibration["operating_point"], "threshold": threshold}}
        level = serve.Predictor(predictor.model, predictor.class_names, calibration=moved).predict(path)["level"]
        assert (level in ("refer", "malignant")) == (referred or malignant >= serve.MALIGNANT_LIKELY)

    card = predictor.model_card()
    assert f"log-probability offset {calibration['recall_floors']['offsets']['mel']:.2f}" in card
    assert f"**calibrated**: temperature scaling, T = {calibration['temperature']:.3f}" in card
    assert f"P(malignant) at or above **{predictor.threshold:.3f}**" in card
    assert "on the test split: sensitivity" in card


def test_the_page_names_the_class_the_recall_floor_chooses(retrained, tmp_path):
    run, _ = retrained
    calibration = read_calibration(run.path)
    predictor = serve.Predictor.from_run(run.path)
    assert predictor.offsets == calibration["recall_floors"]["offsets"]
    names = list(predictor.class_names)
    path = tmp_path / "lesion.png"
    from PIL import Image

    mel = names.index("mel")
    x_test = run.dataset().x_test
    other = int(np.flatnonzero(predictor.probabilities(x_test).argmax(axis=1) != mel)[0])  # an image not called mel
    Image.fromarray(np.round(x_test[other] * 255).astype(np.uint8)).save(path)
    plain = serve.Predictor(predictor.model, names, calibration={**calibration, "recall_floors": None}).predict(path)
    assert not plain["named_by_floor"] and plain["class_name"] == plain["top"][0][0] != serve.display_name("mel")
    # an offset just big enough to make mel outscore the most likely class names mel, and the page says why
    gap = float(np.log(plain["probabilities"].max()) - np.log(plain["probabilities"][mel]))
    for offset, named in ((gap - 0.01, False), (gap + 0.01, True)):
        floored = {**calibration, "recall_floors": {**calibration["recall_floors"], "offsets": {"mel": offset}}}
        result = serve.Predictor(predictor.model, names, calibration=floored).predict(path)
        assert result["named_by_floor"] == named and (result["class_name"] == serve.display_name("mel")) == named
        assert (f"the most likely class is {plain['class_name']}" in serve.result_markdown(result)) == named
    assert result["probability"] == pytest.approx(result["probabilities"][mel])


def test_the_page_without_calibration_and_with_test_time_views(retrained, tmp_path):
    run, _ = retrained
    predictor = serve.Predictor.from_run(run.path, tta=3)
    x = run.dataset().x_test[:2]
    from nas.tta import predict as tta_predict

    views = tta_predict(predictor.model, x, views=3, augmentation=predictor.augmentation)
    np.testing.assert_allclose(predictor.probabilities(x),
                               apply_temperature(views / views.sum(axis=1, keepdims=True), predictor.temperature))
    assert "mean over 3 views (identity, flip-left-right, flip-up-down)" in predictor.model_card()
    bare = serve.Predictor(predictor.model, predictor.class_names)
    assert bare.temperature is None and bare.threshold is None
    raw = np.asarray(predictor.model(x, training=False), dtype=np.float64)
    np.testing.assert_allclose(bare.probabilities(x), raw / raw.sum(axis=1, keepdims=True))
    with pytest.raises(ConfigError, match="tta must be 1 to 8 views"):
        serve.Predictor(predictor.model, predictor.class_names, tta=9)

    (run.path / CALIBRATION_FILE).rename(tmp_path / "calibration.json")
    try:
        card = serve.Predictor.from_run(run.path).model_card()
        assert "**not calibrated**" in card and "- no referral threshold: it comes with the calibration" in card
    finally:
        (tmp_path / "calibration.json").rename(run.path / CALIBRATION_FILE)


def test_advice_levels_with_an_operating_point():
    assert serve.advise(0.9, 0.15, threshold=0.1) == "refer"
    assert serve.advise(0.9, 0.15) == "benign" and serve.advise(0.9, 0.15, threshold=0.2) == "benign"
    assert serve.advise(0.4, 0.6, threshold=0.1) == "malignant"  # likely malignant stays so
    assert serve.advise(0.9, 0.55, threshold=0.7) == "malignant"  # a threshold above 0.5 never softens advice
    assert serve.advise(0.9, 0.3, threshold=0.4) == "unsure"  # below the threshold the old rules apply
    assert "dermatologist" in serve.SUGGESTIONS["refer"]
    result = {"class_name": "Melanocytic nevus (nv)", "probability": 0.8, "malignant_probability": 0.15,
              "verdict": "benign", "level": "refer", "threshold": 0.1, "suggestion": serve.SUGGESTIONS["refer"],
              "disclaimer": serve.DISCLAIMER}
    assert "P(malignant) 15% is at or above this model's referral threshold 10%." in serve.result_markdown(result)
