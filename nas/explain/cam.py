"""Explanation: Grad-CAM heatmaps for any model the search produces, overlays to read them, and how far to trust them.

:func:`gradcam` weights the last convolutional feature map by the gradient of the class score (Selvaraju et al.,
ICCV 2017) or, with ``method="gradcam++"``, by positive second-order weights (Chattopadhyay et al., WACV 2018). It
finds that feature map itself, also inside a nested backbone such as the ResNet-50 of space ``resnet50``.

Faithfulness is measured, not assumed: :func:`deletion_auc` and :func:`insertion_auc` (Petsiuk et al., BMVC 2018)
remove or reveal pixels in the heatmap's order and follow the class probability; :func:`energy_in_mask` and
:func:`pointing_game` compare the heatmap with a lesion mask. :func:`evaluate_faithfulness` reports each against
random heatmaps, the floor a useful explanation must clear.

Example:
    >>> import nas.explain                                                    # doctest: +SKIP
    >>> model = nas.load_run("runs/demo").model()
    >>> heatmaps = nas.explain.gradcam(model, images)                 # (N, H, W) in [0, 1], predicted class
    >>> nas.explain.save_panel("mole.png", images[0], heatmaps[0], "Melanoma (mel): 87%, malignant")
    >>> nas.explain.evaluate_faithfulness(model, x_test, masks_test)["deletion_auc"]
    {'heatmap': 0.12, 'random': 0.31}
"""
from __future__ import annotations

import io
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["METHODS", "BASELINES", "gradcam", "feature_layer", "overlay", "panel_png", "save_panel", "caption",
           "random_heatmaps", "deletion_auc", "insertion_auc", "energy_in_mask", "pointing_game",
           "evaluate_faithfulness", "add_parser"]

METHODS = ("gradcam", "gradcam++")
#: What replaces a deleted pixel (and what insertion starts from): a Gaussian blur of the image with a sigma of
#: 1/8 of its larger side ("blur", as Petsiuk et al. used for insertion), or the image's mean colour ("mean").
BASELINES = ("blur", "mean")
_BLUR_FRACTION = 1 / 8
_FIGURES = {"deletion_auc": "deletion AUC (lower is better)", "insertion_auc": "insertion AUC (higher is better)",
            "energy_in_mask": "energy in mask (higher is better)", "pointing_game": "pointing game (higher is better)"}
_BATCH = 32  # images per gradient pass: bounds memory for ResNet-50 at 224 px on a CPU
_PERTURBED_BATCH = 256  # perturbed images assembled at a time for the faithfulness curves
_FORWARD_BATCH = 64  # images per forward pass: bounds activation memory of ResNet-50 at 224 px

# Gradient functions per model, keyed weakly so that a model can be freed: building one rewires the graph and traces
# a tf.function (seconds for ResNet-50), which a web page explaining image after image must not pay every time.
_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()  # a web server's threads must not rewire one model twice at once


# -- finding the feature map -------------------------------------------------------------------------------------------
def _conv_types() -> tuple:
    from keras import layers

    return (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D, layers.Conv2DTranspose)


def _walk(model, path: tuple = ()):
    """(layer, nested models from ``model`` down to the one holding it) for every layer, in graph order."""
    import keras

    for layer in model.layers:
        yield layer, path
        if isinstance(layer, keras.Model):
            yield from _walk(layer, path + (layer,))


