"""Camera-like shifts of images, the robustness report built on them, and two remedies: Shades of Gray colour
constancy and per-image standardisation.

A dermoscopy model meets other cameras and clinics: another white balance, exposure, focus, compression and
resolution. :func:`shift` applies one of five such changes (:data:`SHIFTS`) at two strengths to a batch of images in
[0, 1], deterministically (the same input always gives the same output); :func:`robustness` scores a predictor on the
clean images and on every shifted copy, and :func:`robustness_markdown` writes that as a report section (``nas
evaluate`` does both; the retrain report can call them the same way). :func:`shades_of_gray` is the colour constancy
remedy of the literature (Finlayson and Trezzi 2004; used by the ISIC 2018/2019 winners): it divides each image's
channels by their Minkowski p-norm means, so that a colour cast is undone before the model sees the image;
:func:`with_shades_of_gray` puts it inside a Keras model, so that training and every later use of the saved model
apply it. :func:`with_standardisation` goes further: each image's channels are brought to mean 0 and standard
deviation 1 inside the model, so that any per-channel gain and offset (a colour cast, a change of brightness or
contrast) is undone exactly, wherever no pixel was clipped; what it costs is the absolute colour and exposure, which
the model no longer sees. With ``per_channel=False`` it standardises the whole image at once: exposure (brightness
and contrast) is undone and colour kept.

Blur and resolution are relative to the image side (the shift looks the same at 32 px as at 128 px), JPEG compression
goes through Pillow, and every output is clipped to [0, 1] and keeps the input's shape and dtype.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    >>> y = shift(x, "blur", "strong")
    >>> detail = lambda images: float(np.abs(np.diff(images, axis=2)).mean())
    >>> y.shape == x.shape, y.dtype == x.dtype, detail(y) < detail(x)
    (True, True, True)
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ConfigError, DataError

if TYPE_CHECKING:
    import keras

__all__ = ["SHIFTS", "STRENGTHS", "robustness", "robustness_markdown", "shades_of_gray", "shift", "shift_names",
           "with_shades_of_gray", "with_standardisation"]

STRENGTHS = ("mild", "strong")
#: Each shift's settings at each strength: channel gains (R, G, B) of a white-balance error; a brightness offset and a
#: contrast factor about mid-grey; a Gaussian blur's sigma as a fraction of the image side (at least half a pixel); a
#: JPEG quality; a downscaling factor before upscaling back (bilinear).
SHIFTS: dict[str, dict[str, dict[str, Any]]] = {
    "colour_cast": {"mild": {"gains": (1.08, 1.0, 0.9)}, "strong": {"gains": (1.2, 1.0, 0.75)}},
    "brightness_contrast": {"mild": {"brightness": -0.06, "contrast": 0.85},
                            "strong": {"brightness": -0.15, "contrast": 0.65}},
    "blur": {"mild": {"sigma": 1 / 64}, "strong": {"sigma": 1 / 32}},
    "jpeg": {"mild": {"quality": 40}, "strong": {"quality": 12}},
    "low_resolution": {"mild": {"factor": 2}, "strong": {"factor": 4}},
}


def shift_names() -> list[str]:
    """The shifts :func:`shift` knows, in report order."""
    return list(SHIFTS)


def _batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.dtype.kind != "f":
        raise DataError(f"shifts take a batch of float images (N, H, W, 1 or 3) in [0, 1], got shape {x.shape} and "
                        f"dtype {x.dtype}")
    return x


def _colour_cast(x: np.ndarray, gains: Sequence[float]) -> np.ndarray:
    if x.shape[-1] == 1:  # a grey image has no white balance: the cast is its luma change (ITU-R 601 weights)
        return x * float(np.dot(gains, (0.299, 0.587, 0.114)))
    return x * np.asarray(gains, dtype=x.dtype)


def _brightness_contrast(x: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    return (x - 0.5) * contrast + 0.5 + brightness


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    pixels = max(sigma * min(x.shape[1:3]), 0.5)  # below half a pixel a Gaussian leaves a small image as it was
    return gaussian_filter(x, sigma=(0, pixels, pixels, 0), mode="reflect")


def _pil_images(x: np.ndarray, transform: Callable) -> np.ndarray:
    """``transform`` applied to each image of ``x`` as an 8-bit Pillow image, back as floats in [0, 1]."""
    from PIL import Image

    out = np.empty_like(x)
    for i, image in enumerate(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)):
        picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        out[i] = np.asarray(transform(picture), dtype=x.dtype).reshape(x.shape[1:]) / 255
    return out


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    def compress(picture: Any) -> Any:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue()))

    return _pil_images(x, compress)


def _low_resolution(x: np.ndarray, factor: int) -> np.ndarray:
    """Downscale by ``factor`` (box filter: a sensor with fewer pixels) and upscale back (bilinear), per channel in
    float (Pillow's mode F), so only the resolution is lost, not bit depth."""
    from PIL.Image import Resampling, fromarray

    height, width = x.shape[1:3]
    small = (max(1, width // factor), max(1, height // factor))
    out = np.empty_like(x)
    for i in range(len(x)):
        for c in range(x.shape[-1]):
            channel = fromarray(np.ascontiguousarray(x[i, :, :, c], dtype=np.float32), mode="F")
            out[i, :, :, c] = np.asarray(channel.resize(small, Resampling.BOX).resize((width, height),
                                                                                      Resampling.BILINEAR))
    return out


_APPLY: dict[str, Callable[..., np.ndarray]] = {"colour_cast": _colour_cast,
                                                "brightness_contrast": _brightness_contrast, "blur": _blur,
                                                "jpeg": _jpeg, "low_resolution": _low_resolution}


def shift(x: np.ndarray, name: str, strength: str = "mild") -> np.ndarray:
    """The images ``x`` (N, H, W, C) in [0, 1] under the shift ``name`` (:func:`shift_names`) at ``strength``
    (``"mild"`` or ``"strong"``); same shape and dtype, clipped to [0, 1]."""
    x = _batch(x)
    if name not in SHIFTS:
        raise ConfigError(f"unknown shift {name!r}; the shifts are {', '.join(SHIFTS)}")
    if strength not in STRENGTHS:
        raise ConfigError(f"unknown strength {strength!r}; use {' or '.join(STRENGTHS)}")
    return np.clip(_APPLY[name](x, **SHIFTS[name][strength]), 0.0, 1.0).astype(x.dtype, copy=False)


def shades_of_gray(x: np.ndarray, p: float = 6) -> np.ndarray:
    """Shades of Gray colour constancy: each image's channels scaled so that their Minkowski ``p``-norm means are
    equal (p=1 is grey world, p=inf max-RGB; 6 is the paper's and the ISIC winners' choice), keeping the mean level.

    Takes and returns a batch (N, H, W, C) in [0, 1], same dtype, clipped; grey images (C=1) are returned unchanged.
    """
    x = _batch(x)
    if not p >= 1:
        raise ConfigError(f"shades_of_gray's p must be at least 1, got {p!r}")
    if x.shape[-1] == 1:
        return x.copy()
    flat = x.reshape(len(x), -1, x.shape[-1]).astype(np.float64)
    illuminant = flat.max(axis=1) if np.isinf(p) else np.mean(flat ** p, axis=1) ** (1 / p)
    gains = illuminant.mean(axis=1, keepdims=True) / np.maximum(illuminant, 1e-6)
    return np.clip(x * gains[:, None, None, :], 0.0, 1.0).astype(x.dtype, copy=False)


def _in_front(model: "keras.Model", step: Callable, name: str) -> "keras.Model":
    """``model`` with ``step`` (Keras operations on the input batch) as its first step, ``model`` kept nested."""
    import keras

    inputs = keras.Input(tuple(model.input_shape[1:]), name="image")
    return keras.Model(inputs, model(step(inputs)), name=name)


def with_shades_of_gray(model: "keras.Model", p: float = 6, name: str | None = None) -> "keras.Model":
    """``model`` with :func:`shades_of_gray` as its first step, in Keras operations: a model trained and saved this
    way carries its colour constancy, so everything that loads it (``nas serve``, ``explain``, ``export``,
    ``evaluate``) applies it without being told. The wrapped model is saved and loaded in Keras safe mode like any
    other; ``model`` itself is kept as a nested model (Grad-CAM finds its convolutions there)."""
    from keras import ops

    if not p >= 1 or np.isinf(p):
        raise ConfigError(f"with_shades_of_gray's p must be a finite number of at least 1, got {p!r}")
    channels = model.input_shape[-1]
    if channels != 3:
        raise ConfigError(f"Shades of Gray corrects colour: the model takes {channels}-channel images, not RGB")

    def correct(inputs: Any) -> Any:
        illuminant = ops.power(ops.mean(ops.power(inputs, float(p)), axis=(1, 2), keepdims=True), 1 / float(p))
        return ops.clip(inputs * ops.mean(illuminant, axis=-1, keepdims=True) / ops.maximum(illuminant, 1e-6), 0.0, 1.0)

    return _in_front(model, correct, name or f"{model.name}_shades_of_gray")


def with_standardisation(model: "keras.Model", name: str | None = None, *, per_channel: bool = True) -> "keras.Model":
    """``model`` with per-image standardisation as its first step: each image minus its mean, divided by its standard
    deviation (at least 1e-3, so a flat image becomes 0). Saved, loaded and explained like
    :func:`with_shades_of_gray`'s models; any number of channels.

    ``per_channel=True`` standardises each channel apart: any gain and offset per channel, so a colour cast and a
    brightness or contrast change, leaves what the model sees unchanged where no pixel was clipped, and the model no
    longer sees absolute colour. ``per_channel=False`` standardises over all channels at once (an exposure
    normalisation): a brightness or contrast change, the same gain and offset for every channel, is undone exactly,
    while the channels' differences (the lesion's colour against the skin's) are kept; a colour cast is not undone.
    """
    from keras import ops

    axes = (1, 2) if per_channel else (1, 2, 3)

    def standardise(inputs: Any) -> Any:
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        spread = ops.sqrt(ops.mean(ops.square(inputs - mean), axis=axes, keepdims=True))
        return (inputs - mean) / ops.maximum(spread, 1e-3)

    return _in_front(model, standardise,
                     name or f"{model.name}_{'standardised' if per_channel else 'exposure_standardised'}")


def _predicted(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, n: int, k: int) -> np.ndarray:
    probabilities = np.asarray(predict(x))
    if probabilities.shape != (n, k):
        raise DataError(f"the predictor returned shape {probabilities.shape} for {n} images of {k} classes")
    return probabilities


def _scored(passes: Mapping[str, Mapping[str, np.ndarray]], clean: np.ndarray, y: np.ndarray,
            decide: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Balanced accuracy and accuracy of the classes ``decide`` names for the clean and every shifted pass."""
    from .training import balanced_accuracy

    def figures(probabilities: np.ndarray) -> dict[str, float]:
        predicted = np.asarray(decide(probabilities))
        return {"balanced_accuracy": balanced_accuracy(y, predicted), "accuracy": float(np.mean(predicted == y))}

    table = {name: {strength: figures(p) for strength, p in rows.items()} for name, rows in passes.items()}
    scores = figures(clean)
    mean = float(np.mean([row["balanced_accuracy"] for rows in table.values() for row in rows.values()]))
    return {"clean": scores, "shifts": table, "mean_shifted_balanced_accuracy": mean,
            "ratio_to_clean": mean / scores["balanced_accuracy"] if scores["balanced_accuracy"] else None}


def robustness(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
               class_names: Sequence[str], *, shifts: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None,
               rule: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """Balanced accuracy and accuracy of ``predict`` (images -> (N, k) probabilities) on ``x`` clean and under each
    shift at each strength, the class named being the most probable one.

    Returns ``{"n_samples", "clean": {"balanced_accuracy", "accuracy"}, "shifts": {shift: {strength:
    {"balanced_accuracy", "accuracy", "settings"}}}, "mean_shifted_balanced_accuracy", "ratio_to_clean"}``: the mean
    is over every shift and strength, the ratio is that mean over the clean balanced accuracy (None when it is 0).
    ``rule`` (probabilities -> the class index named for each row, such as a recall floor's,
    :func:`nas.calibration.decision_rule`) adds ``with_rule``: the same figures (without ``settings``) for the
    classes it names, from the same predictions. ``progress`` is called with one line per shift.
    """
    from .training import balanced_accuracy

    x, y = _batch(x), np.asarray(y, dtype=np.int64)
    if len(x) != len(y) or not len(y):
        raise DataError(f"robustness needs as many labels as images (at least one), got {len(x)} images and "
                        f"{len(y)} labels")
    names = shift_names() if shifts is None else list(shifts)
    n, k = len(y), len(class_names)
    clean = _predicted(predict, x, n, k)
    passes: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        passes[name] = {strength: _predicted(predict, shift(x, name, strength), n, k) for strength in STRENGTHS}
        if progress is not None:
            progress(f"{name}: " + ", ".join(f"{strength} {balanced_accuracy(y, p.argmax(axis=1)):.3f}"
                                             for strength, p in passes[name].items()))
    result = {"n_samples": n, **_scored(passes, clean, y, lambda p: p.argmax(axis=1))}
    for name, rows in result["shifts"].items():
        for strength, row in rows.items():
            row["settings"] = dict(SHIFTS[name][strength])
    return result | ({"with_rule": _scored(passes, clean, y, rule)} if rule is not None else {})


def _setting(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {', '.join(f'{v:g}' for v in value) if isinstance(value, (tuple, list)) else f'{value:g}'}"
                     for key, value in settings.items())


def _mean_line(result: Mapping, what: str) -> str:
    ratio = result["ratio_to_clean"]
    return (f"Mean balanced accuracy under the shifts{what}: {result['mean_shifted_balanced_accuracy']:.3f}"
            + ("" if ratio is None else f", {ratio:.2f} of the clean figure") + ".")


def robustness_markdown(result: Mapping, heading: str = "## Robustness to camera-like shifts") -> str:
    """The :func:`robustness` result as a Markdown section: one row per shift and strength, beside the clean figure;
    with a decision rule (``with_rule``), a column of balanced accuracy under it."""
    clean = result["clean"]["balanced_accuracy"]
    ruled = result.get("with_rule")
    extra = (" balanced accuracy with the recall floors |", "---|") if ruled else ("", "")
    lines = [heading, "", f"Balanced accuracy on the same {result['n_samples']} images, clean and under camera-like "
             f"shifts (`nas.shifts`: white balance, brightness and contrast, blur, JPEG, lower resolution), each at "
             f"two strengths.", "", "| shift | strength | settings | balanced accuracy | accuracy | vs clean |"
             + extra[0], "|---|---|---|---|---|---|" + extra[1],
             f"| none (clean) | - | - | {clean:.3f} | {result['clean']['accuracy']:.3f} | 1.00 |"
             + (f" {ruled['clean']['balanced_accuracy']:.3f} |" if ruled else "")]
    for name, rows in result["shifts"].items():
        for strength, row in rows.items():
            relative = f"{row['balanced_accuracy'] / clean:.2f}" if clean else "-"
            lines.append(f"| {name.replace('_', ' ')} | {strength} | {_setting(row['settings'])} | "
                         f"{row['balanced_accuracy']:.3f} | {row['accuracy']:.3f} | {relative} |"
                         + (f" {ruled['shifts'][name][strength]['balanced_accuracy']:.3f} |" if ruled else ""))
    lines += ["", _mean_line(result, "")]
    if ruled:
        lines.append(_mean_line(ruled, " with the recall floors (the class the decision rule names)"))
    return "\n".join(lines) + "\n"
