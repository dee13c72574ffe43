"""ResNet50 transfer-learning space: a ResNet50 backbone (a nested Keras model) under a searched classifier head.

The ``unfreeze`` gene is how much of the backbone trains, counted from the output end in residual blocks:

* ``0``: the backbone is fully frozen, only the head trains;
* ``k`` in ``1..16``: the last ``k`` of the 16 residual blocks (``conv5_block3`` back to ``conv2_block1``) train;
* ``17`` (:data:`UNFREEZE_ALL`): the stem (``conv1``) trains too, i.e. the whole backbone.

With pretrained weights the backbone's BatchNormalization layers always stay frozen, in inference mode, so that
fine-tuning on a small data set does not wreck the ImageNet statistics. With ``weights=None`` there are no statistics
to keep, so they train with their block.

The model takes images scaled to [0, 1] with 1 or 3 channels: it tiles grayscale to 3 channels, upsamples images
smaller than 32x32 (ResNet50's five stride-2 stages need at least that) and applies the "caffe" preprocessing of
``keras.applications.resnet50.preprocess_input`` itself, so an exported model needs no outside preprocessing.
"""
from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Mapping, Sequence

from nas.errors import ConfigError
from nas.weights import check_weights
from nas.space import Choice, Float, Int, LogFloat, SearchSpace, genome_hash

if TYPE_CHECKING:
    import keras

__all__ = ["BLOCKS", "UNFREEZE_ALL", "GENES", "SPACE", "ResNet50Space", "space", "build", "compile_model",
           "expressed", "effective_learning_rate", "backbone_of", "trainable_split"]

BLOCKS = tuple(f"conv{stage}_block{block}" for stage, count in ((2, 3), (3, 4), (4, 6), (5, 3))
               for block in range(1, count + 1))
UNFREEZE_ALL = len(BLOCKS) + 1
MIN_SIZE = 32
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
_BLOCK_OF_LAYER = re.compile(r"^(conv\d_block\d+)_")

GENES = [
    Int("unfreeze", 0, UNFREEZE_ALL),
    Choice("dense_units", [0, 64, 128, 256, 512], ordered=True),
    Float("dropout", 0.0, 0.6, step=0.05),
    LogFloat("learning_rate", 1e-5, 1e-2),
    LogFloat("finetune_lr_factor", 0.01, 1.0),
    Choice("batch_size", [16, 32, 64], ordered=True),
]


def effective_learning_rate(genome: Mapping) -> float:
    """``learning_rate``, times ``finetune_lr_factor`` when any backbone layer trains.

    Keras 3 has no per-layer learning rate, so the factor scales the whole model's rate (head included) while
    fine-tuning: the head then learns slower too, which is the price of not disturbing the pretrained weights."""
    factor = genome["finetune_lr_factor"] if genome["unfreeze"] > 0 else 1.0
    return float(genome["learning_rate"]) * float(factor)


