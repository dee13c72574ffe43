"""Tests of nas.recipe and the pipeline stages it asks for: schedule, label smoothing, focal loss, MixUp/CutMix,
oversampling, colour jitter, and the recipe flags of ``nas baseline``."""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import numpy as np
import pytest

from nas import cli
from nas import data as D
from nas.augment import Augmentation, mix_batch, pipeline
from nas.epochtime import TrainingTimeLimit
from nas.errors import ConfigError
from nas.recipe import Recipe, cosine
from nas.retrain import fit


@pytest.fixture(scope="module")
def lesions():
    return D.synthetic_lesions(n=140, image_size=16, seed=1)


def _small_model(data, seed: int = 0):
    import keras
    from search_spaces import cnn

    keras.utils.set_random_seed(seed)
    genome = cnn.SPACE.repair({**cnn.TABLE1, "filters_1": 8, "filters_2": 8, "dense_units": 32,
                               "learning_rate": 0.01}, data.input_shape)
    model = cnn.SPACE.build(genome, data.input_shape, data.num_classes)
    cnn.SPACE.compile(model, genome)
    return model


def test_the_plain_recipe_is_the_retrain_before_recipes(lesions):
    """Recipe.plain() trains exactly as fit did before recipes: the same pipeline, class weights and early stopping."""
    import keras

    augmentation = Augmentation()
    ours = fit(_small_model(lesions), lesions, epochs=2, batch_size=16, seed=3, augmentation=augmentation,
               verbose=False, recipe=Recipe.plain())
    model = _small_model(lesions)
    keras.utils.set_random_seed(3)
    train = pipeline(lesions.x_train, lesions.y_train, batch_size=16, training=True, augmentation=augmentation,
                     seed=3)
    val = pipeline(lesions.x_val, lesions.y_val, batch_size=16, training=False)
    plain = model.fit(train, validation_data=val, epochs=2, verbose=0, shuffle=False,
                      class_weight=lesions.class_weights(),
                      callbacks=[keras.callbacks.TerminateOnNaN(), keras.callbacks.EarlyStopping(
                          monitor="val_loss", patience=5, restore_best_weights=True)]).history
    assert set(ours["history"]) == set(plain) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in plain.items():
        assert ours["history"][key] == pytest.approx(values, rel=1e-5), key
    keras.backend.clear_session()


def test_stopping_on_balanced_accuracy_keeps_the_epoch_with_the_best_validation_mean_recall(lesions):
    """stop_on="balanced_accuracy" logs the validation split's mean recall after every epoch, as predicting the kept
    model on the validation split measures it, and the kept epoch is that curve's best."""
    from nas.training import balanced_accuracy, predict

    model = _small_model(lesions)
    result = fit(model, lesions, epochs=4, batch_size=16, seed=0, patience=4, verbose=False,
                 recipe=Recipe(stop_on="balanced_accuracy"))
    curve = result["history"]["val_balanced_accuracy"]
    assert len(curve) == result["epochs_run"] == 4 and all(0.0 <= v <= 1.0 for v in curve)
    assert result["best_epoch"] == int(np.argmax(curve)) + 1
    kept = balanced_accuracy(lesions.y_val, np.argmax(predict(model, lesions.x_val), axis=1))
    assert kept == pytest.approx(max(curve))
    assert Recipe().monitor == ("val_loss", "min")
    assert Recipe(stop_on="balanced_accuracy").monitor == ("val_balanced_accuracy", "max")


