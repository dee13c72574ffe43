"""Analytic FLOPs of a built Keras model: the cost of one image's forward pass, counted from the layers' shapes.

Nothing runs: the count is a sum over the layers of a formula in their input and output shapes, so it takes
milliseconds for any model built for a fixed input shape. The convention is TensorFlow's profiler's: a multiply-
accumulate counts 2 FLOPs, an add, a multiply or a comparison 1. For one image (batch 1), per layer:

* ``Conv1D``/``Conv2D``/``Conv3D``: 2 x (kernel volume x input channels / groups) per output element;
* ``DepthwiseConv1D``/``DepthwiseConv2D``: 2 x kernel area per output element;
* ``SeparableConv1D``/``SeparableConv2D``: the depthwise step, then 2 x its channels per output element (the
  pointwise 1x1 convolution);
* ``Dense``: 2 x input units per output element (applied at every position of a sequence or feature map);
* the above add 1 per output element for the bias, when they have one;
* ``BatchNormalization``: 2 per element (inference: a multiply and an add, the statistics folded in);
* ``MaxPooling``/``AveragePooling`` (1D-3D): the pool volume per output element; global pooling: 1 per input element;
* ``Add``/``Subtract``/``Multiply``/``Maximum``/``Minimum``: inputs - 1 per output element; ``Average``: inputs;
* ``Rescaling``: 2 per element (a multiply and an add);
* a nested model (a ``keras.Model`` used as a layer): its own count, once per call.

Everything else counts 0: activations (fused through ``activation=`` or as layers: comparisons and table look-ups
that the conv and dense terms dwarf), dropout (the identity at inference), reshaping, padding, concatenation,
resizing, and layers of other types, custom ones included. Convolutions and dense layers dominate the count of
every CNN, so the figure is what a compute budget needs; for models built mostly of other layers it is a lower bound.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from .errors import ConfigError

if TYPE_CHECKING:
    import keras

__all__ = ["model_flops", "layer_flops"]


def _elements(shape: Sequence[Any], layer: "keras.layers.Layer") -> int:
    """Elements of one image's tensor of ``shape`` (its batch axis left out)."""
    sizes = tuple(shape)[1:]
    if any(size is None for size in sizes):
        raise ConfigError(f"layer {layer.name!r} has an unknown size in shape {tuple(shape)}: FLOPs need a model "
                          f"built for a fixed input shape (keras.Input(shape=(height, width, channels)))")
    return math.prod(int(size) for size in sizes)


def _conv_flops(layer: "keras.layers.Layer", inputs: list, outputs: list) -> int | None:
    """FLOPs of a convolution or dense layer, or None when ``layer`` is none of them."""
    from keras import layers

    out = _elements(outputs[0].shape, layer)
    bias = out if getattr(layer, "use_bias", False) else 0
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Dense)):
        kernel = tuple(layer.kernel.shape)  # kernel sizes..., input channels / groups, filters (units)
        return 2 * math.prod(kernel[:-1]) * out + bias
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return 2 * math.prod(layer.kernel_size) * out + bias
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        depthwise = tuple(layer.depthwise_kernel.shape)  # kernel sizes..., input channels, depth multiplier
        middle = depthwise[-2] * depthwise[-1]  # channels between the depthwise and the pointwise step
        positions = out // layer.filters
        return 2 * math.prod(depthwise[:-2]) * middle * positions + 2 * middle * out + bias
    return None


def _cheap_flops(layer: "keras.layers.Layer", inputs: list, outputs: list) -> int:
    """FLOPs of a normalisation, pooling, merging or rescaling layer; 0 for any other layer."""
    from keras import layers

    out = _elements(outputs[0].shape, layer)
    pools = (layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D, layers.AveragePooling1D,
             layers.AveragePooling2D, layers.AveragePooling3D)
    global_pools = (layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D,
                    layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D)
    if isinstance(layer, (layers.BatchNormalization, layers.Rescaling)):
        return 2 * out
    if isinstance(layer, pools):
        return math.prod(layer.pool_size) * out
    if isinstance(layer, global_pools):
        return _elements(inputs[0].shape, layer)
    if isinstance(layer, layers.Average):
        return len(inputs) * out
    if isinstance(layer, (layers.Add, layers.Subtract, layers.Multiply, layers.Maximum, layers.Minimum)):
        return (len(inputs) - 1) * out
    return 0


def layer_flops(layer: "keras.layers.Layer", inputs: Sequence[Any], outputs: Sequence[Any]) -> int:
    """FLOPs of one call of ``layer`` on one image, given the call's input and output tensors (or anything with a
    ``.shape`` whose first axis is the batch); see the module docstring for what is counted."""
    import keras

    if isinstance(layer, keras.Model):
        return model_flops(layer)
    inputs, outputs = list(inputs), list(outputs)
    counted = _conv_flops(layer, inputs, outputs)
    return counted if counted is not None else _cheap_flops(layer, inputs, outputs)


def model_flops(model: "keras.Model") -> int:
    """FLOPs of one image's forward pass through a built Keras ``model``: multiply-accumulates count 2 (see the
    module docstring for every layer type counted). Raises :class:`ConfigError` when the model is not built or has no
    fixed input shape.

    Example:
        >>> import keras
        >>> inputs = keras.Input(shape=(4,))
        >>> model_flops(keras.Model(inputs, keras.layers.Dense(3)(inputs)))  # 2 x 4 x 3 + 3 bias adds
        27
    """
    if not model.built:
        raise ConfigError(f"model {model.name!r} is not built: give it an input shape (keras.Input, or model.build) "
                          f"before counting its FLOPs")
    total = 0
    for layer in model.layers:
        for node in layer._inbound_nodes:  # one node per call of the layer in a model's graph
            total += layer_flops(layer, node.input_tensors, node.output_tensors)
    return total
