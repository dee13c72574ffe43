"""Test-time augmentation: a model's probabilities averaged over fixed flips and rotations of each image.

The views are the changes training makes (:class:`nas.augment.Augmentation`), applied deterministically: first the
flips training uses (left-right, up-down, both), then rotations by the training's largest angle each way (borders
reflected, as in training), then those rotations flipped. View 0 is always the image itself, so ``n=1`` is plain
prediction. Averaging is over probabilities, one model call per view.

Example:
    >>> probabilities = nas.tta.predict(model, x_test, views=4)                  # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .augment import Augmentation
from .errors import ConfigError

if TYPE_CHECKING:
    import keras

__all__ = ["MAX_VIEWS", "predict", "view", "view_names"]

MAX_VIEWS = 8


def _views(augmentation: Augmentation | None) -> list[tuple[str, str, float]]:
    """(name, flip, degrees) of every view for ``augmentation``, in order, at most :data:`MAX_VIEWS`."""
    augmentation = Augmentation() if augmentation is None else augmentation
    flips = [name for name, on in (("flip-left-right", augmentation.horizontal_flip),
                                   ("flip-up-down", augmentation.vertical_flip)) if on]
    flips += ["rotate-180"] if len(flips) == 2 else []
    views = [("identity", "identity", 0.0)] + [(flip, flip, 0.0) for flip in flips]
    if augmentation.rotation:
        degrees = round(augmentation.rotation * 360, 2)
        turns = [(f"rotate+{degrees}", "identity", degrees), (f"rotate-{degrees}", "identity", -degrees)]
        views += turns + [(f"{flip}+{turn}", flip, angle) for flip, (turn, _, angle) in zip(flips[:2], turns)]
    return views[:MAX_VIEWS]


def view_names(augmentation: Augmentation | None = None) -> list[str]:
    """The views :func:`view` makes for ``augmentation`` (default: the retrain's :class:`Augmentation`), in order."""
    return [name for name, _, _ in _views(augmentation)]


def _rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    from scipy.ndimage import rotate

    return np.clip(rotate(x, degrees, axes=(2, 1), reshape=False, order=1, mode="reflect"), 0.0, 1.0)


_FLIPS = {"identity": lambda x: x, "flip-left-right": lambda x: x[:, :, ::-1], "flip-up-down": lambda x: x[:, ::-1],
          "rotate-180": lambda x: x[:, ::-1, ::-1]}


def view(x: np.ndarray, name: str, augmentation: Augmentation | None = None) -> np.ndarray:
    """The images ``x`` (N, H, W, C) seen through one of :func:`view_names` ``(augmentation)``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ConfigError(f"test-time augmentation takes a batch of images (N, H, W, C), got shape {x.shape}")
    found = {view_name: (flip, degrees) for view_name, flip, degrees in _views(augmentation)}.get(name)
    if found is None:
        raise ConfigError(f"unknown test-time view {name!r}; the views are {', '.join(view_names(augmentation))}")
    flip, degrees = found
    images = np.ascontiguousarray(_FLIPS[flip](x))
    return _rotate(images, degrees) if degrees else images


def predict(model: "keras.Model", x: np.ndarray, views: int = 1, *, augmentation: Augmentation | None = None,
            batch_size: int = 256) -> np.ndarray:
    """The mean of ``model``'s class probabilities over the first ``views`` of :func:`view_names` (1: no TTA)."""
    from .training import predict as plain

    available = view_names(augmentation)
    if isinstance(views, bool) or not isinstance(views, (int, np.integer)) or not 1 <= views <= len(available):
        raise ConfigError(f"test-time augmentation takes 1 to {len(available)} views with this augmentation "
                          f"({', '.join(available)}), got {views!r}")
    x = np.asarray(x, dtype=np.float32)
    return np.mean([plain(model, view(x, name, augmentation), batch_size) for name in available[:views]], axis=0)