def _spatial(layer) -> tuple | None:
    """(height, width) of a layer's 4-D output, else None."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # never called, or called more than once with different shapes
        return None
    return tuple(shape[1:3]) if len(shape) == 4 else None


def _find(model, layer) -> tuple[Any, tuple]:
    """The target layer and the nested models that lead to it."""
    conv_types = _conv_types()
    layers = list(_walk(model))
    if layer is not None:
        for candidate, path in layers:
            if candidate is layer or candidate.name == layer:
                if _spatial(candidate) is None:
                    raise ConfigError(f"layer {candidate.name!r} of model {model.name!r} has no 4-D output (batch, "
                                      f"height, width, channels), so it has no feature map for Grad-CAM; pass a "
                                      f"convolutional layer or leave layer=None")
                return candidate, path
        names = [c.name for c, _ in layers if _spatial(c) is not None]
        raise ConfigError(f"model {model.name!r} has no layer {getattr(layer, 'name', layer)!r}; layers with a "
                          f"feature map: {', '.join(names[-8:]) or 'none'}")
    convs = [i for i, (candidate, _) in enumerate(layers) if isinstance(candidate, conv_types)
             and _spatial(candidate) is not None]
    if not convs:
        raise ConfigError(f"model {model.name!r} has no convolutional layer (Conv2D, SeparableConv2D, "
                          f"DepthwiseConv2D), so Grad-CAM has no feature map to weight; pass layer= the name of a "
                          f"layer with a 4-D output (batch, height, width, channels)")
    index = convs[-1]
    target, path = layers[index]
    size = _spatial(target)
    # Follow the last convolution through what keeps its map's size (batch norm, the residual add, the activation),
    # as Grad-CAM is usually taken at a block's output (ResNet-50: conv5_block3_out), not at a bare convolution.
    for candidate, candidate_path in layers[index + 1:]:
        if candidate_path != path or _spatial(candidate) != size:
            break
        target = candidate
    return target, path


def feature_layer(model, layer=None):
    """The layer whose output :func:`gradcam` weights: ``layer`` (a name or a layer, also inside a nested model) or,
    by default, the last convolution followed through the layers that keep its map's size.

    Raises:
        ConfigError: the model has no convolutional layer, or ``layer`` is unknown or has no 4-D output.
    """
    return _find(model, layer)[0]


# -- the gradient model ------------------------------------------------------------------------------------------------
def _replay(model, call):
    """Fresh inputs and the outputs of ``model``'s graph rebuilt on them, with every layer called through ``call``."""
    import keras

    if isinstance(model, keras.Sequential):
        inputs = [keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype) for tensor in model.inputs]
        x = inputs[0]
        for layer in model.layers:
            x = call(layer, x)
        return inputs, [x]
    # clone_model with the identity clone_function shares every layer and weight; only the graph is rebuilt.
    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return clone.inputs, clone.outputs


def _is_softmax_dense(layer) -> bool:
    import keras

    return (isinstance(layer, keras.layers.Dense) and layer.activation is keras.activations.softmax
            and getattr(layer, "quantization_mode", None) is None)


def _ends(model, target, path: tuple) -> tuple[list, list, Any]:
    """Fresh inputs of ``model``, its tensors [target's output, the score's source], and the softmax head.

    The source of the score is the input of the final Dense layer when that layer applies softmax (the head, whose
    logits Grad-CAM differentiates), else the model's output (and the head is None).

    The graph is rebuilt rather than read from ``target.output``: that is the target's first call, which for a layer
    inside a nested model lies in the nested model's own graph, unreachable from the outer inputs in Keras 3 (and for
    a shared layer may lie in another model altogether). A nested model on the way is rebuilt the same way with the
    target's output as a second output, and called in its own place.
    """
    import keras

    inner = keras.Model(*_ends(path[0], target, path[1:])[:2]) if path else None
    captured: dict[str, Any] = {}
    softmax_inputs: dict[int, tuple] = {}

    def call(layer, *args, **kwargs):
        if inner is not None and layer is path[0]:
            captured["feature"], output = inner(*args, **kwargs)
            return output
        output = layer(*args, **kwargs)
        if layer is target:
            captured["feature"] = output
        if _is_softmax_dense(layer):
            softmax_inputs[id(output)] = (layer, args[0])
        return output

    inputs, outputs = _replay(model, call)
    head, source = softmax_inputs.get(id(outputs[0]), (None, outputs[0]))
    return inputs, [captured["feature"], source], head


def _gradient_function(model, layer, method: str):
    """The model's cached :func:`_traced_gradcam` for ``layer`` and ``method``, and the layer it weights."""
    if len(model.outputs) != 1:
        raise ConfigError(f"model {model.name!r} has {len(model.outputs)} outputs; Grad-CAM explains a classifier "
                          f"with one output of class probabilities")
    target, path = _find(model, layer)
    key = (id(target), method)
    with _CACHE_LOCK:
        cached = _CACHE.setdefault(model, {})
        if key not in cached:
            cached[key] = _traced_gradcam(model, target, path, method)
    return cached[key], target


