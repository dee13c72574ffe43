"""Tests of the ready-made search spaces with real Keras models at tiny sizes."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import search_spaces
from nas.errors import ConfigError, InvalidGenomeError
from nas.space import genome_hash
from search_spaces import cnn, resnet50

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


def _check_softmax(model, input_shape, num_classes):
    assert tuple(model.output.shape) == (None, num_classes)
    batch = np.random.default_rng(0).random((3, *input_shape), dtype="float32")
    sums = keras.ops.convert_to_numpy(model(batch, training=False)).sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)


def test_designs_are_points_of_their_spaces_and_copies():
    names = {space: sorted(search_spaces.designs(space)) for space in search_spaces.NAMES}
    assert names == {"cnn": ["table1"], "resnet50": [], "modern": ["plain4", "plain4-stride2"]}
    for space, found in names.items():
        for name in found:
            search_spaces.get(space).check(search_spaces.designs(space)[name])
    assert search_spaces.designs("cnn")["table1"] == cnn.TABLE1
    stride2 = search_spaces.designs("modern")["plain4-stride2"]
    assert stride2["stem_stride"] == 2 and {**stride2, "stem_stride": 1} == search_spaces.modern.PLAIN4
    stride2["width"] = 8  # a copy: the module's design is untouched
    assert search_spaces.designs("modern")["plain4-stride2"]["width"] == 32
    with pytest.raises(ConfigError, match="unknown search space 'vit'"):
        search_spaces.designs("vit")


# -- cnn ------------------------------------------------------------------------------------------------------------
def test_table1_has_the_papers_parameter_count():
    cnn.SPACE.check(cnn.TABLE1)
    model = cnn.SPACE.build(cnn.TABLE1, (100, 100, 3), 7)
    assert model.count_params() == 4031527
    assert cnn.SPACE.count_params(cnn.TABLE1, (100, 100, 3), 7) == 4031527
    assert model.get_layer("block2_pool") is not None


def test_random_mutations_and_crossovers_always_repair_to_buildable_genomes():
    rng = random.Random(2024)
    population = [cnn.SPACE.sample(rng) for _ in range(20)]
    repaired = {8: [], 16: []}
    for _ in range(1000):
        if rng.random() < 0.5:
            child = cnn.SPACE.mutate(rng.choice(population), rng)
        else:
            child = cnn.SPACE.crossover(rng.choice(population), rng.choice(population), rng)[rng.randrange(2)]
        for size in (8, 16, 32):
            fixed = cnn.SPACE.repair(child, (size, size, 3))
            cnn.SPACE.check(fixed)
            assert cnn.feature_map_size(fixed, (size, size, 3)) >= 1
            assert cnn.SPACE.repair(fixed, (size, size, 3)) == fixed  # repair is idempotent
            if size in repaired:
                repaired[size].append(fixed)
        population[rng.randrange(len(population))] = child

    for genome in repaired[16][::100]:
        model = cnn.SPACE.build(genome, (16, 16, 3), 5)
        _check_softmax(model, (16, 16, 3), 5)
        assert cnn.count_params(genome, (16, 16, 3), 5) == model.count_params()  # the analytic count is exact
        keras.backend.clear_session()
    for genome in repaired[8][::100]:
        genome = cnn.SPACE.repair(genome, (8, 8, 1))
        _check_softmax(cnn.SPACE.build(genome, (8, 8, 1), 3), (8, 8, 1), 3)
        keras.backend.clear_session()


def test_repair_drops_blocks_then_switches_to_same_padding():
    deep = dict(cnn.TABLE1, blocks=4, kernel_1=5, kernel_2=5, kernel_3=5, kernel_4=5)
    assert cnn.feature_map_size(deep, (16, 16, 3)) is None
    with pytest.raises(InvalidGenomeError, match="repair"):
        cnn.SPACE.build(deep, (16, 16, 3), 3)

    fixed = cnn.SPACE.repair(deep, (16, 16, 3))  # 16 -conv5-> 12 -conv5-> 8 -pool-> 4: a second block cannot fit
    assert (fixed["blocks"], fixed["padding"]) == (1, "valid")
    _check_softmax(cnn.SPACE.build(fixed, (16, 16, 3), 3), (16, 16, 3), 3)

    fixed = cnn.SPACE.repair(deep, (8, 8, 3))  # not even one valid block fits; with same padding 8 -> 4 -> 2 -> 1
    assert (fixed["blocks"], fixed["padding"]) == (3, "same")
    assert cnn.feature_map_size(fixed, (8, 8, 3)) == 1

    assert cnn.SPACE.repair(deep, (2, 2, 1))["padding"] == "same"
    with pytest.raises(InvalidGenomeError, match="1x1"):
        cnn.SPACE.repair(deep, (1, 1, 3))


def test_hash_ignores_dormant_genes_only():
    base = cnn.SPACE.hash(cnn.TABLE1)
    assert "filters_3" not in cnn.SPACE.expressed(cnn.TABLE1)
    assert cnn.SPACE.hash(dict(cnn.TABLE1, filters_3=8, kernel_4=5, dropout_4=0.0)) == base
    assert cnn.SPACE.hash(dict(cnn.TABLE1, filters_1=16)) != base
    assert cnn.SPACE.hash(dict(cnn.TABLE1, blocks=3)) != base
    assert base == genome_hash(cnn.SPACE.expressed(cnn.TABLE1))


def test_hash_is_stable_across_processes_and_import_needs_no_tensorflow():
    code = ("import sys, search_spaces; from search_spaces import cnn, resnet50; "
            "print(cnn.SPACE.hash(cnn.TABLE1)); print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == [cnn.SPACE.hash(cnn.TABLE1), "False"]


# -- resnet50 -------------------------------------------------------------------------------------------------------
GENOME = {"unfreeze": 0, "dense_units": 64, "dropout": 0.2, "learning_rate": 1e-3, "finetune_lr_factor": 0.1,
          "batch_size": 32}
LAST_8_BLOCKS = {"conv5_block1", "conv5_block2", "conv5_block3", *(f"conv4_block{i}" for i in range(2, 7))}


def _trainable_names(model):
    backbone = resnet50.backbone_of(model)
    return {layer.name for layer in backbone.layers if layer.weights and layer.trainable}


def test_unfreeze_controls_exactly_which_backbone_blocks_train():
    counts = []
    for unfreeze in (0, 1, 8, 16, resnet50.UNFREEZE_ALL):
        model = resnet50.SPACE.build(dict(GENOME, unfreeze=unfreeze), (32, 32, 3), 4)
        backbone = resnet50.backbone_of(model)
        assert isinstance(backbone, keras.Model) and backbone is model.get_layer("resnet50")
        names = _trainable_names(model)
        trainable, frozen = resnet50.trainable_split(model)
        assert trainable == len(names)
        if unfreeze == 0:
            assert not backbone.trainable_weights and trainable == 0
        elif unfreeze == 8:
            trained = (layer.name for layer in backbone.layers if layer.weights)
            assert names == {n for n in trained if n[:12] in LAST_8_BLOCKS}
            assert "conv5_block3_3_conv" in names and "conv4_block1_1_conv" not in names
        elif unfreeze == resnet50.UNFREEZE_ALL:
            assert all(layer.trainable for layer in backbone.layers) and frozen == 0
            assert not backbone.non_trainable_weights or all("moving" in w.path for w in backbone.non_trainable_weights)
        counts.append(len(model.trainable_weights))
        keras.backend.clear_session()
    assert counts == sorted(set(counts))  # strictly increasing


def test_small_grayscale_input_is_upsampled_and_tiled():
    model = resnet50.SPACE.build(dict(GENOME, dense_units=0), (16, 16, 1), 3)
    assert tuple(model.get_layer("upsample").output.shape) == (None, 32, 32, 1)
    _check_softmax(model, (16, 16, 1), 3)


def test_model_applies_caffe_preprocessing_to_unit_images():
    model = resnet50.SPACE.build(GENOME, (32, 32, 3), 2)
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype="float32")
    prepared = keras.Model(model.input, model.get_layer("caffe_preprocess").output)(images)
    expected = keras.applications.resnet50.preprocess_input(images * 255.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(prepared), expected, atol=1e-3)


def test_compile_scales_learning_rate_only_when_fine_tuning():
    model = resnet50.SPACE.build(GENOME, (32, 32, 3), 2)
    for unfreeze, rate in ((0, 1e-3), (5, 1e-4)):
        resnet50.SPACE.compile(model, dict(GENOME, unfreeze=unfreeze))
        assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(rate, rel=1e-6)
    assert resnet50.SPACE.hash(dict(GENOME, finetune_lr_factor=0.5)) == resnet50.SPACE.hash(GENOME)
    assert resnet50.SPACE.hash(dict(GENOME, unfreeze=3)) != resnet50.SPACE.hash(dict(GENOME, unfreeze=3,
                                                                                        finetune_lr_factor=0.5))


def test_local_weights_file_loads_and_keeps_batch_norm_frozen(tmp_path):
    source = resnet50.backbone_of(resnet50.SPACE.build(GENOME, (32, 32, 3), 2))
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    expected = keras.ops.convert_to_numpy(source.get_layer("conv5_block3_3_conv").kernel)
    keras.backend.clear_session()

    space = resnet50.space(weights=path)
    assert space.to_config()["weights"] == str(path) and resnet50.SPACE.to_config()["weights"] is None
    model = space.build(dict(GENOME, unfreeze=resnet50.UNFREEZE_ALL), (32, 32, 3), 2)
    backbone = resnet50.backbone_of(model)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(backbone.get_layer("conv5_block3_3_conv").kernel),
                                  expected)
    bn = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and not any(layer.trainable for layer in bn)
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert resnet50.trainable_split(model) == (len(convs), len(bn))


def test_bad_weights_settings_are_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        resnet50.space(weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ConfigError, match=r"\.h5"):
        resnet50.space(weights=tmp_path / "weights.txt")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="imagenet"):
        resnet50.space(weights="imagenet")


def test_get_resolves_spaces_by_name():
    assert search_spaces.get("cnn") is cnn.SPACE
    assert search_spaces.get("resnet50").to_config()["name"] == "resnet50"
    with pytest.raises(ConfigError, match="cnn, resnet50"):
        search_spaces.get("vgg")
    with pytest.raises(ConfigError, match="weights"):
        search_spaces.get("resnet50", weight=None)