def test_the_cosine_schedule_decays_the_learning_rate_every_epoch(lesions):
    model = _small_model(lesions)
    result = fit(model, lesions, epochs=4, batch_size=32, seed=0, patience=4, verbose=False,
                 recipe=Recipe(schedule="cosine"))
    rates = result["history"]["learning_rate"]  # what the optimizer held, read back at each epoch's end
    assert rates == pytest.approx([0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)], rel=1e-5)
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)  # the model leaves with its own rate
    assert model.loss == "sparse_categorical_crossentropy"
    warm = Recipe(schedule="cosine", warmup_epochs=2)
    assert [warm.learning_rate(e, 6, 1.0) for e in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert cosine(5, 6, 1.0, warmup=2) == pytest.approx((1 + math.cos(math.pi * 3 / 4)) / 2)
    assert Recipe.plain().learning_rate(3, 6, 0.5) == 0.5


def test_a_time_limit_starts_no_epoch_expected_to_end_past_it(lesions):
    import keras

    class Slow(keras.callbacks.Callback):  # every epoch takes at least EPOCH seconds
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(EPOCH)

    EPOCH, seconds = 0.25, 2.0
    model = _small_model(lesions)
    limit = TrainingTimeLimit(seconds, epochs=50)
    history = model.fit(lesions.x_train, lesions.y_train, epochs=50, verbose=0, callbacks=[Slow(), limit])
    assert limit.stopped and 1 <= len(history.epoch) <= seconds / EPOCH  # 50 epochs would take 12.5 s
    assert limit.epochs == 50  # without a schedule to follow it there is no plan


@pytest.mark.parametrize("plan, epochs_run", [(False, 6), (True, 3)])
def test_a_time_limit_stops_where_the_epochs_it_timed_say(lesions, plan, epochs_run):
    # a scripted clock: the first epoch ends at 0.6 s (tracing), then one every 0.25 s. After the sixth, at 1.85 s,
    # another would end at 2.1 s, past the 2 s limit; with a plan, 2 s holds three epochs as long as the first.
    ends = iter([0.0, 0.0] + [0.6 + 0.25 * epoch for epoch in range(50)])
    limit = TrainingTimeLimit(2.0, epochs=50, plan=plan, clock=lambda: next(ends))
    history = _small_model(lesions).fit(lesions.x_train[:8], lesions.y_train[:8], epochs=50, verbose=0,
                                        callbacks=[limit])
    assert limit.stopped and len(history.epoch) == epochs_run
    assert limit.epochs == (3 if plan else 50)


def test_a_time_limited_cosine_schedule_decays_over_the_epochs_that_fit(lesions):
    model = _small_model(lesions)
    fit(model, lesions, epochs=1, batch_size=32, seed=0, verbose=False)  # traced: the limit times epochs
    result = fit(model, lesions, epochs=40, batch_size=32, seed=0, patience=40, verbose=False,
                 recipe=Recipe(schedule="cosine", max_seconds=3.0))
    planned, rates = result["epochs_planned"], result["history"]["learning_rate"]
    assert result["stopped_by_time_limit"] and 1 <= result["epochs_run"] <= planned < 40
    assert rates == pytest.approx([0.01 * (1 + math.cos(math.pi * e / planned)) / 2 for e in range(len(rates))],
                                  rel=1e-5)
    unlimited = fit(_small_model(lesions), lesions, epochs=2, batch_size=32, seed=0, patience=2, verbose=False)
    assert "stopped_by_time_limit" not in unlimited and unlimited["epochs_run"] == 2


def _constant_model(probabilities: np.ndarray):
    """A model that answers ``probabilities`` for any 4x4 image, compiled as a search space compiles."""
    import keras

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(len(probabilities), activation="softmax", kernel_initializer="zeros",
                                                 bias_initializer=keras.initializers.Constant(np.log(probabilities)))])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("recipe", [Recipe(label_smoothing=0.2), Recipe(focal_gamma=2.0),
                                    Recipe(focal_gamma=1.0, label_smoothing=0.1)], ids=["smoothing", "focal", "both"])
def test_label_smoothing_and_focal_loss_give_the_expected_loss(recipe):
    p = np.array([0.7, 0.2, 0.1])
    y = np.array([0, 1, 2, 0])
    model = _constant_model(p)
    k, s, gamma = len(p), recipe.label_smoothing, recipe.focal_gamma
    targets = (1 - s) * np.eye(k)[y] + s / k
    expected = np.mean(-np.sum(targets * (1 - p) ** gamma * np.log(p), axis=1))
    x = np.zeros((4, 4, 4, 3), dtype="float32")
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    with recipe.training(model, epochs=1):
        ours = model.evaluate(x, np.eye(k, dtype="float32")[y], verbose=0, return_dict=True)
    assert ours["loss"] == pytest.approx(expected, rel=1e-4)
    assert plain["loss"] == pytest.approx(np.mean(-np.log(p[y])), rel=1e-4) != pytest.approx(expected, rel=1e-2)
    assert ours["accuracy"] == plain["accuracy"] == 0.5  # "accuracy" keeps its name and meaning on one-hot labels
    assert model.loss == "sparse_categorical_crossentropy"  # compiled again as it came


