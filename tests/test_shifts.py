"""nas.shifts: each camera-like shift does what its name says, stays in [0, 1] and keeps shape and dtype; Shades of
Gray undoes a colour cast; the robustness report's figures and its Markdown section."""
from __future__ import annotations

import numpy as np
import pytest

from nas import shifts
from nas.errors import ConfigError, DataError


def _lesion_like(n: int = 6, size: int = 32, channels: int = 3) -> np.ndarray:
    """Smooth blobs plus fine texture: images with both low and high spatial frequencies."""
    rng = np.random.default_rng(0)
    grid = np.linspace(-1, 1, size)
    radius = np.hypot(*np.meshgrid(grid, grid))
    blob = (radius < 0.6)[None, :, :, None] * rng.uniform(0.2, 0.5, (n, 1, 1, channels))
    texture = rng.uniform(-0.15, 0.15, (n, size, size, channels))
    return np.clip(0.45 + blob + texture, 0, 1).astype(np.float32)


def _detail(x: np.ndarray) -> float:
    """High-frequency energy: mean squared difference between neighbouring pixels."""
    return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=2) ** 2))


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", shifts.shift_names())
def test_every_shift_keeps_shape_dtype_range_and_is_deterministic(name, channels):
    x = _lesion_like(channels=channels)
    for strength in shifts.STRENGTHS:
        shifted = shifts.shift(x, name, strength)
        assert shifted.shape == x.shape and shifted.dtype == x.dtype
        assert shifted.min() >= 0 and shifted.max() <= 1
        assert not np.array_equal(shifted, x), f"{name} {strength} left the images unchanged"
        np.testing.assert_array_equal(shifted, shifts.shift(x, name, strength))
    assert np.abs(shifts.shift(x, name, "strong") - x).mean() > np.abs(shifts.shift(x, name, "mild") - x).mean()


def test_colour_cast_warms_the_white_balance():
    x = _lesion_like()
    means = {s: shifts.shift(x, "colour_cast", s).mean(axis=(0, 1, 2)) for s in shifts.STRENGTHS}
    clean = x.mean(axis=(0, 1, 2))
    assert means["mild"][0] > clean[0] and means["mild"][2] < clean[2]
    assert means["strong"][0] > means["mild"][0] and means["strong"][2] < means["mild"][2]
    assert means["strong"][1] == pytest.approx(clean[1], abs=1e-6)


def test_brightness_contrast_darkens_and_flattens():
    x = _lesion_like()
    for strength in shifts.STRENGTHS:
        shifted = shifts.shift(x, "brightness_contrast", strength)
        assert shifted.mean() < x.mean() and shifted.std() < x.std()


def test_blur_and_lower_resolution_remove_fine_detail_but_keep_the_mean():
    x = _lesion_like()
    for name in ("blur", "low_resolution"):
        mild, strong = (shifts.shift(x, name, s) for s in shifts.STRENGTHS)
        assert _detail(strong) < _detail(mild) < 0.8 * _detail(x), name
        assert strong.mean() == pytest.approx(x.mean(), abs=0.02), name


def test_jpeg_changes_pixels_in_8x8_blocks_and_keeps_the_picture():
    x = _lesion_like()
    mild, strong = (shifts.shift(x, "jpeg", s) for s in shifts.STRENGTHS)
    assert np.abs(strong - x).mean() > np.abs(mild - x).mean() > 0.005
    assert np.corrcoef(strong.ravel(), x.ravel())[0, 1] > 0.6  # still the same image
    assert _detail(strong) < _detail(x)  # quantisation throws away high frequencies first


def test_bad_input_and_unknown_names_are_refused():
    x = _lesion_like()
    with pytest.raises(ConfigError, match="unknown shift 'fog'.*colour_cast"):
        shifts.shift(x, "fog")
    with pytest.raises(ConfigError, match="unknown strength 'extreme'"):
        shifts.shift(x, "blur", "extreme")
    with pytest.raises(DataError, match="batch of float images"):
        shifts.shift(x[0], "blur")
    with pytest.raises(DataError, match="batch of float images"):
        shifts.shift((x * 255).astype(np.uint8), "blur")


