"""Ensembles (nas.ensemble): one model averaging its members' probabilities, saved and loaded in safe mode, explained
by Grad-CAM as the mean of its members' maps, exported to TFLite, and built by ``nas retrain --top-k K --ensemble``."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import nas
from nas import cli, ensemble, explain
from nas.errors import ConfigError
from nas.export import export, tflite_predictor
from nas.retrain import retrain
from nas.runs.writer import RunFolder
from nas.serve import Predictor
from nas.training import predict


def _member(seed: int, data, filters: int) -> keras.Model:
    """A small CNN trained for one epoch; every member uses the same layer names, as genomes of one space do."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=data.input_shape, name="image")
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv_last")(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax", name="head")(
        keras.layers.GlobalAveragePooling2D(name="pool")(x))
    model = keras.Model(inputs, outputs, name="searched")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def members(tiny_data):
    return [_member(seed, tiny_data, filters) for seed, filters in ((0, 4), (1, 6), (2, 4))]


@pytest.fixture(scope="module")
def saved(members, tmp_path_factory):
    """The ensemble of the three members, saved through RunFolder and loaded back in safe mode."""
    path = RunFolder(tmp_path_factory.mktemp("ensemble")).save_model("final/model.keras", ensemble.build(members))
    return keras.models.load_model(path, compile=False), path  # safe_mode defaults to True


def test_the_saved_ensemble_loads_in_safe_mode_and_predicts_the_mean_of_its_members(members, saved, tiny_data):
    loaded, path = saved
    mean = np.mean([predict(member, tiny_data.x_test) for member in members], axis=0)
    np.testing.assert_allclose(predict(loaded, tiny_data.x_test), mean, atol=1e-5)
    np.testing.assert_allclose(predict(keras.models.load_model(path, safe_mode=True), tiny_data.x_test), mean,
                               atol=1e-5)
    assert not np.allclose(predict(members[0], tiny_data.x_test), mean, atol=1e-3)  # the members do differ
    parts = ensemble.members(loaded)
    assert [part.name for part in parts] == ["member_1", "member_2", "member_3"]
    for part, member in zip(parts, members):
        np.testing.assert_allclose(predict(part, tiny_data.x_test), predict(member, tiny_data.x_test), atol=1e-6)
    # the structure is the rule: a single model, or a nested model without the Average, is not an ensemble
    assert ensemble.members(members[0]) is None
    inputs = keras.Input(shape=tiny_data.input_shape)
    assert ensemble.members(keras.Model(inputs, keras.layers.Add()([part(inputs) for part in parts]))) is None


def test_build_refuses_too_few_or_mismatched_members(members, tiny_data):
    with pytest.raises(ConfigError, match="at least two models, got 1"):
        ensemble.build(members[:1])
    inputs = keras.Input(shape=tiny_data.input_shape)
    other = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ConfigError, match="must share the input shape and the classes"):
        ensemble.build([members[0], other])


def test_gradcam_of_an_ensemble_is_the_mean_of_its_members_maps_of_its_class(members, saved, tiny_data):
    loaded, _ = saved
    x = tiny_data.x_test[:6]
    heatmaps, probabilities, explained = explain.cam._explain(loaded, x)
    assert heatmaps.shape == (6, 16, 16) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 and np.allclose(heatmaps.max(axis=(1, 2)), 1)
    np.testing.assert_array_equal(explained, predict(loaded, x).argmax(axis=1))
    np.testing.assert_allclose(probabilities, predict(loaded, x), atol=1e-5)
    mean = np.mean([explain.gradcam(member, x, class_index=explained) for member in members], axis=0)
    np.testing.assert_allclose(heatmaps, mean / mean.max(axis=(1, 2), keepdims=True), atol=1e-5)
    np.testing.assert_allclose(explain.gradcam(loaded, x, class_index=2, method="gradcam++"),
                               explain.gradcam(loaded, x, class_index=np.full(6, 2), method="gradcam++"))
    assert explain.feature_layer_names(loaded) == ["member_1/conv_last", "member_2/conv_last", "member_3/conv_last"]
    with pytest.raises(ConfigError, match="is an ensemble of 3 members"):
        explain.gradcam(loaded, x, layer="conv_last")
    with pytest.raises(ConfigError, match="explain a member"):
        explain.feature_layer(loaded)


def test_faithfulness_and_the_web_page_take_an_ensemble(saved, tiny_data):
    loaded, _ = saved
    result = explain.evaluate_faithfulness(loaded, tiny_data.x_test[:4], tiny_data.masks_test[:4], steps=4)
    assert result["layer"] == "member_1/conv_last, member_2/conv_last, member_3/conv_last"
    assert 0 <= result["deletion_auc"]["heatmap"] <= 1 and 0 <= result["insertion_auc"]["heatmap"] <= 1
    predictor = Predictor(loaded, tiny_data.class_names)
    page = predictor.predict(tiny_data.x_test[0])
    assert page["heatmap"].shape == (16, 16) and page["probabilities"].sum() == pytest.approx(1.0)
    assert page["heatmap"].min() >= 0 and page["heatmap"].max() == pytest.approx(1.0)