def _traced_gradcam(model, target, path: tuple, method: str):
    """A traced function (images, wanted class or -1) -> (heatmaps at the feature map's size, probabilities, class)."""
    import keras
    import tensorflow as tf

    inputs, ends, head = _ends(model, target, path)
    rewired = keras.Model(inputs, ends)

    def scores(x):
        feature, last = rewired(x, training=False)
        if head is None:  # probabilities only: explained as they are, saturation and all
            return tf.cast(feature, tf.float32), tf.cast(last, tf.float32), None
        logits = tf.matmul(tf.cast(last, tf.float32), tf.cast(head.kernel, tf.float32))
        if head.use_bias:
            logits += tf.cast(head.bias, tf.float32)
        # Differentiating the logit rather than the probability, as Grad-CAM does: a confident softmax output has
        # gradients that vanish in float32.
        return tf.cast(feature, tf.float32), tf.nn.softmax(logits), logits

    spec = tf.TensorSpec((None, *inputs[0].shape[1:]), inputs[0].dtype)

    @tf.function(input_signature=[spec, tf.TensorSpec((None,), tf.int32)])
    def explain(x, wanted):
        with tf.GradientTape() as tape:
            feature, probabilities, logits = scores(x)
            predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            index = tf.where(wanted < 0, predicted, wanted)
            score = tf.gather(probabilities if logits is None else logits, index, batch_dims=1)
        gradients = tape.gradient(score, feature)
        if gradients is None:
            raise ConfigError(f"the model's output does not depend on layer {target.name!r}; pass a layer on the "
                              f"path to the output")
        if method == "gradcam":
            weights = tf.reduce_mean(gradients, axis=(1, 2))
        else:
            squared = gradients * gradients
            denominator = 2 * squared + tf.reduce_sum(feature, axis=(1, 2), keepdims=True) * squared * gradients
            alpha = squared / tf.where(denominator != 0, denominator, tf.ones_like(denominator))
            weights = tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(1, 2))
        heatmaps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", feature, weights))
        return heatmaps, probabilities, index

    return explain


