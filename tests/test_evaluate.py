"""nas evaluate: a run's model scored on a generated ISIC-layout set (a missing image, a corrupt one, a grey PNG), on
an image folder with a subset of the classes, with test-time augmentation, calibration and the robustness report;
the isic: data form; the CLI's exit codes and one-line errors."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import nas
import nas.shifts
import nas.tta
from nas.augment import Augmentation
from nas.cli import main
from nas.errors import ConfigError, DataError
from nas.evaluate import EVALUATIONS, default_name, evaluate
from nas.images import read_image
from nas.runs.writer import RunFolder

COLUMNS = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]


@pytest.fixture(scope="module")
def lesions():
    return nas.data.synthetic_lesions(n=140, image_size=16, seed=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, lesions):
    """A run folder with a really trained (tiny) convolutional final model, as nas retrain leaves one."""
    import keras

    path = tmp_path_factory.mktemp("evaluate") / "run"
    folder = RunFolder.create(path, {"class_names": list(lesions.class_names), "data": lesions.spec, "seed": 0,
                                     "input_shape": list(lesions.input_shape), "objectives": ["val_accuracy"],
                                     "generations": 1})
    keras.utils.set_random_seed(0)
    inputs = keras.Input(lesions.input_shape)
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(lesions.num_classes, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy")
    more = nas.data.synthetic_lesions(n=700, image_size=16, seed=1)  # other images of the same kind: not the test's
    model.fit(more.x_train, more.y_train, epochs=30, batch_size=32, verbose=0)
    folder.save_model("final/model.keras", model)
    folder.write_json("final/history.json", {"settings": {"augmentation": Augmentation().to_dict()}})
    folder.write_json("final/report.json", {"untouched": True})
    return path


def _save(array: np.ndarray, path, mode: str | None = None) -> None:
    image = Image.fromarray(np.round(array * 255).astype(np.uint8))
    image.convert(mode).save(path) if mode else image.save(path)


def write_isic(root, lesions, *, columns=COLUMNS, rows=None, images=True):
    """An ISIC-2018-task-3 layout: GroundTruth/GT.csv and Input/ beside it; the test images as PNG and JPEG, the
    first one grey, plus a listed image that is missing and one that is not an image."""
    (root / "GroundTruth").mkdir(parents=True)
    (root / "Input").mkdir()
    names = [lesions.class_names[c] for c in lesions.y_test]
    if rows is None:
        rows = [[f"ISIC_{i:07d}"] + [f"{float(c.lower() == name):.1f}" for c in columns]
                for i, name in enumerate(names)]
        rows += [["ISIC_missing"] + ["1.0"] + ["0.0"] * (len(columns) - 1),
                 ["ISIC_corrupt"] + ["0.0", "1.0"] + ["0.0"] * (len(columns) - 2)]
    if images:
        for i, image in enumerate(lesions.x_test):
            suffix = ".png" if i % 2 == 0 else ".jpg"
            _save(image, root / "Input" / f"ISIC_{i:07d}{suffix}", mode="L" if i == 0 else None)
        (root / "Input" / "ISIC_corrupt.jpg").write_bytes(b"not a jpeg at all")
    csv_path = root / "GroundTruth" / "GT.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *columns])
        writer.writerows(rows)
    return csv_path


@pytest.fixture(scope="module")
def isic_csv(tmp_path_factory, lesions):
    return write_isic(tmp_path_factory.mktemp("isic"), lesions)


def test_isic_set_every_image_scored_with_the_training_reader_missing_and_unreadable_named(run_dir, isic_csv,
                                                                                          lesions):
    import keras

    before = (run_dir / "final" / "report.json").read_bytes()
    result = evaluate(run_dir, f"isic:{isic_csv}", robustness=False)
    report = result["report"]
    what = report["evaluation"]
    n = len(lesions.y_test)
    assert result["name"] == "isic-GT" and result["out_dir"] == str(run_dir / EVALUATIONS / "isic-GT")
    assert (what["listed"], what["scored"], report["n_samples"]) == (n + 2, n, n)
    assert what["images"] == "all" and what["missing"] == ["ISIC_missing"]
    assert len(what["unreadable"]) == 1 and "ISIC_corrupt.jpg" in what["unreadable"][0]
    assert what["converted_to_rgb"] == ["ISIC_0000000.png (L)"]
    assert report["class_names"] == list(lesions.class_names)
    # Exactly the training pipeline's preprocessing: read_image at the model's input size, then the model.
    model = keras.models.load_model(run_dir / "final" / "model.keras")
    files = sorted((isic_csv.parent.parent / "Input").glob("ISIC_0*"))
    direct = np.asarray(model(np.stack([read_image(f, 16) for f in files]), training=False)).argmax(axis=1)
    truth = [lesions.class_names.index(lesions.class_names[c]) for c in lesions.y_test]
    matrix = np.zeros((7, 7), np.int64)
    np.add.at(matrix, (truth, direct), 1)
    assert report["confusion_matrix"] == matrix.tolist()
    assert len(set(direct)) > 2 and report["balanced_accuracy"] > 0.3  # a model that tells classes apart
    assert report["temperature_scaling"]["applied"] is False
    out = run_dir / EVALUATIONS / "isic-GT"
    markdown = (out / "report.md").read_text()
    assert "## Evaluation set" in markdown and "ISIC_missing" in markdown and "ISIC_corrupt.jpg" in markdown
    assert "not calibrated" in markdown and "## Metrics" in markdown and f"Images scored: {n} images" in markdown
    assert json.loads((out / "report.json").read_text())["evaluation"]["missing"] == ["ISIC_missing"]
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "final" / "report.json").read_bytes() == before


def test_tta_robustness_and_the_runs_temperature(run_dir, isic_csv, tmp_path):
    rule = {"floors": {"mel": 0.5}, "offsets": {"mel": 0.0}, "recall": {"mel": 0.5}, "notes": []}  # the arg-max's
    RunFolder(run_dir).write_json("final/calibration.json", {"temperature": 3.0, "recall_floors": rule})
    try:
        report = evaluate(run_dir, f"isic:{isic_csv}", name="with-tta", tta=3)["report"]
        copy = tmp_path / "copy.keras"
        copy.write_bytes((run_dir / "final" / "model.keras").read_bytes())
        other = evaluate(run_dir, f"isic:{isic_csv}", name="other", model=copy, robustness=False)["report"]
    finally:
        (run_dir / "final" / "calibration.json").unlink()
    scaling = report["temperature_scaling"]
    assert scaling == {"applied": True, "temperature": 3.0, "why": scaling["why"]}
    assert report["calibration"]["temperature"] == 3.0 and "calibration" not in other
    assert report["calibration"]["ece_before"] != report["calibration"]["ece_after"]
    assert other["temperature_scaling"]["applied"] is False
    assert "not to this model file" in other["temperature_scaling"]["why"]
    tta = report["test_time_augmentation"]
    assert tta["views"] == 3 and tta["view_names"] == ["identity", "flip-left-right", "flip-up-down"]
    assert tta["with"]["balanced_accuracy"] == report["balanced_accuracy"]
    assert set(tta["without"]) == set(tta["with"])
    robust = report["robustness"]
    assert set(robust["shifts"]) == set(nas.shifts.shift_names()) and robust["n_samples"] == report["n_samples"]
    assert robust["ratio_to_clean"] == pytest.approx(robust["mean_shifted_balanced_accuracy"]
                                                     / robust["clean"]["balanced_accuracy"])
    ruled = robust["with_rule"]  # the run's recall floors decide too; with offset 0 they name the arg-max
    assert ruled["shifts"] == {name: {strength: {key: row[key] for key in ("balanced_accuracy", "accuracy")}
                                      for strength, row in rows.items()} for name, rows in robust["shifts"].items()}
    markdown = (run_dir / EVALUATIONS / "with-tta" / "report.md").read_text()
    assert "calibrated with temperature 3.000" in markdown
    assert "## Test-time augmentation" in markdown and "## Robustness to camera-like shifts" in markdown


def test_tta_keeps_the_shape_and_the_class_order():
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)  # the mean colour: the same under every flip
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(pooled))
    x = np.random.default_rng(0).uniform(size=(6, 8, 8, 3)).astype(np.float32)
    plain = nas.tta.predict(model, x, views=1)
    flipped = nas.tta.predict(model, x, views=4)
    assert flipped.shape == plain.shape == (6, 5)
    np.testing.assert_allclose(flipped, plain, atol=1e-5)


def test_a_folder_with_some_of_the_classes_matched_by_name_in_any_case(run_dir, lesions, tmp_path):
    for folder, class_index in (("MEL", 4), ("nv", 5)):
        (tmp_path / folder).mkdir()
        for i in np.flatnonzero(lesions.y_test == class_index):
            _save(lesions.x_test[i], tmp_path / folder / f"{i}.png")
    report = evaluate(run_dir, f"folder:{tmp_path}", robustness=False)["report"]
    assert report["per_class"]["mel"]["support"] == int(np.sum(lesions.y_test == 4))
    assert report["per_class"]["nv"]["support"] == int(np.sum(lesions.y_test == 5))
    assert set(report["absent_classes"]) == {"akiec", "bcc", "bkl", "df", "vasc"}
    assert "absent from this set: akiec, bcc, bkl, df, vasc" in (run_dir / EVALUATIONS / default_name(
        f"folder:{tmp_path}") / "report.md").read_text()
    (tmp_path / "cat").mkdir()
    _save(lesions.x_test[0], tmp_path / "cat" / "tabby.png")
    with pytest.raises(DataError, match="label cat not among the model's classes"):
        evaluate(run_dir, f"folder:{tmp_path}", robustness=False)


def test_isic_ground_truth_errors_name_the_columns_and_rows(tmp_path, lesions):
    unknown = write_isic(tmp_path / "a", lesions, columns=[*COLUMNS, "UNK", "SCC"], images=False)
    with pytest.raises(DataError, match="unknown label columns UNK, SCC"):
        nas.data.isic(unknown)
    rows = [["ISIC_1", "1", "0", "0", "0", "0", "0", "0"], ["ISIC_2", "1", "1", "0", "0", "0", "0", "0"],
            ["ISIC_3", "0", "0", "0", "0", "0", "0", "0"], ["ISIC_4", "0.5", "0", "0", "0", "0", "0", "0"]]
    several = write_isic(tmp_path / "b", lesions, rows=rows, images=False)
    with pytest.raises(DataError, match=r"lines 3 \(ISIC_2\), 4 \(ISIC_3\), 5 \(ISIC_4\) must name an image and "
                                        r"hold exactly one 1"):
        nas.data.isic(several)


def test_isic_data_form_splits_for_training_and_finds_images_in_a_given_folder(tmp_path, lesions):
    csv_path = write_isic(tmp_path, lesions, rows=None)
    with pytest.raises(DataError, match="1 image is listed in GT.csv but not found: ISIC_missing.jpg"):
        nas.data.parse(f"isic:{csv_path}", image_size=16)
    rows = list(csv.reader(open(csv_path)))
    moved = tmp_path / "elsewhere"
    (tmp_path / "Input").rename(moved)
    with open(csv_path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows[:-2])  # drop the missing and the corrupt image
    with pytest.warns(UserWarning, match=r"converted to RGB .*ISIC_0000000.png \(L\)"):
        data = nas.data.parse(f"isic:{csv_path}:{moved}", image_size=16, seed=3)
    assert data.class_names == lesions.class_names and data.default_objectives == ("val_balanced_accuracy",)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == len(lesions.y_test)
    with pytest.warns(UserWarning, match="converted to RGB"):
        assert nas.data.from_spec(data.spec).x_test.tobytes() == data.x_test.tobytes()
    with pytest.raises(ConfigError, match="give the ground-truth CSV after the colon"):
        nas.data.parse("isic:images/")


def test_cli_exit_codes_progress_and_one_line_errors(run_dir, isic_csv, capsys):
    assert main(["evaluate", str(run_dir), "--data", f"isic:{isic_csv}", "--name", "cli", "--tta", "2",
                 "--no-robustness"]) == 0
    out = capsys.readouterr().out
    assert "scoring" in out and "with TTA (2 views)" in out and "written:" in out
    assert (run_dir / EVALUATIONS / "cli" / "report.md").is_file()
    for argv, message in (
            (["--data", f"isic:{isic_csv}", "--name", "../escape"], "evaluation name '../escape'"),
            (["--data", f"isic:{isic_csv}", "--tta", "99"], "--tta takes 1 to 8 views"),
            (["--data", f"isic:{isic_csv}", "--model", "nothing.keras"], "--model nothing.keras: not a .keras file"),
            (["--data", "isic:nowhere.csv"], "nowhere.csv: no such file"),
            (["--data", f"isic:{isic_csv}", "--image-size", "32"], "--image-size 32: the model takes 16x16")):
        assert main(["evaluate", str(run_dir), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nas: error: ") and message in err and "\n" not in err


def test_the_runs_own_data_is_scored_on_its_test_split_only(run_dir, lesions, tmp_path):
    images = tmp_path / "images"
    for c, name in enumerate(lesions.class_names):
        (images / name).mkdir(parents=True)
        for i in np.flatnonzero(lesions.y_train == c)[:4]:
            _save(lesions.x_train[i], images / name / f"{i}.png")
    own = nas.data.image_folder(images, image_size=16)
    folder = RunFolder.create(tmp_path / "run", {**nas.runs.read_config(run_dir), "data": own.spec})
    (folder.path / "final").mkdir()
    (folder.path / "final" / "model.keras").write_bytes((run_dir / "final" / "model.keras").read_bytes())
    from nas.evaluate import _own_data

    assert _own_data(f"ham10000:{images}/", {"kind": "ham10000", "root": str(images)})
    assert not _own_data(f"folder:{images}", {"kind": "ham10000", "root": str(images)})
    report = evaluate(folder.path, f"folder:{images}", robustness=False)["report"]
    assert report["evaluation"]["images"] == "test split" and report["n_samples"] == len(own.y_test) == 7
    assert "the run's own data" in report["evaluation"]["data"]
    report = evaluate(run_dir, lesions, name="own", robustness=False)["report"]
    assert report["evaluation"]["images"] == "test split" and report["n_samples"] == len(lesions.y_test)


def test_an_external_ham10000_folder_is_scored_whole(run_dir, generated_ham):
    with open(generated_ham.root / "HAM10000_metadata.csv") as handle:
        listed = len(list(csv.DictReader(handle)))
    report = evaluate(run_dir, f"ham10000:{generated_ham.root}", robustness=False)["report"]
    what = report["evaluation"]
    assert what["images"] == "all" and what["listed"] == listed and what["set"]["kind"] == "ham10000"
    assert what["scored"] + len(what["missing"]) + len(what["unreadable"]) == listed == report["n_samples"] + len(
        what["missing"]) + len(what["unreadable"])
