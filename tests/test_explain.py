"""Grad-CAM (nas.explain) on real models at tiny sizes: heatmap shape and range, agreement with CAM, nested backbones
(ResNet-50 included), random cnn genomes, faithfulness against random maps on a trained model, panels, the CLI."""
from __future__ import annotations

import json
import random
import weakref

import numpy as np
import pytest
from PIL import Image

import nas
from nas import explain
from nas.cli import main
from nas.errors import ConfigError, DataError
from search_spaces import cnn, resnet50


@pytest.fixture(scope="module")
def lesions():
    return nas.data.synthetic_lesions(n=420, image_size=24, seed=0)


@pytest.fixture(scope="module")
def trained(lesions):
    """A small cnn trained briefly (5 epochs, ~40% test accuracy on 7 classes) on synthetic lesions."""
    genome = dict(cnn.TABLE1, filters_1=16, filters_2=32, dense_units=64, padding="same")
    return nas.training.train(genome, space=cnn.SPACE, data=lesions, budget=nas.Budget(epochs=5), seed=0)


def _toy():
    """A conv model as one flat graph, and the same layers with the convolutions inside a nested model."""
    import keras

    keras.utils.set_random_seed(0)
    convs = [keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a"),
             keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_b")]
    rescale = keras.layers.Rescaling(2.0, offset=-1.0)
    pool = keras.layers.GlobalAveragePooling2D()
    dense = keras.layers.Dense(5, activation="softmax")
    inner_input = keras.Input((12, 12, 3))
    inner = keras.Model(inner_input, convs[1](convs[0](inner_input)), name="backbone")
    outer_input = keras.Input((12, 12, 3))
    nested = keras.Model(outer_input, dense(pool(inner(rescale(outer_input)))), name="nested")
    flat_input = keras.Input((12, 12, 3))
    flat = keras.Model(flat_input, dense(pool(convs[1](convs[0](rescale(flat_input))))), name="flat")
    return flat, nested, convs[1], dense


def test_heatmaps_have_the_input_shape_and_lie_in_0_1(lesions):
    model = cnn.build(cnn.TABLE1, lesions.input_shape, lesions.num_classes)
    for method in explain.METHODS:
        heatmaps = explain.gradcam(model, lesions.x_test[:6], method=method)
        assert heatmaps.shape == (6, 24, 24) and heatmaps.dtype == np.float32
        assert heatmaps.min() >= 0 and heatmaps.max() <= 1
        assert np.allclose(heatmaps.max(axis=(1, 2))[heatmaps.max(axis=(1, 2)) > 0], 1)
    single = explain.gradcam(model, lesions.x_test[0])
    assert single.shape == (1, 24, 24)
    np.testing.assert_allclose(single[0], explain.gradcam(model, lesions.x_test[:6])[0], atol=1e-5)


def test_gradcam_of_a_global_pooling_head_is_the_class_activation_map():
    # For conv -> global average pooling -> dense, the logit's gradient is the dense weight over the map's area, so
    # Grad-CAM must reduce to CAM (Zhou et al. 2016): relu(sum_k w_kc A_k), scaled to its peak.
    flat, nested, _, dense = _toy()
    x = np.random.default_rng(1).random((4, 12, 12, 3), dtype=np.float32)
    features = np.asarray(nested.get_layer("backbone")(x * 2 - 1))
    classes = np.array([0, 3, 4, 1])
    kernel = np.asarray(dense.kernel)
    cam = np.maximum(np.einsum("nhwc,cn->nhw", features, kernel[:, classes]), 0)
    cam /= cam.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(explain.gradcam(flat, x, class_index=classes), cam, atol=1e-4)


def test_a_nested_backbone_gives_the_same_heatmaps_as_the_flat_model():
    flat, nested, _, _ = _toy()
    assert explain.feature_layer(nested).name == "conv_b"
    x = np.random.default_rng(2).random((5, 12, 12, 3), dtype=np.float32)
    for method in explain.METHODS:
        expected = explain.gradcam(flat, x, method=method)
        assert expected.std() > 0.05  # a real map, not a constant one
        np.testing.assert_allclose(explain.gradcam(nested, x, method=method), expected, atol=1e-5)
        np.testing.assert_allclose(explain.gradcam(nested, x, class_index=2, method=method),
                                   explain.gradcam(flat, x, class_index=2, method=method), atol=1e-5)


def test_resnet50_nested_in_the_space_model(lesions):
    genome = {"unfreeze": 0, "dense_units": 0, "dropout": 0.0, "learning_rate": 1e-3, "finetune_lr_factor": 1.0,
              "batch_size": 16}
    model = resnet50.build(genome, (32, 32, 3), 7)
    assert explain.feature_layer(model).name == "conv5_block3_out"  # found inside the nested "resnet50" model
    x = nas.data.synthetic_lesions(n=21, image_size=32, seed=0).x_train[:3]
    heatmaps = explain.gradcam(model, x)
    assert heatmaps.shape == (3, 32, 32) and heatmaps.min() >= 0 and heatmaps.max() <= 1
    # conv5 is 1x1 at 32 px; conv4's 2x2 map shows that the gradient really reaches inside the backbone.
    finer = explain.gradcam(model, x, layer="conv4_block6_out", method="gradcam++")
    assert finer.shape == (3, 32, 32) and finer.max() == pytest.approx(1) and finer.std() > 0.01


def test_every_sampled_cnn_genome_is_explained():
    rng = random.Random(3)
    shape = (16, 16, 3)
    genomes = [cnn.SPACE.repair(cnn.SPACE.sample(rng), shape) for _ in range(5)]
    genomes += [dict(cnn.TABLE1, batch_norm=True, head="global_avg"), dict(cnn.TABLE1, blocks=4, padding="same")]
    assert {g["batch_norm"] for g in genomes} == {False, True} and {g["head"] for g in genomes} == {"flatten",
                                                                                                   "global_avg"}
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    for genome in genomes:
        model = cnn.build(cnn.SPACE.repair(genome, shape), shape, 7)
        layer = explain.feature_layer(model)
        assert layer.name.startswith(f"block{cnn.SPACE.repair(genome, shape)['blocks']}_")
        assert ("_bn" in layer.name) == genome["batch_norm"]
        heatmaps = explain.gradcam(model, x, method="gradcam++")
        assert heatmaps.shape == (2, 16, 16) and np.all((heatmaps >= 0) & (heatmaps <= 1))


def test_threads_share_one_gradient_function_which_does_not_keep_the_model_alive():
    import gc
    from concurrent.futures import ThreadPoolExecutor

    model = cnn.build(dict(cnn.TABLE1, filters_1=8, filters_2=8, dense_units=32), (16, 16, 3), 7)
    x = np.random.default_rng(4).random((3, 16, 16, 3), dtype=np.float32)
    with ThreadPoolExecutor(4) as pool:  # as a web server's request threads would, on a model not explained yet
        results = list(pool.map(lambda _: explain.gradcam(model, x), range(4)))  # noqa: F821 - del-ed below
    for heatmaps in results[1:]:
        np.testing.assert_allclose(heatmaps, results[0], atol=1e-6)
    assert len(explain._CACHE[model]) == 1
    explain.deletion_auc(model, x, results[0], steps=2)
    assert set(explain._CACHE[model]) == {(id(explain.feature_layer(model)), "gradcam"), "forward"}
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_a_model_without_convolution_is_refused_clearly():
    import keras

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ConfigError, match="no convolutional layer"):
        explain.gradcam(model, np.zeros((1, 8, 8, 3), np.float32))
    conv = cnn.build(cnn.TABLE1, (16, 16, 3), 7)
    with pytest.raises(ConfigError, match="no layer 'nope'.*block2_conv2"):
        explain.gradcam(conv, np.zeros((1, 16, 16, 3), np.float32), layer="nope")
    with pytest.raises(ConfigError, match="no 4-D output"):
        explain.gradcam(conv, np.zeros((1, 16, 16, 3), np.float32), layer="dense")
    with pytest.raises(DataError, match=r"read_image\(path, size=\(height, width\)\)"):
        explain.gradcam(conv, np.zeros((1, 20, 20, 3), np.float32))
    with pytest.raises(DataError, match="divide 0-255 values by 255"):
        explain.gradcam(conv, np.full((1, 16, 16, 3), 200.0, np.float32))
    with pytest.raises(ConfigError, match="class_index"):
        explain.gradcam(conv, np.zeros((2, 16, 16, 3), np.float32), class_index=7)


