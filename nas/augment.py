"""The tf.data input pipeline for training: shuffle, batch, augment (training only), prefetch.

Images reach it already decoded, resized and scaled to [0, 1] by the dataset (:mod:`nas.data` reads every file once
with :func:`nas.images.read_image`, the reader prediction uses too), so the pipeline works on arrays in memory: that is
its cache. Augmentation runs on whole batches in parallel with training, and validation and test batches are never
augmented.

Example:
    >>> batches = pipeline(data.x_train, data.y_train, batch_size=32, training=True, augmentation=Augmentation())
    ...                                                                                     # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Mapping

import numpy as np

from .errors import ConfigError, from_fields

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training images; each is switched off by 0 or False.

    Dermoscopy images have no up, down, left or right, so flips and rotations keep the diagnosis.

    Args:
        rotation: largest rotation as a fraction of a full turn (0.1: up to +-36 degrees); borders are reflected.
        horizontal_flip, vertical_flip: flip half of the images left-right, up-down.
        zoom: largest zoom in or out as a fraction of the size (0.1: 90% to 110%); zooming in crops.
        brightness: largest brightness shift as a fraction of the [0, 1] range.
    """

    rotation: float = 0.1
    horizontal_flip: bool = True
    vertical_flip: bool = True
    zoom: float = 0.1
    brightness: float = 0.1

    def __post_init__(self) -> None:
        for name in ("rotation", "zoom", "brightness"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"Augmentation.{name} must be a number in [0, 1), got {value!r}")

    @classmethod
    def none(cls) -> "Augmentation":
        """No augmentation at all."""
        return cls(rotation=0.0, horizontal_flip=False, vertical_flip=False, zoom=0.0, brightness=0.0)

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return any(bool(getattr(self, f.name)) for f in fields(self))

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "Augmentation":
        """The augmentation :meth:`to_dict` wrote; unknown keys raise :class:`ConfigError`."""
        return from_fields(cls, values)

    def layers(self, seed: int) -> list:
        """The Keras preprocessing layers that apply this augmentation."""
        from keras import layers

        stages = []
        flip = {(True, True): "horizontal_and_vertical", (True, False): "horizontal",
                (False, True): "vertical"}.get((self.horizontal_flip, self.vertical_flip))
        if flip:
            stages.append(layers.RandomFlip(flip, seed=seed))
        if self.rotation:
            stages.append(layers.RandomRotation(self.rotation, fill_mode="reflect", seed=seed + 1))
        if self.zoom:
            stages.append(layers.RandomZoom(self.zoom, fill_mode="reflect", seed=seed + 2))
        if self.brightness:
            stages.append(layers.RandomBrightness(self.brightness, value_range=(0.0, 1.0), seed=seed + 3))
        return stages


def pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, training: bool,
             augmentation: Augmentation | None = None, seed: int = 0) -> "tf.data.Dataset":
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Args:
        x, y: images (N, H, W, C) in [0, 1] and int class indices.
        batch_size: images per batch.
        training: shuffle every epoch and apply ``augmentation``; False gives the images as they are, in order.
        augmentation: what to change in training images (None: nothing).
        seed: seeds the shuffling and the augmentation.
    """
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    batches = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        batches = batches.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = batches.batch(int(batch_size))
    if training and augmentation is not None and augmentation.active:
        stages = augmentation.layers(seed)

        def augment(images, labels):
            for stage in stages:
                images = stage(images, training=True)
            return tf.clip_by_value(images, 0.0, 1.0), labels

        batches = batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)
