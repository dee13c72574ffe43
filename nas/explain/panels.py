"""Pictures of a heatmap: a colour overlay on the photo, a caption, and original | heatmap | overlay panels as PNG.

Everything here is numpy, Pillow and matplotlib's Agg canvas (no display, safe in a web server's threads); heatmaps
of any size are resized (bilinear) to the image they are laid over.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError


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


def overlay(image: ArrayLike, heatmap: ArrayLike, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
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


def caption(class_names: Sequence[str], probabilities: ArrayLike, explained: int | None = None) -> str:
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


def panel_png(image: ArrayLike, heatmap: ArrayLike, title: str) -> bytes:
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


def save_panel(path: str | os.PathLike, image: ArrayLike, heatmap: ArrayLike, title: str) -> Path:
    """Write :func:`panel_png` to ``path`` (atomically; the folder is created)."""
    from ..files import write_atomic

    return write_atomic(path, panel_png(image, heatmap, title), parents=True)