def test_heatmaps_of_a_trained_model_fall_on_the_lesion_more_than_random_maps(trained, lesions):
    x = np.concatenate([lesions.x_val, lesions.x_test])
    masks = np.concatenate([lesions.masks_val, lesions.masks_test])
    heatmaps = explain.gradcam(trained, x)
    random_maps = explain.random_heatmaps(heatmaps.shape, seed=0)
    energy, chance = np.nanmean(explain.energy_in_mask(heatmaps, masks)), explain.energy_in_mask(random_maps, masks)
    # Measured over 5 data and training seeds: 1.94-2.28 times the random maps' share (which is the masks' area).
    assert chance.mean() == pytest.approx(masks.mean(), abs=0.01)
    assert energy > 1.5 * chance.mean()
    assert explain.pointing_game(heatmaps, masks).mean() > 2 * explain.pointing_game(random_maps, masks).mean()


def test_deleting_the_heatmaps_pixels_first_lowers_the_probability_faster_than_random_order(trained, lesions):
    x = np.concatenate([lesions.x_val, lesions.x_test])
    heatmaps = explain.gradcam(trained, x)
    ours = explain.deletion_auc(trained, x, heatmaps)
    chance = explain.deletion_auc(trained, x, explain.random_heatmaps(heatmaps.shape, seed=0))
    assert ours.shape == (len(x),) and np.all((ours >= 0) & (ours <= 1))
    # Measured over 5 seeds: the mean area is 0.85-0.89 of random order's, and lower on 79-97% of the images.
    assert ours.mean() < 0.95 * chance.mean()
    assert np.mean(ours < chance) > 0.6