def test_shades_of_gray_equalises_the_illuminant_and_undoes_a_colour_cast():
    x = _lesion_like()
    corrected = shifts.shades_of_gray(x)
    assert corrected.shape == x.shape and corrected.dtype == x.dtype
    assert corrected.min() >= 0 and corrected.max() <= 1
    norms = np.mean(corrected.reshape(len(x), -1, 3).astype(np.float64) ** 6, axis=1) ** (1 / 6)
    assert np.ptp(norms, axis=1).max() < 0.02  # the three channels' 6-norms are equal (up to clipping)
    cast = shifts.shift(x, "colour_cast", "strong")
    before = np.abs(cast - x).mean()
    after = np.abs(shifts.shades_of_gray(cast) - corrected).mean()
    assert after < before / 3
    grey = x[..., :1]
    np.testing.assert_array_equal(shifts.shades_of_gray(grey), grey)
    with pytest.raises(ConfigError, match="at least 1"):
        shifts.shades_of_gray(x, p=0.5)


def _by_red_minus_blue(images: np.ndarray) -> np.ndarray:
    """A toy classifier: class 1 when an image is redder than it is blue, as one-hot probabilities."""
    red = images[..., 0].mean(axis=(1, 2)) > images[..., 2].mean(axis=(1, 2))
    return np.stack([~red, red], axis=1).astype(np.float64)


def test_robustness_scores_every_shift_beside_the_clean_figure():
    x = _lesion_like(n=40)
    y = (x[..., 0].mean(axis=(1, 2)) > x[..., 2].mean(axis=(1, 2))).astype(np.int64)
    lines: list[str] = []
    result = shifts.robustness(_by_red_minus_blue, x, y, ["blue", "red"], progress=lines.append)
    assert result["clean"] == {"balanced_accuracy": 1.0, "accuracy": 1.0}
    assert set(result["shifts"]) == set(shifts.shift_names()) and len(lines) == len(shifts.shift_names())
    cast = result["shifts"]["colour_cast"]
    assert cast["strong"]["balanced_accuracy"] < 1.0  # warming the images makes blue ones look red
    assert cast["strong"]["settings"] == {"gains": (1.2, 1.0, 0.75)}
    figures = [row["balanced_accuracy"] for rows in result["shifts"].values() for row in rows.values()]
    assert len(figures) == 2 * len(shifts.shift_names())
    assert result["mean_shifted_balanced_accuracy"] == pytest.approx(np.mean(figures))
    assert result["ratio_to_clean"] == pytest.approx(result["mean_shifted_balanced_accuracy"])
    section = shifts.robustness_markdown(result)
    assert section.startswith("## Robustness to camera-like shifts")
    assert "| colour cast | strong | gains 1.2, 1, 0.75 |" in section
    assert f"{result['mean_shifted_balanced_accuracy']:.3f}" in section


