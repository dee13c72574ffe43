"""In-memory images: :func:`arrays` (your own ``x`` and ``y``, spec kind ``"arrays"``, not rebuildable from its spec)
and :func:`digits` (scikit-learn's bundled 8x8 digits, spec kind ``"digits"``, ``--data digits``).

scikit-learn and scipy are imported only when :func:`digits` is called.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .core import Dataset, _check_fractions, _check_seed, _make, register_form, register_kind


def digits(*, image_size: int | None = None, seed: int = 0, val_fraction: float = 0.2,
           test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), shape (N, 8, 8, 1), 10 classes.

    Args:
        image_size: resize (bilinear) to this height and width; None keeps 8x8.
        seed: seeds the split.
        val_fraction, test_fraction: share of each class held out for validation and for testing.
    """
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
                                   or image_size < 2):
        raise ConfigError(f"image_size must be an integer >= 2 or None, got {image_size!r}")
    _check_fractions(val_fraction, test_fraction)
    seed = _check_seed(seed)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    if image_size is not None and image_size != x.shape[1]:
        from scipy.ndimage import zoom

        factor = image_size / x.shape[1]
        # grid_mode aligns pixel edges rather than centres, so the picture is scaled, not shifted or cropped.
        x = zoom(x, (1, factor, factor), order=1, grid_mode=True, mode="nearest")
        x = np.clip(x, 0, 1).astype(np.float32)
    spec = {"kind": "digits", "image_size": None if image_size is None else int(image_size), "seed": int(seed),
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction)}
    return _make("digits", [str(i) for i in range(10)], x[..., None], bunch.target.astype(np.int64), None, spec,
                 int(seed), val_fraction, test_fraction)


# -- user arrays -------------------------------------------------------------------------------------------------------
def _images(x: Any) -> np.ndarray:
    if isinstance(x, (list, tuple)):
        if not x:
            raise DataError("the dataset is empty: x has no images")
        images = [np.asarray(image) for image in x]
        shapes = sorted({image.shape for image in images})
        if len(shapes) > 1:
            raise DataError(f"images have mixed sizes ({', '.join(map(str, shapes[:3]))}"
                            f"{', ...' if len(shapes) > 3 else ''}); resize them to one size first")
        x = np.stack(images)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise DataError(f"x must have shape (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if len(x) == 0:
        raise DataError("the dataset is empty: x has no images")
    if x.dtype.kind not in "biuf":
        raise DataError(f"x must hold numbers, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype == np.uint8:
        return (x / np.float32(255)).astype(np.float32)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"x has {int((~np.isfinite(x)).sum())} NaN or infinite values; clean or drop those images")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 255:
        raise DataError(f"pixel values must lie in [0, 1] or [0, 255], got min {low:g} and max {high:g}; rescale "
                        f"x first")
    return x / np.float32(255) if high > 1 else x


def _labels(y: Any, n: int, class_names: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"y must be a 1-D array of class labels, got shape {y.shape}"
                        f"{' (one-hot? pass y.argmax(axis=1))' if y.ndim == 2 else ''}")
    if len(y) != n:
        raise DataError(f"x has {n} images but y has {len(y)} labels; they must match one to one")
    if y.dtype.kind in "USO":
        labels = [str(label) for label in y.tolist()]
        names = tuple(sorted(set(labels))) if class_names is None else tuple(str(c) for c in class_names)
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise DataError(f"labels {unknown[:5]} are not in class_names {list(names)}; add them to class_names")
        return np.array([index[label] for label in labels], dtype=np.int64), names
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y)))):
        raise DataError(f"y must be integer class indices or string labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"class indices must be >= 0, got {int(y.min())}")
    if class_names is None:
        return y, tuple(str(i) for i in range(int(y.max()) + 1))
    names = tuple(str(c) for c in class_names)
    if int(y.max()) >= len(names):
        raise DataError(f"y has class index {int(y.max())} but only {len(names)} class_names; give one name per "
                        f"class")
    return y, names


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (x, y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def arrays(x: Any, y: Any, *, class_names: Sequence[str] | None = None, seed: int = 0, val_fraction: float = 0.2,
           test_fraction: float = 0.2, name: str = "arrays") -> Dataset:
    """A dataset from your own images and labels, split stratified by class.

    Args:
        x: images, an array (N, H, W) or (N, H, W, C) or a list of equally sized per-image arrays. uint8 values are
            divided by 255; other values must lie in [0, 1] (kept) or [0, 255] (divided by 255 when above 1).
        y: N class indices (ints) or N string labels (then the classes are the sorted distinct labels).
        class_names: one name per class; for string labels it also fixes the class order.
        seed: seeds the split.
        val_fraction, test_fraction: share of each class held out for validation and for testing.
        name: the dataset's name.

    The spec records a fingerprint of the data, not the data: :func:`from_spec` cannot rebuild it.
    """
    _check_fractions(val_fraction, test_fraction)
    seed = _check_seed(seed)
    images = _images(x)
    labels, names = _labels(y, len(images), class_names)
    spec = {"kind": "arrays", "name": name, "n": len(images), "input_shape": list(images.shape[1:]),
            "fingerprint": _fingerprint(images, labels), "seed": int(seed), "val_fraction": float(val_fraction),
            "test_fraction": float(test_fraction)}
    return _make(name, names, images, labels, None, spec, int(seed), val_fraction, test_fraction)


def _parse_digits(form: str, path: str, image_size: int | None, seed: int) -> Dataset | None:
    """``--data digits``; ``digits:`` followed by anything is not a form (None)."""
    return None if path else digits(image_size=image_size, seed=seed)


register_kind("digits", digits)
register_form("digits", _parse_digits, ("digits",))
register_kind("arrays", arrays, rebuild_error="this dataset was made from in-memory arrays, which its spec does not "
                                              "hold: pass the same data= (x, y) again")