def _probabilities(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities by a traced forward pass, cached with the model: the faithfulness curves run dozens of
    passes per image, and eager calls are several times slower for a deep network (ResNet-50: ~8x on a CPU)."""
    import tensorflow as tf

    with _CACHE_LOCK:
        cached = _CACHE.setdefault(model, {})
        if "forward" not in cached:
            spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
            reference = weakref.ref(model)  # the cache must not keep its own key alive
            cached["forward"] = tf.function(lambda images: reference()(images, training=False),
                                            input_signature=[spec])
        forward = cached["forward"]
    return np.concatenate([np.asarray(forward(tf.constant(x[i:i + _FORWARD_BATCH])), dtype=np.float64)
                           for i in range(0, len(x), _FORWARD_BATCH)])


# -- Grad-CAM ----------------------------------------------------------------------------------------------------------
def _check_images(model, images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    expected = tuple(model.inputs[0].shape[1:])
    if x.ndim != 4 or len(expected) != 3 or any(e is not None and e != s for e, s in zip(expected, x.shape[1:])):
        raise DataError(f"images of shape {x.shape} do not fit the model, which takes (N, "
                        f"{', '.join(str(e) for e in expected)}) images; read files with "
                        f"nas.images.read_image(path, size=(height, width))")
    if len(x) == 0:
        raise DataError("no images to explain")
    if x.dtype == np.uint8:
        return (x / np.float32(255)).astype(np.float32)
    if x.dtype.kind not in "fiu" or not np.all(np.isfinite(x)):
        raise DataError(f"images must hold finite numbers in [0, 1] (or uint8), got dtype {x.dtype}")
    if x.min() < 0 or x.max() > 1:
        raise DataError(f"pixel values must lie in [0, 1] as the model was trained on, got min {x.min():g} and max "
                        f"{x.max():g}; divide 0-255 values by 255")
    return x.astype(np.float32)


def _class_indices(class_index, n: int, num_classes: int) -> np.ndarray:
    if class_index is None:
        return np.full(n, -1, np.int32)
    wanted = np.broadcast_to(np.asarray(class_index), (n,)) if np.ndim(class_index) == 0 else np.asarray(class_index)
    if wanted.shape != (n,) or wanted.dtype.kind not in "iu" or wanted.min() < 0 or wanted.max() >= num_classes:
        raise ConfigError(f"class_index must be None, one class index or one per image, each in 0..{num_classes - 1};"
                          f" got {class_index!r}")
    return wanted.astype(np.int32)


def _explain(model, images, class_index=None, layer=None, method: str = "gradcam"
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmaps (N, H, W) in [0, 1], class probabilities (N, K) and the explained class of each image."""
    import tensorflow as tf

    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    x = _check_images(model, images)
    explain, _ = _gradient_function(model, layer, method)
    wanted = _class_indices(class_index, len(x), int(model.outputs[0].shape[-1]))
    parts: tuple[list, list, list] = ([], [], [])
    for start in range(0, len(x), _BATCH):
        heatmaps, probabilities, index = explain(tf.constant(x[start:start + _BATCH]),
                                                 tf.constant(wanted[start:start + _BATCH]))
        # Bilinear upsampling of the coarse map to the image, then scaling by its peak as the original Grad-CAM does:
        # 0 stays "no evidence", and a map with no positive evidence at all stays 0 rather than becoming noise.
        heatmaps = tf.image.resize(heatmaps[..., None], x.shape[1:3], method="bilinear")[..., 0].numpy()
        peak = heatmaps.max(axis=(1, 2), keepdims=True)
        parts[0].append(np.clip(np.divide(heatmaps, peak, out=np.zeros_like(heatmaps), where=peak > 0), 0, 1))
        parts[1].append(probabilities.numpy())
        parts[2].append(index.numpy())
    return tuple(np.concatenate(p) for p in parts)  # type: ignore[return-value]


def gradcam(model, images, class_index=None, layer=None, method: str = "gradcam") -> np.ndarray:
    """Grad-CAM heatmaps, one per image, at the images' resolution.

    Args:
        model: a Keras classifier with one softmax output, e.g. ``nas.load_run(path).model()``.
        images: (N, H, W, C) or one (H, W, C) image at the model's input size, floats in [0, 1] or uint8.
        class_index: the class to explain: None for each image's predicted class, one index, or one per image.
        layer: the feature map to weight: None finds the last convolutional one (also inside a nested backbone),
            or a layer name or layer.
        method: "gradcam" or "gradcam++".

    Returns:
        float32 array (N, H, W) in [0, 1]; 1 at each map's peak, all 0 where nothing speaks for the class.

    Raises:
        ConfigError: no convolutional layer, unknown layer or method, bad class_index.
        DataError: images that do not fit the model.
    """
    return _explain(model, images, class_index, layer, method)[0]


# -- pictures ----------------------------------------------------------------------------------------------------------
def _as_float_image(image) -> np.ndarray:
    image = np.asarray(image)
    image = image / np.float32(255) if image.dtype == np.uint8 else np.clip(image.astype(np.float32), 0, 1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise DataError(f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    return image


def _resized_heatmap(heatmap, height: int, width: int) -> np.ndarray:
    from PIL import Image

    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise DataError(f"expected a heatmap of shape (H, W), got {heatmap.shape}")
    if heatmap.shape != (height, width):
        heatmap = np.asarray(Image.fromarray(heatmap, mode="F").resize((width, height), Image.BILINEAR))
    return np.clip(heatmap, 0, 1)


def overlay(image, heatmap, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """The heatmap in colour laid over the image, as uint8 (H, W, 3).

    Args:
        image: (H, W, 3|1) or (H, W), floats in [0, 1] or uint8, at any size (e.g. the original photo).
        heatmap: (h, w) in [0, 1]; resized (bilinear) to the image when sizes differ.
        alpha: opacity of the heatmap at its peak; it fades with the heatmap so low values leave the skin visible.
        colormap: a matplotlib colormap name.
    """
    import matplotlib

    picture = _as_float_image(image)
    weights = _resized_heatmap(heatmap, *picture.shape[:2])
    colours = matplotlib.colormaps[colormap](weights)[..., :3]
    opacity = alpha * (0.35 + 0.65 * weights)[..., None]
    return np.round((picture * (1 - opacity) + colours * opacity) * 255).astype(np.uint8)


def caption(class_names: Sequence[str], probabilities, explained: int | None = None) -> str:
    """A panel title: the predicted class, its probability, benign/malignant for HAM10000's classes, and the
    explained class when it is not the predicted one."""
    from ..data import CLASS_FULL_NAMES, LESION_CLASSES, MALIGNANT

    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = int(probabilities.argmax())
    lesions = set(class_names) == set(LESION_CLASSES)

    def name(index: int) -> str:
        return CLASS_FULL_NAMES[class_names[index]] if lesions else str(class_names[index])

    text = f"{name(predicted)}: {probabilities[predicted]:.0%}"
    if lesions:
        text += ", malignant" if class_names[predicted] in MALIGNANT else ", benign"
    if explained is not None and explained != predicted:
        text += f"; heatmap for {name(explained)} ({probabilities[explained]:.0%})"
    return text


def panel_png(image, heatmap, title: str) -> bytes:
    """A PNG of original | heatmap | overlay side by side under ``title``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    picture = _as_float_image(image)
    weights = _resized_heatmap(heatmap, *picture.shape[:2])
    figure = Figure(figsize=(9.6, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    axes[0].imshow(picture)
    axes[0].set_title("original")
    shown = axes[1].imshow(weights, cmap="jet", vmin=0, vmax=1)
    axes[1].set_title("Grad-CAM heatmap")
    figure.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(overlay(picture, weights))
    axes[2].set_title("overlay")
    for axis in axes:
        axis.set_axis_off()
    figure.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def save_panel(path: str | os.PathLike, image, heatmap, title: str) -> Path:
    """Write :func:`panel_png` to ``path`` (atomically; the folder is created)."""
    from ..runfolder import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, panel_png(image, heatmap, title))
    return path


# -- faithfulness ------------------------------------------------------------------------------------------------------
def random_heatmaps(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Uniform random heatmaps of ``shape`` (N, H, W): the baseline every faithfulness figure is compared with."""
    return np.random.default_rng(seed).random(tuple(shape), dtype=np.float32)


def _check_maps(images: np.ndarray, heatmaps) -> np.ndarray:
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.ndim == 2:
        heatmaps = heatmaps[None]
    if heatmaps.shape != images.shape[:3]:
        raise DataError(f"heatmaps of shape {heatmaps.shape} do not match images of shape {images.shape}; give one "
                        f"(H, W) heatmap per image at the image's size")
    return heatmaps


def _baseline_images(x: np.ndarray, baseline: str) -> np.ndarray:
    if baseline == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).astype(np.float32)
    if baseline == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = max(x.shape[1:3]) * _BLUR_FRACTION
        return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest").astype(np.float32)
    raise ConfigError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}")


def _curves(model, images, heatmaps, class_index, *, insert: bool, steps: int, baseline: str,
            seed: int) -> np.ndarray:
    """Probability of the class (N, steps + 1) as pixels are removed (or revealed) in the heatmap's order."""
    x = _check_images(model, images)
    heatmaps = _check_maps(x, heatmaps)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    base = _baseline_images(x, baseline)
    n, height, width = heatmaps.shape
    num_classes = int(model.outputs[0].shape[-1])
    wanted = (_probabilities(model, x).argmax(axis=1) if class_index is None
              else _class_indices(class_index, n, num_classes))
    pixels = height * width
    counts = np.round(np.linspace(0, pixels, steps + 1)).astype(np.int64)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _PERTURBED_BATCH // (steps + 1))
    curves = np.empty((n, steps + 1))
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        batch = []
        for i in range(start, stop):
            # Most-salient first; ties (the flat zero region of a Grad-CAM map) in random order, not in raster order.
            order = np.lexsort((rng.random(pixels), -heatmaps[i].ravel()))
            rank = np.empty(pixels, np.int64)
            rank[order] = np.arange(pixels)
            changed = (rank[None, :] < counts[:, None]).reshape(steps + 1, height, width, 1)
            source, replacement = (base[i], x[i]) if insert else (x[i], base[i])
            batch.append(np.where(changed, replacement, source))
        probabilities = _probabilities(model, np.concatenate(batch))
        probabilities = probabilities.reshape(stop - start, steps + 1, -1)
        curves[start:stop] = probabilities[np.arange(stop - start), :, wanted[start:stop]]
    return curves


def _area(curves: np.ndarray) -> np.ndarray:
    return np.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), axis=1)


