"""The tf.data input pipeline for training: shuffle, batch, augment (training only), prefetch.

Images reach it already decoded, resized and scaled to [0, 1] by the dataset (:mod:`nas.data` reads every file once
with :func:`nas.images.read_image`, the reader prediction uses too), so the pipeline works on arrays in memory: that is
its cache. Augmentation runs on whole batches in parallel with training, and validation and test batches are never
augmented. For a :class:`nas.recipe.Recipe` the pipeline can also give one-hot labels, mix training images
(:func:`mix_batch`: MixUp and CutMix) and draw every epoch's training images class-balanced (oversampling).

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
        hue: largest hue shift as a fraction of the colour circle, in [0, 0.5] (0.05: up to +-18 degrees).
        saturation, contrast: largest change of each image's saturation, contrast: a factor drawn from
            [1 - value, 1 + value]. With ``hue`` the colour jitter against other cameras' colour casts; off by default.
        white_balance: largest white-balance error: each image's channels multiplied by gains drawn from
            [1 - value, 1 + value], one per channel (:data:`nas.shifts.SHIFTS`' colour cast, at random); off by default.
        blur: largest defocus, as a Gaussian's sigma in fractions of the image side (1/64: the mild blur of
            :data:`nas.shifts.SHIFTS`, at least half a pixel): each image is blended with its blurred copy, the
            blurred share drawn from [0, 1]; off by default.
    """

    rotation: float = 0.1
    horizontal_flip: bool = True
    vertical_flip: bool = True
    zoom: float = 0.1
    brightness: float = 0.1
    hue: float = 0.0
    saturation: float = 0.0
    contrast: float = 0.0
    white_balance: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "zoom", "brightness", "saturation", "contrast", "hue", "white_balance", "blur"):
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, (int, float))
            if not (number and (0 <= value <= 0.5 if name == "hue" else 0 <= value < 1)):
                interval = "[0, 0.5]" if name == "hue" else "[0, 1)"
                raise ConfigError(f"Augmentation.{name} must be a number in {interval}, got {value!r}")

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


def color_jitter(images: "tf.Tensor", augmentation: Augmentation, generator: "tf.random.Generator") -> "tf.Tensor":
    """``images`` (a batch in [0, 1]) with each image's contrast, hue and saturation changed at random within
    ``augmentation``'s ``contrast``, ``hue`` and ``saturation`` (hue and saturation need RGB images)."""
    import tensorflow as tf

    n = tf.shape(images)[0]

    def factor(spread: float, shape: list) -> "tf.Tensor":
        return generator.uniform(shape, 1.0 - spread, 1.0 + spread)

    if augmentation.contrast:
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        images = tf.clip_by_value((images - mean) * factor(augmentation.contrast, [n, 1, 1, 1]) + mean, 0.0, 1.0)
    if augmentation.hue or augmentation.saturation:
        hue, saturation, value = tf.unstack(tf.image.rgb_to_hsv(images), axis=-1)
        if augmentation.hue:
            hue = tf.math.floormod(hue + generator.uniform([n, 1, 1], -augmentation.hue, augmentation.hue), 1.0)
        if augmentation.saturation:
            saturation = tf.clip_by_value(saturation * factor(augmentation.saturation, [n, 1, 1]), 0.0, 1.0)
        images = tf.image.hsv_to_rgb(tf.stack([hue, saturation, value], axis=-1))
    return images


def camera_jitter(images: "tf.Tensor", augmentation: Augmentation, generator: "tf.random.Generator") -> "tf.Tensor":
    """``images`` (a batch in [0, 1] of static height and width) with each image's white balance and focus changed at
    random within ``augmentation``'s ``white_balance`` and ``blur``."""
    import tensorflow as tf

    n, channels = tf.shape(images)[0], images.shape[-1]
    if augmentation.white_balance:
        spread = augmentation.white_balance
        images = tf.clip_by_value(images * generator.uniform([n, 1, 1, channels], 1.0 - spread, 1.0 + spread), 0.0, 1.0)
    if augmentation.blur:
        sigma = max(augmentation.blur * min(images.shape[1], images.shape[2]), 0.5)
        radius = min(int(np.ceil(3 * sigma)), min(images.shape[1], images.shape[2]) - 1)
        weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel = tf.constant(np.tile((weights / weights.sum())[:, None, None], (1, channels, 1)), tf.float32)
        blurred = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
        blurred = tf.nn.depthwise_conv2d(blurred, kernel[:, None], [1, 1, 1, 1], "VALID")
        blurred = tf.nn.depthwise_conv2d(blurred, kernel[None, :], [1, 1, 1, 1], "VALID")
        share = generator.uniform([n, 1, 1, 1])
        images = share * blurred + (1.0 - share) * images
    return images