def _two_tone(n: int = 16, size: int = 8):
    """Class-0 images all black, class-1 images all white: the mean of a mixed image is its class-1 share."""
    y = np.arange(n) % 2
    x = np.broadcast_to(y[:, None, None, None], (n, size, size, 3)).astype("float32")
    return x, y


@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)], ids=["mixup", "cutmix", "both"])
def test_mixup_and_cutmix_mix_labels_as_they_mix_pixels(mixup, cutmix):
    x, y = _two_tone()
    batches = list(pipeline(x, y, batch_size=16, training=True, seed=1, num_classes=2, mixup=mixup, cutmix=cutmix)
                   .as_numpy_iterator())
    images, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    assert images.min() >= 0 and images.max() <= 1 and images.shape == x.shape and labels.shape == (16, 2)
    assert labels.sum(axis=1) == pytest.approx(np.ones(16), abs=1e-6)
    assert images.mean(axis=(1, 2, 3)) == pytest.approx(labels[:, 1], abs=1e-5)
    assert np.sum((labels > 0.01) & (labels < 0.99)) >= 4  # some images were mixed with the other class
    if not mixup:  # CutMix pastes pixels, it never blends them
        assert set(np.unique(images)) <= {0.0, 1.0}


def test_mix_probability_zero_leaves_one_hot_labels():
    import tensorflow as tf

    x, y = _two_tone()
    images, labels = mix_batch(tf.constant(x), tf.one_hot(y, 2), mixup=0.4, cutmix=1.0, probability=0.0,
                               generator=tf.random.Generator.from_seed(0))
    assert np.array_equal(labels.numpy(), np.eye(2)[y]) and np.array_equal(images.numpy(), x)


def test_oversampling_balances_every_epoch():
    y = np.repeat([0, 1, 2], [20, 5, 3])
    x = np.arange(len(y), dtype="float32")[:, None, None, None] * np.ones((1, 2, 2, 1), "float32")
    batches = pipeline(x, y, batch_size=7, training=True, seed=0, balanced=True)
    assert int(batches.cardinality()) == 5  # Keras knows the epoch's length
    epochs = [list(batches.as_numpy_iterator()) for _ in range(2)]
    for epoch in epochs:
        labels = np.concatenate([b[1] for b in epoch])
        images = np.concatenate([b[0] for b in epoch])[:, 0, 0, 0].astype(int)
        assert np.bincount(labels).tolist() == [10, 10, 10]
        assert np.array_equal(y[images], labels)  # images keep their labels
        assert set(images[labels == 2]) == {25, 26, 27}  # the rarest class: every image, repeated
    assert not np.array_equal(epochs[0][0][1], epochs[1][0][1])  # a fresh draw every epoch