def deletion_auc(model, images, heatmaps, class_index=None, *, steps: int = 20, baseline: str = "blur",
                 seed: int = 0) -> np.ndarray:
    """Area under the class probability as the most salient pixels are deleted first (lower: more faithful).

    Deleted pixels take the value of the ``baseline`` image (see :data:`BASELINES`). Returns one area per image in
    [0, 1]; ``class_index`` None follows each image's predicted class.
    """
    return _area(_curves(model, images, heatmaps, class_index, insert=False, steps=steps, baseline=baseline,
                         seed=seed))


def insertion_auc(model, images, heatmaps, class_index=None, *, steps: int = 20, baseline: str = "blur",
                  seed: int = 0) -> np.ndarray:
    """Area under the class probability as the most salient pixels are revealed first on the ``baseline`` image
    (higher: more faithful). Returns one area per image in [0, 1]."""
    return _area(_curves(model, images, heatmaps, class_index, insert=True, steps=steps, baseline=baseline,
                         seed=seed))


def _check_masks(heatmaps, masks) -> tuple[np.ndarray, np.ndarray]:
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if heatmaps.ndim == 2:
        heatmaps, masks = heatmaps[None], masks[None] if masks.ndim == 2 else masks
    if masks.shape != heatmaps.shape:
        raise DataError(f"masks of shape {masks.shape} do not match heatmaps of shape {heatmaps.shape}; give one "
                        f"(H, W) mask per heatmap at its size")
    return heatmaps, masks