def _beta(alpha: "tf.Tensor", generator: "tf.random.Generator") -> "tf.Tensor":
    """One Beta(alpha, alpha) draw per entry of ``alpha``, as the ratio of two Gamma draws."""
    import tensorflow as tf

    seeds = generator.make_seeds(2)
    first = tf.random.stateless_gamma(tf.shape(alpha), seed=seeds[:, 0], alpha=alpha)
    second = tf.random.stateless_gamma(tf.shape(alpha), seed=seeds[:, 1], alpha=alpha)
    return first / tf.maximum(first + second, 1e-12)


def _cut_boxes(images: "tf.Tensor", keep: "tf.Tensor", generator: "tf.random.Generator") -> "tf.Tensor":
    """A (N, H, W) mask per image, 1 outside a random box of about ``1 - keep`` of the image's area, 0 inside (the
    box is clipped at the borders, so it may be smaller)."""
    import tensorflow as tf

    n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    side = tf.sqrt(1.0 - keep)
    inside = []
    for size, axis in ((height, 1), (width, 2)):
        extent, centre = tf.cast(size, tf.float32), generator.uniform([n], 0.0, tf.cast(size, tf.float32))
        low = tf.round(tf.clip_by_value(centre - side * extent / 2, 0.0, extent))
        high = tf.round(tf.clip_by_value(centre + side * extent / 2, 0.0, extent))
        positions = tf.range(size, dtype=tf.float32)[None, :] + 0.5
        inside.append(tf.expand_dims((positions >= low[:, None]) & (positions < high[:, None]), 3 - axis))
    return 1.0 - tf.cast(inside[0] & inside[1], tf.float32)