def test_faithfulness_report_and_its_building_blocks(trained, lesions):
    x, masks = lesions.x_test[:20], lesions.masks_test[:20]
    report = explain.evaluate_faithfulness(trained, x, masks, method="gradcam++", steps=8, baseline="mean")
    assert report["images"] == 20 and report["method"] == "gradcam++" and report["layer"] == "block2_conv2"
    for key in ("deletion_auc", "insertion_auc", "energy_in_mask", "pointing_game"):
        assert set(report[key]) == {"heatmap", "random", "standard_error"}
        assert all(0 <= v <= 1 for v in report[key].values())
    assert "energy_in_mask" in report["better_than_random"]  # twice the random share, see the test above
    assert report["mask_fraction"] == pytest.approx(masks.mean())
    json.dumps(report)
    # Deleting everything leaves the baseline image; revealing everything gives back the original prediction.
    probabilities = nas.training.predict(trained, x[:3])
    predicted = probabilities.argmax(axis=1)
    curves = explain._curves(trained, x[:3], np.ones((3, 24, 24)), None, insert=True, steps=4, baseline="blur",
                             seed=0)
    np.testing.assert_allclose(curves[:, -1], probabilities[np.arange(3), predicted], atol=1e-5)
    blurred = explain._baseline_images(x[:3], "blur")
    baseline_probabilities = nas.training.predict(trained, blurred)[np.arange(3), predicted]
    np.testing.assert_allclose(curves[:, 0], baseline_probabilities, atol=1e-5)
    # Energy and pointing game on hand-made maps.
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True
    heatmap = np.zeros((1, 4, 4))
    heatmap[0, 0, 0], heatmap[0, 3, 3] = 3, 1
    assert explain.energy_in_mask(heatmap, mask)[0] == pytest.approx(0.75)
    assert explain.pointing_game(heatmap, mask)[0] and not explain.pointing_game(heatmap[:, ::-1, ::-1], mask)[0]
    near = np.roll(mask, 1, axis=(1, 2))  # rows and columns 1-2; the peak at (3, 3) is one diagonal step away
    assert not explain.pointing_game(heatmap[:, ::-1, ::-1], near, tolerance=1)[0]
    assert explain.pointing_game(heatmap[:, ::-1, ::-1], near, tolerance=2)[0]
    assert np.isnan(explain.energy_in_mask(np.zeros((1, 4, 4)), mask)[0])
    with pytest.raises(DataError, match="masks of shape"):
        explain.energy_in_mask(heatmap, mask[:, :2])