def energy_in_mask(heatmaps, masks) -> np.ndarray:
    """Share of each heatmap's sum that lies inside its mask (NaN for an all-zero heatmap). A random map scores the
    mask's share of the image."""
    heatmaps, masks = _check_masks(heatmaps, masks)
    total = heatmaps.sum(axis=(1, 2))
    inside = (heatmaps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(total), np.nan), where=total > 0)


def pointing_game(heatmaps, masks, tolerance: int = 0) -> np.ndarray:
    """Whether each heatmap's peak falls inside its mask, grown by ``tolerance`` pixels (Zhang et al., ECCV 2016,
    used 15 px at 224 px). An all-zero heatmap points nowhere and misses."""
    heatmaps, masks = _check_masks(heatmaps, masks)
    if tolerance:
        from scipy.ndimage import binary_dilation

        radius = int(tolerance)
        grid = np.arange(-radius, radius + 1)
        disk = grid[:, None] ** 2 + grid[None, :] ** 2 <= radius ** 2
        masks = np.stack([binary_dilation(mask, structure=disk) for mask in masks])
    flat = heatmaps.reshape(len(heatmaps), -1)
    peaks = flat.argmax(axis=1)
    return masks.reshape(len(masks), -1)[np.arange(len(masks)), peaks] & (flat.max(axis=1) > 0)


