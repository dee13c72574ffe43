"""The paper's baselines, built for real at tiny sizes: parameter count, safe-mode round trips, weights and settings."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from nas import baselines
from nas.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


def test_table1_is_the_papers_network():
    model = baselines.build("table1", (100, 100, 3), 7)
    assert model.count_params() == 4_031_527
    assert model.name == "table1"
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [
        "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"]


@pytest.mark.parametrize("name", ["table1", "vgg16", "resnet50"])
def test_builds_at_32px_and_survives_a_safe_mode_round_trip(name, tmp_path):
    model = baselines.build(name, (32, 32, 3), 7)
    assert tuple(model.output.shape) == (None, 7)
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    probabilities = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    model.save(tmp_path / f"{name}.keras")
    loaded = keras.models.load_model(tmp_path / f"{name}.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images, training=False)), probabilities, atol=1e-6)


def test_vgg16_preprocesses_unit_images_like_keras_and_upsamples_small_grayscale():
    from keras.applications import vgg16

    model = baselines.build("vgg16", (32, 32, 3), 7)
    preprocessed = keras.Model(model.input, model.get_layer("caffe_preprocess").output)
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    expected = vgg16.preprocess_input(images * 255.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(preprocessed(images)), expected, atol=1e-3)

    small = baselines.build("vgg16", (16, 16, 1), 3)
    assert tuple(small.get_layer("vgg16").input.shape) == (None, 32, 32, 3)
    assert tuple(small.output.shape) == (None, 3)


def test_local_vgg16_weights_file_is_loaded(tmp_path):
    donor = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    donor.save_weights(path)
    model = baselines.build("vgg16", (32, 32, 3), 7, weights=path)
    for mine, theirs in zip(model.get_layer("vgg16").get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_missing_or_wrong_weights_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(ConfigError, match=r"keras_home/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5"):
        baselines.build("vgg16", (32, 32, 3), 7, weights="imagenet")
    with pytest.raises(ConfigError, match="missing.h5 does not exist"):
        baselines.build("vgg16", (32, 32, 3), 7, weights=tmp_path / "missing.h5")
    with pytest.raises(ConfigError, match="missing.h5 does not exist"):
        baselines.build("resnet50", (32, 32, 3), 7, weights=tmp_path / "missing.h5")
    with pytest.raises(ConfigError, match=r"\.h5"):
        baselines.build("vgg16", (32, 32, 3), 7, weights=tmp_path / "weights.npz")
    with pytest.raises(ConfigError, match="trains from scratch"):
        baselines.build("table1", (32, 32, 3), 7, weights="imagenet")


def test_bad_names_and_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="table1, vgg16, resnet50"):
        baselines.build("alexnet", (32, 32, 3), 7)
    with pytest.raises(ConfigError, match="at least 16x16"):
        baselines.build("table1", (12, 12, 3), 7)
    with pytest.raises(ConfigError, match="1 or 3 channels"):
        baselines.build("vgg16", (32, 32, 4), 7)


def test_settings_and_compile(tiny_data):
    assert baselines.settings("table1") == {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32}
    assert baselines.settings("vgg16")["learning_rate"] == 1e-4
    assert baselines.settings("resnet50")["learning_rate"] == 1e-3
    assert baselines.settings("resnet50", "imagenet")["learning_rate"] == 1e-4
    keras.utils.set_random_seed(0)
    model = baselines.build("table1", tiny_data.input_shape, tiny_data.num_classes)
    baselines.compile(model, "table1")
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    history = model.fit(tiny_data.x_train, tiny_data.y_train, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"][0])