def mix_batch(images: "tf.Tensor", labels: "tf.Tensor", *, mixup: float, cutmix: float, probability: float,
              generator: "tf.random.Generator") -> tuple["tf.Tensor", "tf.Tensor"]:
    """MixUp and CutMix on a batch of images in [0, 1] and one-hot ``labels``.

    With ``probability`` each image is mixed with another image of the batch: MixUp blends the two with a weight
    drawn from Beta(``mixup``, ``mixup``); CutMix pastes a box of the other image whose area is drawn from
    Beta(``cutmix``, ``cutmix``); with both on, each mixed image gets one of the two, half and half. The labels are
    mixed in the proportion of each image's pixels, so they still sum to 1.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    order = tf.argsort(generator.uniform([n]))
    use_cut = generator.uniform([n]) < (0.5 if mixup and cutmix else float(bool(cutmix)))
    keep = _beta(tf.where(use_cut, float(cutmix or 1.0), float(mixup or 1.0)), generator)
    weight = tf.where(use_cut[:, None, None], _cut_boxes(images, keep, generator), keep[:, None, None])
    weight = tf.where((generator.uniform([n]) < probability)[:, None, None], weight, 1.0)[..., None]
    mixed = tf.clip_by_value(weight * images + (1.0 - weight) * tf.gather(images, order), 0.0, 1.0)
    share = tf.reduce_mean(weight, axis=[1, 2, 3])[:, None]
    return mixed, share * labels + (1.0 - share) * tf.gather(labels, order)


def _balanced(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int) -> "tf.data.Dataset":
    """Batches of a class-balanced epoch: every class present ``ceil(N / classes)`` times, each class's images
    cycled in a fresh random order (the rarer classes repeat), in random order."""
    import tensorflow as tf

    present = np.unique(y)
    per_class = -(-len(y) // len(present))
    streams = [tf.data.Dataset.from_tensor_slices(np.flatnonzero(y == c))
               .shuffle(int(np.sum(y == c)), seed=seed + i + 1, reshuffle_each_iteration=True).repeat()
               for i, c in enumerate(present)]
    choice = tf.data.Dataset.range(len(present)).repeat(per_class).shuffle(
        per_class * len(present), seed=seed, reshuffle_each_iteration=True)
    images, labels = tf.constant(x), tf.constant(y)
    indices = tf.data.Dataset.choose_from_datasets(streams, choice).batch(int(batch_size)).apply(
        tf.data.experimental.assert_cardinality(-(-per_class * len(present) // int(batch_size))))
    return indices.map(lambda picked: (tf.gather(images, picked), tf.gather(labels, picked)))


def pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, training: bool,
             augmentation: Augmentation | None = None, seed: int = 0, num_classes: int | None = None,
             mixup: float = 0.0, cutmix: float = 0.0, mix_probability: float = 1.0,
             balanced: bool = False) -> "tf.data.Dataset":
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Args:
        x, y: images (N, H, W, C) in [0, 1] and int class indices.
        batch_size: images per batch.
        training: shuffle every epoch and apply ``augmentation``, the mixing and the balancing; False gives the images
            as they are, in order.
        augmentation: what to change in training images (None: nothing).
        seed: seeds the shuffling and the augmentation.
        num_classes: give the labels one-hot with this many classes (None: int class indices).
        mixup, cutmix, mix_probability: :func:`mix_batch`'s Beta parameters (0: off) and the share of images mixed;
            mixing needs one-hot labels.
        balanced: draw each epoch's training images class-balanced (:func:`_balanced`) instead of each image once.
    """
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    mixing = training and bool(mixup or cutmix)
    if mixing and num_classes is None:
        raise ConfigError("MixUp and CutMix mix labels: give num_classes for one-hot labels")
    colour = training and augmentation is not None and bool(augmentation.hue or augmentation.saturation)
    if colour and x.shape[-1] != 3:
        raise ConfigError(f"hue and saturation jitter need RGB images, these have {x.shape[-1]} channel(s)")
    if training and balanced:
        batches = _balanced(x, y, batch_size=batch_size, seed=seed)
    else:
        batches = tf.data.Dataset.from_tensor_slices((x, y))
        if training:
            batches = batches.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        batches = batches.batch(int(batch_size))
    if num_classes is not None:
        batches = batches.map(lambda images, labels: (images, tf.one_hot(labels, int(num_classes))))
    if training and ((augmentation is not None and augmentation.active) or mixing):
        batches = batches.map(_augmenter(augmentation, seed, mixup=mixup, cutmix=cutmix, probability=mix_probability),
                              num_parallel_calls=None)
    return batches.prefetch(tf.data.AUTOTUNE)


def _augmenter(augmentation: Augmentation | None, seed: int, *, mixup: float, cutmix: float, probability: float):
    """The function :func:`pipeline` maps over training batches: Keras' augmentation layers, the colour jitter, the
    camera jitter, the mixing."""
    import tensorflow as tf

    augmentation = augmentation or Augmentation.none()
    stages = augmentation.layers(seed)
    colour = bool(augmentation.hue or augmentation.saturation or augmentation.contrast)
    camera = bool(augmentation.white_balance or augmentation.blur)
    generator = tf.random.Generator.from_seed(seed + 7) if colour or camera or mixup or cutmix else None

    def augment(images, labels):
        for stage in stages:
            images = stage(images, training=True)
        images = tf.clip_by_value(images, 0.0, 1.0)
        if colour and generator is not None:
            images = color_jitter(images, augmentation, generator)
        if camera and generator is not None:
            images = camera_jitter(images, augmentation, generator)
        if (mixup or cutmix) and generator is not None:
            images, labels = mix_batch(images, labels, mixup=mixup, cutmix=cutmix, probability=probability,
                                       generator=generator)
        return images, labels

    return augment