def test_robustness_scores_a_decision_rule_from_the_same_predictions():
    x = _lesion_like(n=40)
    y = (x[..., 0].mean(axis=(1, 2)) > x[..., 2].mean(axis=(1, 2))).astype(np.int64)
    calls: list[int] = []

    def counted(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return _by_red_minus_blue(images)

    always_red = lambda p: np.ones(len(p), dtype=np.int64)  # noqa: E731
    result = shifts.robustness(counted, x, y, ["blue", "red"], rule=always_red)
    assert len(calls) == 1 + 2 * len(shifts.shift_names())  # one prediction a pass, shared by both decisions
    ruled = result["with_rule"]
    assert ruled["clean"] == {"balanced_accuracy": 0.5, "accuracy": pytest.approx(np.mean(y == 1))}
    assert all(row["balanced_accuracy"] == 0.5 for rows in ruled["shifts"].values() for row in rows.values())
    assert ruled["ratio_to_clean"] == pytest.approx(1.0) and result["clean"]["balanced_accuracy"] == 1.0
    section = shifts.robustness_markdown(result)
    assert "| balanced accuracy with the recall floors |" in section
    assert "| none (clean) | - | - | 1.000 | 1.000 | 1.00 | 0.500 |" in section
    assert "Mean balanced accuracy under the shifts with the recall floors (the class the decision rule names): " \
           "0.500, 1.00 of the clean figure." in section
    assert "recall floors" not in shifts.robustness_markdown(shifts.robustness(counted, x, y, ["blue", "red"]))


def test_robustness_refuses_a_predictor_of_the_wrong_shape_and_mismatched_labels():
    x = _lesion_like(n=4)
    with pytest.raises(DataError, match=r"returned shape \(4, 2\) for 4 images of 3 classes"):
        shifts.robustness(_by_red_minus_blue, x, [0, 1, 0, 1], ["a", "b", "c"])
    with pytest.raises(DataError, match="as many labels as images"):
        shifts.robustness(_by_red_minus_blue, x, [0, 1], ["a", "b"])


def test_shades_of_gray_inside_a_model_matches_the_numpy_one_and_survives_a_safe_mode_round_trip(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(features))
    wrapped = shifts.with_shades_of_gray(model)
    x = shifts.shift(_lesion_like(n=4, size=12), "colour_cast", "strong")
    expected = np.asarray(model(shifts.shades_of_gray(x)))
    np.testing.assert_allclose(np.asarray(wrapped(x)), expected, atol=1e-5)
    assert np.abs(np.asarray(model(x)) - expected).max() > 1e-4  # the correction does change what the model sees
    wrapped.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-5)
    grey_input = keras.Input((12, 12, 1))
    grey = keras.Model(grey_input, keras.layers.Dense(3)(keras.layers.Flatten()(grey_input)))
    with pytest.raises(ConfigError, match="1-channel images, not RGB"):
        shifts.with_shades_of_gray(grey)


def test_standardisation_inside_a_model_undoes_colour_cast_and_brightness_contrast_and_survives_a_round_trip(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(features))
    wrapped = shifts.with_standardisation(model)
    x = 0.2 + 0.6 * _lesion_like(n=4, size=12)  # in [0.2, 0.8]: no shift below clips a pixel
    clean = np.asarray(wrapped(x))
    for name in ("colour_cast", "brightness_contrast"):
        shifted = shifts.shift(x, name, "strong")
        np.testing.assert_allclose(np.asarray(wrapped(shifted)), clean, atol=1e-4)
        assert np.abs(np.asarray(model(shifted)) - np.asarray(model(x))).max() > 1e-3  # the bare model is moved
    blurred = shifts.shift(x, "blur", "strong")
    assert np.abs(np.asarray(wrapped(blurred)) - clean).max() > 1e-4  # not invariant to everything
    wrapped.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), clean, atol=1e-5)
    flat = np.full((1, 12, 12, 3), 0.5, dtype=np.float32)
    assert np.isfinite(np.asarray(wrapped(flat))).all()


def test_exposure_standardisation_undoes_brightness_contrast_but_keeps_colour(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(features))
    exposure = shifts.with_standardisation(model, per_channel=False)
    per_channel = shifts.with_standardisation(model)
    assert exposure.name.endswith("_exposure_standardised")
    x = 0.2 + 0.6 * _lesion_like(n=4, size=12)  # in [0.2, 0.8]: no shift below clips a pixel
    clean = np.asarray(exposure(x))
    for strength in shifts.STRENGTHS:
        shifted = shifts.shift(x, "brightness_contrast", strength)
        np.testing.assert_allclose(np.asarray(exposure(shifted)), clean, atol=1e-4)
    cast = shifts.shift(x, "colour_cast", "strong")
    assert np.abs(np.asarray(exposure(cast)) - clean).max() > 1e-4  # colour is kept, so a cast still moves it
    np.testing.assert_allclose(np.asarray(per_channel(cast)), np.asarray(per_channel(x)), atol=1e-4)
    exposure.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), clean, atol=1e-5)