def test_color_jitter_changes_colours_within_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, size=(32, 8, 8, 3)).astype("float32")
    index = np.arange(32)  # as labels: the pipeline shuffles, the labels tell each image's place

    def jittered(**colour):
        batches = pipeline(x, index, batch_size=32, training=True, seed=0, augmentation=Augmentation(
            rotation=0.0, horizontal_flip=False, vertical_flip=False, zoom=0.0, brightness=0.0, **colour))
        images, labels = next(batches.as_numpy_iterator())
        return images[np.argsort(labels)]

    both = jittered(hue=0.1, saturation=0.5, contrast=0.5)
    assert both.min() >= 0 and both.max() <= 1 and np.abs(both - x).mean() > 0.01
    hue = jittered(hue=0.2)  # a hue turn keeps each pixel's brightest and darkest channel, and moves the others
    assert hue.max(axis=-1) == pytest.approx(x.max(axis=-1), abs=1e-5)
    assert hue.min(axis=-1) == pytest.approx(x.min(axis=-1), abs=1e-5)
    assert np.abs(hue - x).max() > 0.02
    saturation = jittered(saturation=0.5)  # saturation keeps the brightest channel and moves the darkest
    assert saturation.max(axis=-1) == pytest.approx(x.max(axis=-1), abs=1e-5)
    assert np.abs(saturation.min(axis=-1) - x.min(axis=-1)).max() > 0.02
    contrast = jittered(contrast=0.5)  # contrast scales around each image's channel means, which stay
    assert contrast.mean(axis=(1, 2)) == pytest.approx(x.mean(axis=(1, 2)), abs=1e-5)
    assert not np.allclose(contrast.std(axis=(1, 2)), x.std(axis=(1, 2)), rtol=0.01)
    with pytest.raises(ConfigError, match="need RGB images"):
        pipeline(x[..., :1], index, batch_size=4, training=True, augmentation=Augmentation(hue=0.1))


def test_camera_jitter_casts_and_blurs_each_image_within_range():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, size=(32, 16, 16, 3)).astype("float32")
    index = np.arange(32)

    def jittered(**camera):
        batches = pipeline(x, index, batch_size=32, training=True, seed=0,
                           augmentation=replace(Augmentation.none(), **camera))
        images, labels = next(batches.as_numpy_iterator())
        return images[np.argsort(labels)]

    cast = jittered(white_balance=0.2)  # every channel scaled by one gain per image, at most 20% either way
    gains = cast.mean(axis=(1, 2)) / x.mean(axis=(1, 2))
    assert cast == pytest.approx(x * gains[:, None, None, :], abs=1e-5)
    assert gains.min() >= 0.8 - 1e-5 and gains.max() <= 1.2 + 1e-5 and gains.std() > 0.05
    assert np.abs(gains[:, 0] - gains[:, 2]).max() > 0.05  # the channels change apart: a cast, not brightness
    blurred = jittered(blur=1 / 8)  # blurring keeps the mean and takes detail, by a different amount per image
    detail = np.abs(np.diff(blurred, axis=2)).mean(axis=(1, 2, 3)) / np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    assert blurred.min() >= 0 and blurred.max() <= 1
    assert blurred.mean(axis=(1, 2)) == pytest.approx(x.mean(axis=(1, 2)), abs=0.03)
    assert detail.max() < 1 and detail.min() < 0.5 and detail.max() - detail.min() > 0.3
    with pytest.raises(ConfigError, match=r"Augmentation.blur must be a number in \[0, 1\), got 1.5"):
        Augmentation(blur=1.5)


@pytest.mark.parametrize("values, message", [
    ({"schedule": "step"}, "Recipe.schedule must be one of constant, cosine, got 'step'"),
    ({"balance": "undersample"}, "Recipe.balance must be one of weights, oversample, none"),
    ({"label_smoothing": 1.0}, r"Recipe.label_smoothing must be a number in \[0, 1\), got 1.0"),
    ({"mixup": -0.2}, "Recipe.mixup must be a number >= 0"),
    ({"cutmix": float("nan")}, "Recipe.cutmix must be a number >= 0"),
    ({"mix_probability": 1.5}, r"Recipe.mix_probability must be a number in \[0, 1\]"),
    ({"focal_gamma": True}, "Recipe.focal_gamma must be a number"),
    ({"stop_on": "accuracy"}, "Recipe.stop_on must be one of loss, balanced_accuracy, got 'accuracy'"),
    ({"warmup_epochs": 2, "schedule": "constant"}, "warmup_epochs needs schedule='cosine'"),
    ({"warmup_epochs": 1.5, "schedule": "cosine"}, "Recipe.warmup_epochs must be a whole number"),
    ({"max_seconds": 0}, "Recipe.max_seconds must be a number of seconds above 0 or None, got 0"),
    ({"max_seconds": "20m"}, "Recipe.max_seconds must be a number of seconds above 0 or None, got '20m'"),
    ({"max_seconds": True}, "Recipe.max_seconds must be a number of seconds above 0"),
    ({"max_seconds": float("inf")}, "Recipe.max_seconds must be a number of seconds above 0"),
])
def test_bad_recipes_are_clear_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        Recipe(**values)