def compile_model(model: "keras.Model", genome: Mapping) -> None:
    """Compile with Adam at :func:`effective_learning_rate`, sparse categorical cross-entropy and accuracy."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=effective_learning_rate(genome)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def expressed(genome: Mapping) -> dict:
    """``genome`` without ``finetune_lr_factor`` when the backbone is frozen (it has no effect then)."""
    return {k: v for k, v in genome.items() if not (k == "finetune_lr_factor" and genome["unfreeze"] == 0)}


def _freeze(backbone, unfreeze: int, pretrained: bool) -> None:
    from keras import layers

    trainable_blocks = set(BLOCKS[len(BLOCKS) - min(unfreeze, len(BLOCKS)):])
    seen = set()
    for layer in backbone.layers:
        match = _BLOCK_OF_LAYER.match(layer.name)
        if match:
            seen.add(match.group(1))
        trainable = (match.group(1) in trainable_blocks) if match else unfreeze == UNFREEZE_ALL
        # Keras 3 runs a BatchNormalization layer in inference mode exactly when it is not trainable.
        if pretrained and isinstance(layer, layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable
    if seen != set(BLOCKS):  # guards the layer-name encoding against a Keras that renames ResNet50's layers
        raise RuntimeError(f"unexpected ResNet50 layer names: found blocks {sorted(seen)}, expected {list(BLOCKS)}")


def imagenet_input(input_shape: Sequence[int], min_size: int = MIN_SIZE
                   ) -> tuple["keras.KerasTensor", "keras.KerasTensor", tuple[int, int]]:
    """(inputs, x, size): a Keras input of [0, 1] images and the tensor an ImageNet "caffe" backbone expects.

    Upsamples images smaller than ``min_size`` (five stride-2 stages need at least 32 pixels), tiles grayscale to RGB,
    swaps RGB to BGR and subtracts the ImageNet mean from [0, 255] values, as
    ``preprocess_input`` of ``keras.applications.vgg16`` and ``resnet50`` does, with layers that load in safe mode.
    """
    import keras
    from keras import layers

    height, width, channels = (int(d) for d in input_shape)
    size = (max(height, min_size), max(width, min_size))
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = inputs
    if size != (height, width):
        x = layers.Resizing(*size, interpolation="bilinear", name="upsample")(x)
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = keras.ops.flip(x, axis=-1)
    x = layers.Rescaling(255.0, offset=[-m for m in CAFFE_MEAN_BGR], name="caffe_preprocess")(x)
    return inputs, x, size


def build(genome: Mapping, input_shape: Sequence[int], num_classes: int,
          weights: str | None = None) -> "keras.Model":
    """An uncompiled model: [0, 1] images -> (upsample) -> (gray to RGB) -> caffe preprocessing -> ResNet50 -> head."""
    import keras
    from keras import layers

    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise ConfigError(f"space 'resnet50' needs (height, width, 1 or 3 channels) images, got input shape "
                          f"{tuple(input_shape)}; convert the images to grayscale or RGB")
    inputs, x, size = imagenet_input(input_shape)
    backbone = keras.applications.ResNet50(include_top=False, weights=weights, input_shape=(*size, 3))
    pretrained = weights is not None
    _freeze(backbone, genome["unfreeze"], pretrained)
    # The Keras guide's training=False is kept for direct calls, but in Keras 3 the outer model's fit() overrides it
    # (keras-team/keras#20285): what really keeps pretrained BatchNormalization in inference mode is _freeze.
    x = backbone(x, training=False) if pretrained else backbone(x)
    x = layers.GlobalAveragePooling2D(name="global_avg")(x)
    if genome["dense_units"]:
        x = layers.Dense(genome["dense_units"], activation="relu", name="dense")(x)
    x = layers.Dropout(genome["dropout"], name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"resnet50_{genome_hash(expressed(genome))}")


class ResNet50Space(SearchSpace):
    """The ResNet50 space for one weights setting, which :meth:`to_config` records."""

    def __init__(self, weights: str | os.PathLike | None = None):
        self.weights = check_weights(weights, model="ResNet50", cache_file=IMAGENET_FILE)
        super().__init__("resnet50", GENES, build=functools.partial(build, weights=self.weights),
                         expressed=expressed, compile=compile_model,
                         description="ResNet50 backbone, last `unfreeze` residual blocks trainable, searched head")

    def to_config(self) -> dict:
        """The space's config, with its ``weights`` setting."""
        return {**super().to_config(), "weights": self.weights}


def space(weights: str | os.PathLike | None = None) -> ResNet50Space:
    """The ResNet50 space. ``weights``: None (random init), "imagenet" (only where Keras already has
    ``~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``; nothing is downloaded) or the path of
    a local .h5/.weights.h5 file of ResNet50(include_top=False) weights."""
    return ResNet50Space(weights)


def backbone_of(model: "keras.Model") -> "keras.Model":
    """The nested ResNet50 model inside a model built by this space."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ConfigError(f"model {model.name!r} has no nested backbone model; was it built by space 'resnet50'?")


def trainable_split(model: "keras.Model") -> tuple[int, int]:
    """(trainable, frozen) counts of the backbone's layers that own weights (convolutions and batch norms)."""
    owners = [layer for layer in backbone_of(model).layers if layer.weights]
    trainable = sum(layer.trainable for layer in owners)
    return trainable, len(owners) - trainable


SPACE = space(weights=None)
