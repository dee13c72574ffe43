"""The prediction behind the web page (nas.serve.Predictor) on a tiny real run: shapes, probabilities, the
benign/malignant roll-up, the suggestion for each case, bad input, the model card before and after retraining."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

import nas
from nas import serve
from nas.data import CLASS_FULL_NAMES, MALIGNANT
from nas.errors import ConfigError, DataError
from nas.images import read_image


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=2, generations=1,
                      executor="inline", run_dir=tmp_path_factory.mktemp("serve") / "run", seed=0, verbose=False)


@pytest.fixture(scope="module")
def predictor(run):
    return serve.Predictor.from_run(run.path)


@pytest.fixture(scope="module")
def test_images(run):
    return nas.data.from_spec(run.config["data"]).x_test


def png(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    image = Image.fromarray(np.round(array * 255).astype(np.uint8))
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def test_prediction_is_the_models_with_probabilities_summing_to_one(predictor, test_images, tmp_path):
    path = tmp_path / "lesion.png"
    path.write_bytes(png(test_images[0]))
    result = predictor.predict(path)

    probabilities = result["probabilities"]
    assert probabilities.shape == (7,) and np.all(probabilities >= 0)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    direct = np.asarray(predictor.model(read_image(path, size=(16, 16))[None], training=False))[0]
    np.testing.assert_allclose(probabilities, direct, atol=1e-5)

    names = list(predictor.class_names)
    order = np.argsort(-direct)
    assert [name for name, _ in result["top"]] == [CLASS_FULL_NAMES[names[i]] for i in order[:3]]
    assert [p for _, p in result["top"]] == sorted((p for _, p in result["top"]), reverse=True)
    assert result["class_name"] == CLASS_FULL_NAMES[names[order[0]]] and "(" in result["class_name"]
    assert result["probability"] == pytest.approx(direct.max(), abs=1e-5)

    expected_malignant = sum(probabilities[names.index(c)] for c in MALIGNANT)
    assert result["malignant_probability"] == pytest.approx(expected_malignant)
    assert result["verdict"] == ("malignant" if expected_malignant >= 0.5 else "benign")
    assert result["suggestion"] == serve.SUGGESTIONS[result["level"]]
    assert "not a diagnosis" in result["disclaimer"]

    assert result["heatmap"].shape == (16, 16) and 0 <= result["heatmap"].min() and result["heatmap"].max() <= 1
    assert result["image"].shape == (serve.DISPLAY_SIDE, serve.DISPLAY_SIDE, 3) and result["image"].dtype == np.uint8
    assert result["overlay"].shape == result["image"].shape and result["overlay"].dtype == np.uint8
    assert not np.array_equal(result["overlay"], result["image"])  # the heatmap is drawn on the photo


def test_any_size_colour_mode_and_a_rotated_phone_photo(predictor, test_images):
    big = read_image(test_images[1], size=(300, 500))
    for payload in (png(big, "L", format="JPEG"), png(big, "P"), png(big, "RGBA"), png(big, "CMYK", format="JPEG")):
        result = predictor.predict(payload)
        assert result["probabilities"].sum() == pytest.approx(1.0, abs=1e-9)
        assert result["image"].shape == (269, serve.DISPLAY_SIDE, 3)  # 300x500 scaled to a longest side of 448

    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held upright: the stored landscape pixels must be turned to portrait
    phone = Image.fromarray(np.round(big * 255).astype(np.uint8))
    buffer = io.BytesIO()
    phone.save(buffer, format="JPEG", exif=exif.tobytes())
    assert predictor.predict(buffer.getvalue())["image"].shape == (serve.DISPLAY_SIDE, 269, 3)


def test_bad_inputs_get_one_clear_line_and_the_predictor_keeps_working(predictor, test_images, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = png(test_images[0])[:60]
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, format="PNG")  # 48 megapixels in a few kB
    cases = [(text, "not an image"), (empty, "empty"), (truncated, "corrupt or truncated"),
             (bomb.getvalue(), "too large"), (str(tmp_path / "missing.jpg"), "no such image file"),
             (png(test_images[0], format="GIF"), "GIF images are not accepted, only JPEG or PNG"),
             (png(test_images[0], format="EPS"), "EPS images are not accepted, only JPEG or PNG")]
    for source, message in cases:
        with pytest.raises(DataError, match=message):
            predictor.predict(source)
    assert predictor.predict(png(test_images[0]))["probabilities"].shape == (7,)


def test_suggestion_for_each_case():
    assert serve.advise(0.9, 0.8) == "malignant"
    assert serve.advise(0.4, 0.55) == "malignant"  # a likely malignancy is never softened by low confidence
    assert serve.advise(0.45, 0.05) == "unsure"
    assert serve.advise(0.9, 0.3) == "unsure"  # confident in a benign class, but a malignant one is not unlikely
    assert serve.advise(0.9, 0.05) == "benign"
    assert serve.advise(0.9, None) == "confident"
    assert serve.advise(0.3, None) == "unsure"
    assert "dermatologist promptly" in serve.SUGGESTIONS["malignant"]
    assert "unsure" in serve.SUGGESTIONS["unsure"] and "doctor" in serve.SUGGESTIONS["unsure"]
    assert "benign" in serve.SUGGESTIONS["benign"] and "changes" in serve.SUGGESTIONS["benign"]


def test_benign_malignant_roll_up():
    names = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    probabilities = np.array([0.1, 0.05, 0.2, 0.05, 0.3, 0.25, 0.05])
    assert serve.malignant_probability(probabilities, names) == pytest.approx(0.45)
    assert serve.malignant_probability(np.array([0.5, 0.5]), ("mel", "nv")) == pytest.approx(0.5)
    assert serve.malignant_probability(np.array([0.5, 0.5]), ("mel", "bcc")) is None  # nothing benign to weigh
    assert serve.malignant_probability(np.full(10, 0.1), tuple("0123456789")) is None


def test_page_text_shows_class_probability_verdict_next_step_and_disclaimer(predictor, test_images):
    result = predictor.predict(png(test_images[2]))
    text = serve.result_markdown(result)
    assert result["class_name"] in text and f"{result['probability']:.0%}" in text
    assert ("Malignant" if result["verdict"] == "malignant" else "Benign") in text
    assert result["suggestion"] in text and serve.DISCLAIMER in text


def test_model_card_before_and_after_retraining(run, predictor, test_images):
    card = predictor.model_card()
    assert "not retrained yet" in card and f"run `nas retrain` on `{run.path.name}`" in card
    assert run.best.genome_hash in card and "val_accuracy" in card and "data set **synthetic_lesions**" in card
    data = nas.data.from_spec(run.config["data"])
    assert (f"- {len(data.y_train)} training, {len(data.y_val)} validation and {len(test_images)} test images"
            in card)
    assert str(run.path.parent) not in card  # the page shows no server paths
    assert predictor.confusion_matrix_path() is None

    from nas.retrain import retrain

    summary = retrain(run.path, epochs=1, verbose=False)
    retrained = serve.Predictor.from_run(run.path)
    assert str(retrained.run.model_path()).endswith("final/model.keras")
    card = retrained.model_card()
    assert "not retrained yet" not in card
    assert f"balanced accuracy **{summary['test']['balanced_accuracy']:.3f}**" in card
    assert "| Melanoma (mel) |" in card and "malignant vs benign: sensitivity" in card
    assert f"`{retrained.run.path.name}`" in card and "model `final/model.keras`" in card
    assert "training, " in card and "test images" in card and str(run.path.parent) not in card
    assert retrained.confusion_matrix_path().is_file()


def test_example_images_come_from_the_test_split(predictor, test_images, tmp_path):
    paths = predictor.example_images(tmp_path, count=3)
    assert [p.name for p in paths] == ["example_akiec.png", "example_bcc.png", "example_bkl.png"]
    assert any(np.allclose(read_image(paths[0]), image, atol=1 / 255) for image in test_images)


def test_missing_gradio_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what `import gradio` meets when the extra is not installed
    with pytest.raises(ConfigError, match=r'pip install "nas\[ui\]"'):
        serve.build_app(None)


def test_cli_warns_when_not_local_and_reports_a_bad_run_in_one_line(tmp_path, capsys):
    from nas import cli

    assert cli.main(["serve", str(tmp_path / "nothing"), "--host", "0.0.0.0", "--port", "7999"]) == 2
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0" in err
    assert err.strip().splitlines()[-1].startswith("nas: error: ") and "Traceback" not in err


def test_a_greyscale_model_of_other_classes_gets_no_benign_malignant_roll_up():
    import keras

    digits = nas.data.digits()
    inputs = keras.Input(shape=digits.input_shape)
    features = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    predictor = serve.Predictor(keras.Model(inputs, outputs), digits.class_names)
    result = predictor.predict(png(np.repeat(digits.x_test[0], 3, axis=-1)))
    assert predictor.channels == 1 and result["heatmap"].shape == (8, 8)
    assert result["probabilities"].sum() == pytest.approx(1.0, abs=1e-9)
    assert result["malignant_probability"] is None and result["verdict"] is None
    assert result["level"] in ("confident", "unsure") and result["class_name"] in digits.class_names
    text = serve.result_markdown(result)
    assert "Benign" not in text and "Malignant" not in text and "not a diagnosis" in text
    assert "no record of how it was trained" in predictor.model_card()


def test_a_busy_port_is_one_clear_line(run, capsys):
    import socket

    from nas import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(run.path), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"nas: error: cannot listen on 127.0.0.1:{port}") and "--port" in err[-1]


def test_the_model_card_of_a_run_on_files_names_the_data_set_but_no_server_path(run, tmp_path):
    """A run on HAM10000 records where the images were; the card, which anyone who reaches the page can read, must
    not show that (nor the run's own path) and still says which data set and how it was split."""
    import json
    import shutil

    copy = tmp_path / "ham_run"
    shutil.copytree(run.path, copy)
    config = json.loads((copy / "config.json").read_text())
    root = tmp_path / "secret" / "HAM10000"
    config["data"] = {"kind": "ham10000", "root": str(root), "image_size": 16, "seed": 0, "val_fraction": 0.15,
                      "test_fraction": 0.15, "max_images": None, "splits_file": str(root / "splits.csv"),
                      "oversample": False}
    (copy / "config.json").write_text(json.dumps(config))
    card = serve.Predictor.from_run(copy).model_card()
    assert "data set **ham10000**" in card and "`ham_run`" in card
    assert str(tmp_path) not in card and "secret" not in card and "root" not in card


def test_uploads_are_deleted_within_the_hour_the_docs_promise(predictor):
    frequency, age = serve.build_app(predictor).delete_cache
    assert frequency + age <= 3600 and 0 < frequency <= 600  # a file lives at most frequency + age seconds


def test_a_40_megapixel_photo_is_never_held_as_floats_at_full_size(predictor, tmp_path):
    import tracemalloc

    width, height = 7_200, 5_400  # 38.9 megapixels, just under the limit
    gradient = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    path = tmp_path / "dermatoscope.png"
    Image.fromarray(np.broadcast_to(gradient[None, :, None], (height, width, 3)).copy()).save(path, compress_level=1)
    predictor.predict(path)  # the first call of a new input shape traces; measure the second
    tracemalloc.start()
    try:
        result = predictor.predict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < width * height * 3  # numpy's share: a full-size float32 copy would be 4x this, and there were two
    assert result["image"].shape == (336, serve.DISPLAY_SIDE, 3)
    direct = np.asarray(predictor.model(read_image(path, size=(16, 16))[None], training=False))[0]
    np.testing.assert_allclose(result["probabilities"], direct / direct.sum(), atol=1e-6)
