"""How far to trust a heatmap: deletion and insertion AUC, energy in mask and the pointing game, each against random
heatmaps.

:func:`deletion_auc` and :func:`insertion_auc` (Petsiuk et al., BMVC 2018) remove or reveal pixels in the heatmap's
order and follow the class probability; :func:`energy_in_mask` and :func:`pointing_game` compare the heatmap with a
lesion mask. :func:`evaluate_faithfulness` reports each against random heatmaps, the floor a useful explanation must
clear.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, DataError
from .cam import _check_images, _class_indices, _explain, _probabilities, feature_layer_names

if TYPE_CHECKING:
    import keras

#: What replaces a deleted pixel (and what insertion starts from): a Gaussian blur of the image with a sigma of
#: 1/8 of its larger side ("blur", as Petsiuk et al. used for insertion), or the image's mean colour ("mean").
BASELINES = ("blur", "mean")
_BLUR_FRACTION = 1 / 8
_PERTURBED_BATCH = 256  # perturbed images assembled at a time for the faithfulness curves


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
    """The trapezoid rule on [0, 1] (written out: numpy 1.x has no ``trapezoid``, numpy 2 deprecates ``trapz``)."""
    return (curves[:, 1:] + curves[:, :-1]).sum(axis=1) / (2.0 * (curves.shape[1] - 1))


def deletion_auc(model: keras.Model, images: ArrayLike, heatmaps: ArrayLike, class_index: ArrayLike | None = None,
                 *, steps: int = 20, baseline: str = "blur", seed: int = 0) -> np.ndarray:
    """Area under the class probability as the most salient pixels are deleted first (lower: more faithful).

    Deleted pixels take the value of the ``baseline`` image (see :data:`BASELINES`). Returns one area per image in
    [0, 1]; ``class_index`` None follows each image's predicted class.
    """
    return _area(_curves(model, images, heatmaps, class_index, insert=False, steps=steps, baseline=baseline,
                         seed=seed))


def insertion_auc(model: keras.Model, images: ArrayLike, heatmaps: ArrayLike, class_index: ArrayLike | None = None,
                  *, steps: int = 20, baseline: str = "blur", seed: int = 0) -> np.ndarray:
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


def energy_in_mask(heatmaps: ArrayLike, masks: ArrayLike) -> np.ndarray:
    """Share of each heatmap's sum that lies inside its mask (NaN for an all-zero heatmap). A random map scores the
    mask's share of the image."""
    heatmaps, masks = _check_masks(heatmaps, masks)
    total = heatmaps.sum(axis=(1, 2))
    inside = (heatmaps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(total), np.nan), where=total > 0)


def pointing_game(heatmaps: ArrayLike, masks: ArrayLike, tolerance: int = 0) -> np.ndarray:
    """Whether each heatmap's peak falls inside its mask, grown by ``tolerance`` pixels (Zhang et al., ECCV 2016,
    used 15 px at 224 px). An all-zero heatmap points nowhere and misses."""
    maps, regions = _check_masks(heatmaps, masks)
    if tolerance:
        from scipy.ndimage import binary_dilation

        radius = int(tolerance)
        grid = np.arange(-radius, radius + 1)
        disk = grid[:, None] ** 2 + grid[None, :] ** 2 <= radius ** 2
        regions = np.stack([binary_dilation(mask, structure=disk) for mask in regions])
    flat = maps.reshape(len(maps), -1)
    peaks = flat.argmax(axis=1)
    return regions.reshape(len(regions), -1)[np.arange(len(regions)), peaks] & (flat.max(axis=1) > 0)


def _paired_figure(key: str, ours: np.ndarray, chance: np.ndarray) -> tuple[dict[str, float], bool]:
    """The figure ``key`` of :func:`evaluate_faithfulness` from its per-image values for the heatmaps (``ours``) and
    the random ones (``chance``): their means and the standard error of their paired difference, and whether the
    heatmaps beat the random ones by more than two standard errors."""
    # Paired per image; an all-zero heatmap has no energy share and drops out of that figure.
    kept = ~np.isnan(ours)
    difference = ours[kept] - chance[kept]
    error = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else float("nan")
    figure = {"heatmap": float(ours[kept].mean()) if kept.any() else float("nan"), "random": float(chance.mean()),
              "standard_error": error}
    gain = -difference.mean() if key == "deletion_auc" else difference.mean()
    return figure, bool(len(difference) > 1 and gain > 2 * error)


def evaluate_faithfulness(model: keras.Model, images: ArrayLike, masks: ArrayLike | None = None, *,
                          class_index: ArrayLike | None = None, method: str = "gradcam",
                          layer: str | keras.layers.Layer | None = None, steps: int = 20, baseline: str = "blur",
                          seed: int = 0) -> dict[str, Any]:
    """Faithfulness of the heatmaps of ``method`` against random heatmaps on the same images.

    Args:
        model, images, class_index, layer, method: as for :func:`gradcam`.
        masks: (N, H, W) lesion masks, or None to skip the mask figures.
        steps: points of the deletion and insertion curves, after the unperturbed image.
        baseline: "blur" or "mean", see :data:`BASELINES`.
        seed: seeds the random heatmaps and the order of tied pixels.

    Returns:
        A JSON-able dict: ``images``, ``method``, ``layer`` (an ensemble's: each member's, comma-separated),
        ``baseline``, ``steps``, ``seconds``, and for ``deletion_auc`` (lower is better), ``insertion_auc`` (higher is
        better) and, with masks, ``energy_in_mask`` and ``pointing_game`` (higher is better), a dict of the mean over
        images for ``"heatmap"`` and ``"random"`` and the ``"standard_error"`` of their paired per-image difference.
        ``better_than_random`` lists the figures on which the heatmaps beat the random ones by more than two standard
        errors. With masks also ``mask_fraction``, the mean share of the image inside the mask (what random maps score
        on average), and ``empty_heatmaps``, the number of all-zero heatmaps (left out of ``energy_in_mask``).
        ``mean_probability`` is the mean probability of the explained class.
    """
    clock = time.perf_counter()
    x = _check_images(model, images)
    heatmaps, probabilities, explained = _explain(model, x, class_index, layer, method)
    random = random_heatmaps(heatmaps.shape, seed)
    options = dict(steps=steps, baseline=baseline, seed=seed)
    result: dict[str, Any] = {"images": len(x), "method": method, "layer": ", ".join(feature_layer_names(model, layer)),
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
        result[key], better = _paired_figure(key, ours, chance)
        if better:
            result["better_than_random"].append(key)
    result["mean_probability"] = float(probabilities[np.arange(len(x)), explained].mean())
    result["seconds"] = round(time.perf_counter() - clock, 3)
    return result