def evaluate_faithfulness(model, images, masks=None, *, class_index=None, method: str = "gradcam", layer=None,
                          steps: int = 20, baseline: str = "blur", seed: int = 0) -> dict:
    """Faithfulness of the heatmaps of ``method`` against random heatmaps on the same images.

    Args:
        model, images, class_index, layer, method: as for :func:`gradcam`.
        masks: (N, H, W) lesion masks, or None to skip the mask figures.
        steps: points of the deletion and insertion curves, after the unperturbed image.
        baseline: "blur" or "mean", see :data:`BASELINES`.
        seed: seeds the random heatmaps and the order of tied pixels.

    Returns:
        A JSON-able dict: ``images``, ``method``, ``layer``, ``baseline``, ``steps``, ``seconds``, and for
        ``deletion_auc`` (lower is better), ``insertion_auc`` (higher is better) and, with masks, ``energy_in_mask``
        and ``pointing_game`` (higher is better), a dict of the mean over images for ``"heatmap"`` and ``"random"``
        and the ``"standard_error"`` of their paired per-image difference. ``better_than_random`` lists the figures
        on which the heatmaps beat the random ones by more than two standard errors. With masks also
        ``mask_fraction``, the mean share of the image inside the mask (what random maps score on average), and
        ``empty_heatmaps``, the number of all-zero heatmaps (left out of ``energy_in_mask``). ``mean_probability``
        is the mean probability of the explained class.
    """
    clock = time.perf_counter()
    x = _check_images(model, images)
    heatmaps, probabilities, explained = _explain(model, x, class_index, layer, method)
    random = random_heatmaps(heatmaps.shape, seed)
    options = dict(steps=steps, baseline=baseline, seed=seed)
    result: dict[str, Any] = {"images": len(x), "method": method, "layer": feature_layer(model, layer).name,
                              "class": "predicted" if class_index is None else "given", "baseline": baseline,
                              "steps": steps}
    per_image = {"deletion_auc": [deletion_auc(model, x, maps, explained, **options) for maps in (heatmaps, random)],
                 "insertion_auc": [insertion_auc(model, x, maps, explained, **options) for maps in (heatmaps, random)]}
    if masks is not None:
        _, masks = _check_masks(heatmaps, masks)
        per_image["energy_in_mask"] = [energy_in_mask(maps, masks) for maps in (heatmaps, random)]
        per_image["pointing_game"] = [pointing_game(maps, masks).astype(np.float64) for maps in (heatmaps, random)]
        result["mask_fraction"] = float(masks.mean())
        result["empty_heatmaps"] = int((heatmaps.max(axis=(1, 2)) == 0).sum())
    result["better_than_random"] = []
    for key, (ours, chance) in per_image.items():
        # Paired per image; an all-zero heatmap has no energy share and drops out of that figure.
        kept = ~np.isnan(ours)
        difference = ours[kept] - chance[kept]
        error = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else float("nan")
        result[key] = {"heatmap": float(ours[kept].mean()) if kept.any() else float("nan"),
                       "random": float(chance.mean()), "standard_error": error}
        gain = -difference.mean() if key == "deletion_auc" else difference.mean()
        if len(difference) > 1 and gain > 2 * error:
            result["better_than_random"].append(key)
    result["mean_probability"] = float(probabilities[np.arange(len(x)), explained].mean())
    result["seconds"] = round(time.perf_counter() - clock, 3)
    return result


# -- the command line: nas explain -------------------------------------------------------------------------------------
def add_parser(commands) -> None:
    """Add ``nas explain`` to the CLI's sub-commands."""
    from ..cli import _positive_int

    parser = commands.add_parser(
        "explain", help="Grad-CAM overlays of images, or faithfulness figures over the test split",
        description="Explain the run's model (final/model.keras when retrained, else the search's best genome, "
                    "trained once and saved to best/model.keras): write original | heatmap | overlay panels of the "
                    "given images, or with --evaluate measure how faithful the heatmaps are on the test split.")
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="JPEG or PNG files, any size and colour mode")
    parser.add_argument("--out", default=None, help="output folder (default RUN/explain/)")
    parser.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                        help="explain this class instead of each image's predicted class")
    parser.add_argument("--method", choices=METHODS, default="gradcam")
    parser.add_argument("--evaluate", action="store_true",
                        help="deletion/insertion AUC, energy in mask and pointing game against random heatmaps over "
                             "the test split; writes explain/faithfulness.json")
    parser.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                        help="with --evaluate: the first N test images")
    parser.set_defaults(handler=_command)