def test_recipe_round_trip_and_other_errors(lesions):
    recipe = Recipe(schedule="cosine", warmup_epochs=1, label_smoothing=0.1, mixup=0.2, balance="oversample")
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    with pytest.raises(ConfigError, match=r"unknown Recipe fields \['mix'\]"):
        Recipe.from_dict({"mix": 1})
    assert Recipe() == Recipe(schedule="constant", balance="oversample")  # the best row clinical.py measured
    assert Recipe().with_class_weighted(False).balance == "none"
    assert Recipe.plain().with_class_weighted(False).balance == "none"
    assert Recipe(balance="weights").with_class_weighted(True).balance == "weights"
    with pytest.raises(ConfigError, match=r"Augmentation.hue must be a number in \[0, 0.5\], got 0.6"):
        Augmentation(hue=0.6)
    with pytest.raises(ConfigError, match="give num_classes"):
        pipeline(lesions.x_val, lesions.y_val, batch_size=8, training=True, mixup=0.2)
    with pytest.raises(ConfigError, match=r"warmup_epochs \(2\) must be fewer than epochs \(2\)"):
        fit(_small_model(lesions), lesions, epochs=2, batch_size=32, seed=0, verbose=False,
            recipe=Recipe(schedule="cosine", warmup_epochs=2))


def test_baseline_command_with_recipe_flags(tmp_path, capsys):
    run_dir = tmp_path / "baselines"
    flags = ["--schedule", "cosine", "--label-smoothing", "0.1", "--mixup", "0.2", "--cutmix", "1.0",
             "--balance", "oversample", "--focal-gamma", "2", "--color-jitter", "0.1", "--stop-on",
             "balanced-accuracy", "--max-seconds", "20m", "--camera-jitter", "0.15,0.025"]
    assert cli.main(["baseline", "--model", "table1", "--data", "synthetic:70", "--image-size", "16", "--run-dir",
                     str(run_dir), "--epochs", "2", "--patience", "2", "--quiet", *flags]) == 0
    settings = json.loads((run_dir / "baselines.json").read_text())
    assert settings["settings"]["recipe"] == Recipe(schedule="cosine", label_smoothing=0.1, mixup=0.2, cutmix=1.0,
                                                    balance="oversample", focal_gamma=2.0,
                                                    stop_on="balanced_accuracy", max_seconds=1200.0).to_dict()
    assert settings["models"]["table1"]["stopped_by_time_limit"] is False
    assert settings["settings"]["class_weighted"] is False
    assert settings["settings"]["augmentation"] == Augmentation(
        hue=0.05, saturation=0.1, contrast=0.1, white_balance=0.15, blur=0.025).to_dict()
    rates = settings["models"]["table1"]["history"]["learning_rate"]
    assert len(rates) == 2 and rates[1] < rates[0] == pytest.approx(1e-3)
    capsys.readouterr()
    for bad, message in ((["--no-class-weights", "--balance", "oversample"], "contradicts --balance oversample"),
                         (["--color-jitter", "0.1,0.2"], "--color-jitter takes S or HUE,SATURATION,CONTRAST"),
                         (["--camera-jitter", "0.1"], "--camera-jitter takes WHITE_BALANCE,BLUR numbers, got '0.1'"),
                         (["--camera-jitter", "0.1,1"], "Augmentation.blur must be a number in [0, 1), got 1.0"),
                         (["--label-smoothing", "1.5"], "Recipe.label_smoothing must be a number in [0, 1)")):
        assert cli.main(["baseline", "--model", "table1", "--data", "synthetic:70", "--image-size", "16",
                         "--run-dir", str(tmp_path / "bad"), "--epochs", "1", *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit):
        cli.main(["baseline", "--model", "table1", "--data", "synthetic:70", "--max-seconds", "soon"])
    assert "--max-seconds: expected a time limit such as 90" in capsys.readouterr().err