def test_an_ensemble_exports_to_tflite_and_predicts_what_keras_predicts(saved, tiny_data, tmp_path):
    loaded, _ = saved
    figures = export(loaded, "tflite", out=tmp_path / "ensemble.tflite", data=tiny_data, repeats=2)
    assert figures["agreement"] >= 0.99 and figures["test_images"] == len(tiny_data.y_test)
    exported = tflite_predictor((tmp_path / "ensemble.tflite").read_bytes())(tiny_data.x_test)
    np.testing.assert_allclose(exported, predict(loaded, tiny_data.x_test), atol=1e-5)
    figures = export(loaded, "tflite", "int8", out=tmp_path / "int8.tflite", data=tiny_data, repeats=2)
    assert 0 < figures["size_bytes"] < (tmp_path / "ensemble.tflite").stat().st_size and 0 <= figures["agreement"] <= 1


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=2, generations=1,
                      executor="inline", run_dir=tmp_path_factory.mktemp("runs") / "run", seed=0, verbose=False)


def test_retrain_ensemble_end_to_end(tiny_run, tmp_path, capsys):
    path = Path(shutil.copytree(tiny_run.path, tmp_path / "run"))
    assert cli.main(["retrain", str(path), "--top-k", "2", "--ensemble", "--epochs", "1", "--patience", "1",
                     "--no-augment", "--quiet"]) == 0
    assert "ensemble of 2" in capsys.readouterr().out
    history = json.loads((path / "final" / "history.json").read_text())
    record = history["ensemble"]
    hashes = [c["genome_hash"] for c in history["candidates"]]
    assert [m["genome_hash"] for m in record["members"]] == hashes and len(set(hashes)) == 2
    assert [m["validation"] for m in record["members"]] == [c["validation"] for c in history["candidates"]]
    run = nas.load_run(path)
    model = run.model()
    assert [part.name for part in ensemble.members(model)] == ["member_1", "member_2"]
    assert [name.split("/")[0] for name in explain.feature_layer_names(model)] == ["member_1", "member_2"]
    data = run.dataset()
    probabilities = predict(model, data.x_test)
    report = json.loads((path / "final" / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == data.y_test))
    for part, member in zip(ensemble.members(model), record["members"]):
        assert member["test"]["accuracy"] == pytest.approx(np.mean(predict(part, data.x_test).argmax(1) == data.y_test))
    markdown = (path / "final" / "report.md").read_text()
    assert "## Ensemble members" in markdown and f"`{hashes[1]}`" in markdown and "an ensemble of" in markdown
    assert markdown.count("| member_") == 2 and "## Per class" in markdown  # the report itself is kept

    image = (np.random.default_rng(0).random((20, 20, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "mole.png")
    assert cli.main(["explain", str(path), str(tmp_path / "mole.png")]) == 0
    assert (path / "explain" / "mole.png").is_file()
    card = Predictor.from_run(path).model_card()
    assert f"an **ensemble** of 2 retrained genomes (`{hashes[0]}`, `{hashes[1]}`)" in card


def test_an_ensemble_of_one_is_refused(tiny_run, capsys):
    assert cli.main(["retrain", str(tiny_run.path), "--ensemble", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "give top_k (--top-k) or seeds (--seeds) 2 or more, got top_k 1 and seeds 1" in err and err.count("\n") == 1
    assert cli.main(["retrain", str(tiny_run.path), "--seeds", "2", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "seeds (--seeds) 2 trains each genome 2 times" in err and "add ensemble (--ensemble)" in err
    with pytest.raises(ConfigError, match="2 or more"):
        retrain(tiny_run.path, top_k=1, ensemble=True, verbose=False)
    with pytest.raises(ConfigError, match="seeds must be a positive integer, got 0"):
        retrain(tiny_run.path, seeds=0, ensemble=True, verbose=False)
    assert not (tiny_run.path / "final").exists()


def test_a_seed_ensemble_averages_the_best_genome_trained_with_two_seeds(tiny_run, tmp_path, capsys):
    from nas.training import training_seed

    path = Path(shutil.copytree(tiny_run.path, tmp_path / "run"))
    assert cli.main(["retrain", str(path), "--seeds", "2", "--ensemble", "--epochs", "1", "--patience", "1",
                     "--no-augment", "--quiet", "--no-robustness"]) == 0
    assert "ensemble of 2" in capsys.readouterr().out
    history = json.loads((path / "final" / "history.json").read_text())
    best = nas.load_run(path).best.genome_hash
    members = history["ensemble"]["members"]
    assert [m["genome_hash"] for m in members] == [best, best] and history["settings"]["seeds"] == 2
    seed = nas.load_run(path).config["seed"]
    assert [m["seed"] for m in members] == [training_seed(seed, best), training_seed(seed, best, replicate=1)]
    assert members[0]["seed"] != members[1]["seed"]  # two trainings, not one model counted twice
    assert [c["seed"] for c in history["candidates"]] == [m["seed"] for m in members]
    model = nas.load_run(path).model()
    first, second = (predict(part, nas.load_run(path).dataset().x_test) for part in ensemble.members(model))
    assert not np.allclose(first, second)
    markdown = (path / "final" / "report.md").read_text()
    assert f"an ensemble of 2 retrained models of 1 genome (`{best}`)" in markdown
    assert f"seed {members[1]['seed']})" in markdown
    assert f"an **ensemble** of 2 retrained models of 1 genome (`{best}`)" in Predictor.from_run(path).model_card()