def _command(args) -> int:
    from ..cli import EXIT_USER_ERROR
    from ..run import Run

    run = Run(args.run_dir)
    class_names = list(run.config["class_names"])
    wanted = None
    if args.class_name is not None:
        if args.class_name not in class_names:
            raise ConfigError(f"--class {args.class_name}: not a class of this run; classes: {', '.join(class_names)}")
        wanted = class_names.index(args.class_name)
    if args.evaluate:
        if args.images:
            raise ConfigError("--evaluate uses the run's test split; give no IMAGE files with it")
        return _evaluate(run, args, wanted)
    if not args.images:
        raise ConfigError("give one or more IMAGE files to explain (JPEG or PNG), or --evaluate for faithfulness "
                          "figures over the test split")
    return 0 if _explain_files(run, args, class_names, wanted) else EXIT_USER_ERROR


def _explain_files(run, args, class_names: list[str], wanted: int | None) -> bool:
    """Write one panel per readable image; True when every image was explained."""
    from ..images import read_image

    out = Path(args.out) if args.out else run.path / "explain"
    model = None
    inputs, displays, names, failed = [], [], [], 0
    for name in args.images:
        try:
            picture = read_image(name)
        except DataError as error:
            print(f"nas explain: skipped {error}", file=sys.stderr)
            failed += 1
            continue
        if model is None:
            model = run.model()
            height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
        # Only the model-sized and the panel-sized copies are kept: a folder of 40-megapixel photos must fit in memory.
        inputs.append(read_image(picture, size=(height, width)))
        displays.append(read_image(picture, size=_display_size(picture)))
        names.append(name)
    if model is None:
        return False
    x = np.stack(inputs)
    if channels == 1:
        x = x @ np.float32([0.299, 0.587, 0.114])[:, None]  # ITU-R 601 luma, as PIL's "L" conversion
    heatmaps, probabilities, explained = _explain(model, x, wanted, method=args.method)
    used: set[str] = set()
    for name, display, heatmap, p, index in zip(names, displays, heatmaps, probabilities, explained):
        stem = Path(name).stem
        target, suffix = f"{stem}.png", 1
        while target in used:  # two inputs with one name (a/mole.jpg, b/mole.jpg) must not overwrite each other
            suffix += 1
            target = f"{stem}-{suffix}.png"
        used.add(target)
        title = caption(class_names, p, int(index))
        print(f"{name}: {title} -> {save_panel(out / target, display, heatmap, title)}")
    return failed == 0


def _display_size(picture: np.ndarray, longest: int = 384) -> tuple[int, int]:
    """(height, width) for the panel: the photo's aspect, its longer side ``longest`` pixels (small images grow)."""
    height, width = picture.shape[:2]
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _evaluate(run, args, wanted: int | None) -> int:
    from .. import data as data_module
    from ..runfolder import RunFolder

    dataset = data_module.from_spec(run.config["data"])
    x, masks = dataset.x_test[:args.limit], dataset.masks_test
    masks = None if masks is None else masks[:args.limit]
    model = run.model()
    result = evaluate_faithfulness(model, x, masks, class_index=wanted, method=args.method)
    result["split"] = "test"
    path = RunFolder(run.path).write_json("explain/faithfulness.json", result)
    print(f"faithfulness of {args.method} on {result['images']} test images (layer {result['layer']}, class "
          f"{args.class_name or 'predicted'}, {result['baseline']} baseline, {result['steps']} steps)")
    print(f"{'':34}{args.method:>10}{'random':>10}{'s.e.':>8}")
    for key, label in _FIGURES.items():
        if key in result:
            figure = result[key]
            print(f"{label:34}{figure['heatmap']:>10.3f}{figure['random']:>10.3f}{figure['standard_error']:>8.3f}")
    if masks is None:
        print("(no lesion masks in this dataset: energy in mask and pointing game not measured)")
    measured = [key for key in _FIGURES if key in result]
    print(f"{args.method} beats random heatmaps by over 2 s.e. on {len(result['better_than_random'])} of "
          f"{len(measured)} figures" + ("" if len(result["better_than_random"]) == len(measured) else
                                        ": do not rely on its heatmaps for this model"))
    print(f"wrote {path}")
    return 0
