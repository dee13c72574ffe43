"""The paper's baselines: its traditional CNN (Table 1), VGG16 and ResNet50, built to train on the same data as a
search.

Every model takes images scaled to [0, 1] (like every ``nas`` model) and ends in a softmax. VGG16 and ResNet50 carry
their ImageNet preprocessing inside the model as plain Keras layers (no ``Lambda``), so saved models load in Keras safe
mode and an exported model needs no outside preprocessing.

Example:
    >>> from nas import baselines                                              # doctest: +SKIP
    >>> model = baselines.build("table1", (100, 100, 3), 7)
    >>> model.count_params()
    4031527
    >>> baselines.compile(model, "table1")                       # Adam 1e-3, as the paper's Table-1 network
    >>> model.fit(x, y, batch_size=baselines.settings("table1")["batch_size"], ...)
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from search_spaces.resnet50 import imagenet_input

from .errors import ConfigError
from .weights import check_weights

if TYPE_CHECKING:
    import keras

__all__ = ["NAMES", "VGG16_FILE", "build", "settings", "compile", "imagenet_input"]

NAMES = ("table1", "vgg16", "resnet50")
VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
HEAD_UNITS = 256
HEAD_DROPOUT = 0.5


def _check_name(name: str) -> str:
    if name not in NAMES:
        raise ConfigError(f"unknown baseline {name!r}; choose one of {', '.join(NAMES)}")
    return name


def _image_shape(name: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape) or int(input_shape[2]) not in (1, 3):
        raise ConfigError(f"baseline {name!r} needs (height, width, 1 or 3 channels) images, got input shape "
                          f"{tuple(input_shape)}")
    return int(input_shape[0]), int(input_shape[1]), int(input_shape[2])


def _table1(input_shape: Sequence[int], num_classes: int, weights):
    from search_spaces import cnn

    if weights is not None:
        raise ConfigError(f"the Table-1 network trains from scratch; weights must be None, got {weights!r}")
    if cnn.feature_map_size(cnn.TABLE1, input_shape) is None:
        raise ConfigError(f"input shape {tuple(input_shape)} is too small for the Table-1 network (two blocks of two "
                          f"unpadded 3x3 convolutions and a 2x2 pooling need images of at least 16x16 pixels); use a "
                          f"larger --image-size")
    model = cnn.SPACE.build(cnn.TABLE1, input_shape, num_classes)
    model.name = "table1"
    return model


def _head(inputs, features, num_classes: int, name: str):
    import keras
    from keras import layers

    x = layers.GlobalAveragePooling2D(name="global_avg")(features)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="dense")(x)
    x = layers.Dropout(HEAD_DROPOUT, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _vgg16(input_shape: Sequence[int], num_classes: int, weights):
    import keras

    weights = check_weights(weights, model="VGG16", cache_file=VGG16_FILE)
    inputs, x, size = imagenet_input(_image_shape("vgg16", input_shape))
    backbone = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(*size, 3))
    return _head(inputs, backbone(x), num_classes, "vgg16")


def _resnet50(input_shape: Sequence[int], num_classes: int, weights):
    from search_spaces import resnet50

    # The resnet50 space already builds a ResNet50 with its preprocessing and a head; the baseline is its point with
    # the whole backbone trainable (with pretrained weights its BatchNormalization statistics stay frozen).
    space = resnet50.space(weights)
    genome = {"unfreeze": resnet50.UNFREEZE_ALL, "dense_units": HEAD_UNITS, "dropout": HEAD_DROPOUT,
              "learning_rate": settings("resnet50", weights)["learning_rate"], "finetune_lr_factor": 1.0,
              "batch_size": settings("resnet50", weights)["batch_size"]}
    model = space.build(genome, _image_shape("resnet50", input_shape), num_classes)
    model.name = "resnet50"
    return model


_BUILDERS = {"table1": _table1, "vgg16": _vgg16, "resnet50": _resnet50}


def build(name: str, input_shape: Sequence[int], num_classes: int,
          weights: str | os.PathLike | None = None) -> "keras.Model":
    """An uncompiled ``keras.Model`` of the baseline ``name`` for [0, 1] images of ``input_shape``.

    Args:
        name: ``"table1"`` (the paper's traditional CNN: 4,031,527 parameters at 100x100x3 with 7 classes),
            ``"vgg16"`` or ``"resnet50"`` (``keras.applications`` backbones without their top, under a global average
            pooling, a 256-unit dense layer, dropout 0.5 and a softmax).
        input_shape: (height, width, channels); VGG16 and ResNet50 upsample images smaller than 32 pixels.
        num_classes: the number of classes.
        weights: backbone weights for vgg16/resnet50: None (random), a local .h5 file of the backbone without its top,
            or "imagenet" when Keras already has the file in its cache (``~/.keras/models/``); nothing is downloaded.
            The Table-1 network takes None only.

    Raises:
        ConfigError: an unknown name, a bad input shape, or weights that are missing or of the wrong kind.
    """
    return _BUILDERS[_check_name(name)](tuple(input_shape), int(num_classes), weights)


def settings(name: str, weights: str | os.PathLike | None = None) -> dict:
    """The recommended training settings of a baseline: ``{"optimizer", "learning_rate", "batch_size"}``.

    Table 1 keeps the paper's Adam at 1e-3. VGG16 has no batch normalisation and stalls at 1e-3, so it gets 1e-4
    either way; ResNet50 gets 1e-3 from scratch and 1e-4 when fine-tuning pretrained weights.
    """
    from search_spaces import cnn

    _check_name(name)
    if name == "table1":
        return {key: cnn.TABLE1[key] for key in ("optimizer", "learning_rate", "batch_size")}
    learning_rate = 1e-4 if name == "vgg16" or weights is not None else 1e-3
    return {"optimizer": "adam", "learning_rate": learning_rate, "batch_size": 32}


def compile(model: "keras.Model", name: str, weights: str | os.PathLike | None = None) -> None:  # noqa: A001 - mirrors Keras
    """Compile ``model`` with the baseline's :func:`settings`: Adam, sparse categorical cross-entropy, accuracy."""
    import keras

    chosen = settings(name, weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=chosen["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