def test_overlay_and_panel(tmp_path, lesions):
    image, heatmap = lesions.x_test[0], np.linspace(0, 1, 24 * 24, dtype=np.float32).reshape(24, 24)
    mixed = explain.overlay(image, heatmap)
    assert mixed.shape == (24, 24, 3) and mixed.dtype == np.uint8
    assert not np.array_equal(mixed, np.round(image * 255).astype(np.uint8))
    big = explain.overlay(np.zeros((60, 90), np.uint8), heatmap)  # grayscale photo, heatmap resized to it
    assert big.shape == (60, 90, 3)
    assert big[59, 89, 2] < big[59, 89, 0]  # the peak corner is red in "jet"; the cold corner is blue
    assert big[0, 0, 2] > big[0, 0, 0]
    names = nas.data.LESION_CLASSES
    p = np.full(7, 0.05)
    p[names.index("mel")] = 0.7
    title = explain.caption(names, p, names.index("nv"))
    assert title == "Melanoma (mel): 70%, malignant; heatmap for Melanocytic nevus (nv) (5%)"
    assert explain.caption(["cat", "dog"], [0.2, 0.8]) == "dog: 80%"
    path = explain.save_panel(tmp_path / "sub" / "panel.png", image, heatmap, title)
    with Image.open(path) as panel:
        assert panel.format == "PNG" and panel.width > 2.5 * panel.height


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=2, generations=1,
                      executor="inline", run_dir=tmp_path_factory.mktemp("explain") / "run", seed=0, verbose=False)


def test_cli_explains_images_and_reports_unreadable_ones(tiny_run, tmp_path, capsys):
    picture = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "mole.jpg")
    rgba = np.dstack([picture[:40, :40], np.full((40, 40), 128, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "transparent.png")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    status = main(["explain", str(tiny_run.path), str(tmp_path / "mole.jpg"), str(tmp_path / "broken.png"),
                   str(tmp_path / "transparent.png")])
    out, err = capsys.readouterr()
    assert status == 2
    assert "broken.png: not an image" in err and err.count("skipped") == 1
    written = sorted(p.name for p in (tiny_run.path / "explain").iterdir())
    assert written == ["mole.png", "transparent.png"]
    assert out.count("-> ") == 2 and ("malignant" in out or "benign" in out)
    with Image.open(tiny_run.path / "explain" / "mole.png") as panel:
        assert panel.width > 2.5 * panel.height

    status = main(["explain", str(tiny_run.path), str(tmp_path / "mole.jpg"), "--out", str(tmp_path / "out"),
                   "--class", "vasc", "--method", "gradcam++"])
    out, _ = capsys.readouterr()
    assert status == 0 and (tmp_path / "out" / "mole.png").is_file()
    assert "Vascular lesion (vasc)" in out

    assert main(["explain", str(tiny_run.path), str(tmp_path / "mole.jpg"), "--class", "cat"]) == 2
    assert "--class cat: not a class of this run" in capsys.readouterr().err
    assert main(["explain", str(tiny_run.path)]) == 2
    assert "give one or more IMAGE files" in capsys.readouterr().err


def test_cli_evaluate_writes_faithfulness_json(tiny_run, capsys):
    assert main(["explain", str(tiny_run.path), "--evaluate", "--limit", "10"]) == 0
    out, _ = capsys.readouterr()
    assert "deletion AUC" in out and "energy in mask" in out and "pointing game" in out
    report = json.loads((tiny_run.path / "explain" / "faithfulness.json").read_text())
    assert report["images"] == 10 and report["split"] == "test"
    assert set(report["deletion_auc"]) == {"heatmap", "random", "standard_error"}
