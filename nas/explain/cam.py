"""Grad-CAM: find a model's last convolutional feature map, trace the gradient of the class score to it, and weight it.

:func:`gradcam` weights the feature map by the gradient of the class score (Selvaraju et al., ICCV 2017) or, with
``method="gradcam++"``, by positive second-order weights (Chattopadhyay et al., WACV 2018); :func:`feature_layer`
finds that map, also inside a nested backbone such as the ResNet-50 of space ``resnet50``; an ensemble
(:func:`nas.ensemble.members`) has no one such map, and its heatmap is the mean of its members' own. Rewiring a model
and tracing its gradient function takes seconds for ResNet-50, so both are cached per model, under a lock for a web
server's threads. TensorFlow and Keras are imported inside the functions that need them, when first called.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..ensemble import members
from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    import keras

METHODS = ("gradcam", "gradcam++")
_BATCH = 32  # images per gradient pass: bounds memory for ResNet-50 at 224 px on a CPU
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
    parts = members(model)
    if parts is not None:
        raise ConfigError(f"model {model.name!r} is an ensemble of {len(parts)} members, each with its own feature "
                          f"maps, so no one layer is its feature map: Grad-CAM averages each member's map (layer=None);"
                          f" to look at one layer, explain a member, nas.ensemble.members(model)[i]")
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


def feature_layer(model: keras.Model, layer: str | keras.layers.Layer | None = None) -> keras.layers.Layer:
    """The layer whose output :func:`gradcam` weights: ``layer`` (a name or a layer, also inside a nested model) or,
    by default, the last convolution followed through the layers that keep its map's size.

    Raises:
        ConfigError: the model has no convolutional layer, or ``layer`` is unknown or has no 4-D output.
    """
    return _find(model, layer)[0]


def feature_layer_names(model: keras.Model, layer: str | keras.layers.Layer | None = None) -> list[str]:
    """The names of the layers :func:`gradcam` weights: ``[feature_layer(model, layer).name]`` for one model, and for
    an ensemble (:func:`nas.ensemble.members`) each member's own, as ``"member_1/conv2d_3"``."""
    parts = members(model)
    if parts is None:
        return [feature_layer(model, layer).name]
    if layer is not None:
        _find(model, layer)  # raises: an ensemble has no one layer to name
    return [f"{part.name}/{name}" for part in parts for name in feature_layer_names(part)]


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
    ensemble = members(model)
    if ensemble is not None:
        return _explain_ensemble(model, ensemble, x, class_index, layer, method)
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
    return np.concatenate(parts[0]), np.concatenate(parts[1]), np.concatenate(parts[2])


def _explain_ensemble(model, parts: list, x: np.ndarray, class_index, layer, method: str
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_explain` of an ensemble: the ensemble's probabilities and class; as heatmap, the mean of each member's
    Grad-CAM map of that class (each from its own last feature map, each scaled to peak 1, so that every member weighs
    the same), scaled by its peak again."""
    if layer is not None:
        _find(model, layer)  # raises: an ensemble has no one layer to weight
    probabilities = _probabilities(model, x).astype(np.float32)
    wanted = (probabilities.argmax(axis=1).astype(np.int32) if class_index is None
              else _class_indices(class_index, len(x), probabilities.shape[1]))
    mean = np.mean([_explain(part, x, wanted, None, method)[0] for part in parts], axis=0)
    peak = mean.max(axis=(1, 2), keepdims=True)
    return np.divide(mean, peak, out=np.zeros_like(mean), where=peak > 0), probabilities, wanted


def gradcam(model: keras.Model, images: ArrayLike, class_index: ArrayLike | None = None,
            layer: str | keras.layers.Layer | None = None, method: str = "gradcam") -> np.ndarray:
    """Grad-CAM heatmaps, one per image, at the images' resolution.

    Args:
        model: a Keras classifier with one softmax output, e.g. ``nas.load_run(path).model()``.
        images: (N, H, W, C) or one (H, W, C) image at the model's input size, floats in [0, 1] or uint8.
        class_index: the class to explain: None for each image's predicted class, one index, or one per image.
        layer: the feature map to weight: None finds the last convolutional one (also inside a nested backbone),
            or a layer name or layer. An ensemble (:func:`nas.ensemble.members`) takes only None: its heatmap is the
            mean of its members' maps of the ensemble's class, each from the member's own last convolutional map.
        method: "gradcam" or "gradcam++".

    Returns:
        float32 array (N, H, W) in [0, 1]; 1 at each map's peak, all 0 where nothing speaks for the class.

    Raises:
        ConfigError: no convolutional layer, unknown layer or method, bad class_index.
        DataError: images that do not fit the model.
    """
    return _explain(model, images, class_index, layer, method)[0]

