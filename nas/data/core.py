"""Datasets: train/validation/test splits of images in memory, and the constructors that make them.

Every dataset carries a JSON-able ``spec`` from which :func:`from_spec` rebuilds the very same arrays, so only the spec
needs to cross process or machine boundaries (resumed runs, the CLI, remote workers). Only numpy is imported here;
scikit-learn and scipy are imported by the constructors that need them.

Example:
    >>> data = synthetic_lesions(n=70, image_size=16, seed=0)
    >>> data.input_shape, data.num_classes
    ((16, 16, 3), 7)
    >>> from_spec(data.spec).x_train.tobytes() == data.x_train.tobytes()
    True
"""
from __future__ import annotations

import csv
import hashlib
import inspect
import io
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["Dataset", "LESION_CLASSES", "MALIGNANT", "CLASS_FULL_NAMES", "from_spec", "synthetic_lesions", "digits",
           "arrays", "ham10000", "image_folder", "coerce", "parse"]

LESION_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
#: The malignant HAM10000 classes; the other four are benign.
MALIGNANT = ("mel", "bcc", "akiec")
#: Readable names of the HAM10000 classes, for reports and the web page.
CLASS_FULL_NAMES = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma (akiec)",
    "bcc": "Basal cell carcinoma (bcc)",
    "bkl": "Benign keratosis-like lesion (bkl)",
    "df": "Dermatofibroma (df)",
    "mel": "Melanoma (mel)",
    "nv": "Melanocytic nevus (nv)",
    "vasc": "Vascular lesion (vasc)",
}

_SPLITS = ("train", "val", "test")


@dataclass(eq=False, repr=False)
class Dataset:
    """Train/validation/test splits of images in memory.

    Attributes:
        name: ``"synthetic_lesions"``, ``"digits"``, ``"arrays"`` (or the name given to :func:`arrays`).
        class_names: one name per class index.
        x_train, x_val, x_test: float32 images, shape (N, H, W, C), values in [0, 1].
        y_train, y_val, y_test: int64 class indices, shape (N,).
        masks_train, masks_val, masks_test: bool lesion masks, shape (N, H, W), or None when the data has none.
        spec: JSON-able description from which :func:`from_spec` rebuilds this exact dataset.
        image_ids_train, image_ids_val, image_ids_test: per-image ids (HAM10000 image_id, or the file's path in an
            image folder), None for generated data. An oversampled training split repeats ids.
        lesion_ids_train, lesion_ids_val, lesion_ids_test: the group each image belongs to (HAM10000 lesion_id); no
            group is in two splits.
        malignant: names of the malignant classes (HAM10000 and synthetic lesions: mel, bcc, akiec), else empty.
        default_objectives: what a search on this data should maximise unless told otherwise (HAM10000: validation
            balanced accuracy, since plain accuracy rewards predicting the majority class).
        class_weighted: whether training should weight the loss by inverse class frequency unless told otherwise.
    """

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    masks_train: np.ndarray | None = None
    masks_val: np.ndarray | None = None
    masks_test: np.ndarray | None = None
    spec: dict | None = None
    image_ids_train: np.ndarray | None = None
    image_ids_val: np.ndarray | None = None
    image_ids_test: np.ndarray | None = None
    lesion_ids_train: np.ndarray | None = None
    lesion_ids_val: np.ndarray | None = None
    lesion_ids_test: np.ndarray | None = None
    malignant: tuple[str, ...] = ()
    default_objectives: tuple[str, ...] = ("val_accuracy",)
    class_weighted: bool = False

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)
        self.spec = dict(self.spec or {"kind": self.name})
        self.malignant = tuple(self.malignant)
        self.default_objectives = tuple(self.default_objectives)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, (H, W, C)."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_weights(self) -> dict[int, float]:
        """Keras ``class_weight`` that balances the training split: ``n / (k * count_c)`` for class ``c``."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        n, k = len(self.y_train), self.num_classes
        # A class absent from the training split carries no sample, so its weight is never used: 1.0 keeps the dict
        # complete (Keras wants every class) without pretending to know anything.
        return {c: float(n / (k * counts[c])) if counts[c] else 1.0 for c in range(k)}

    def write_splits(self, path: str | os.PathLike) -> Path | None:
        """Write which image went to which split as CSV (image_id, lesion_id, dx, split), so that anyone can audit
        the split and :func:`ham10000` can reuse it (``splits_file=``). Generated data has no image ids: nothing is
        written and None is returned."""
        if self.image_ids_train is None:
            return None
        from ..runfolder import write_atomic

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image_id", "lesion_id", "dx", "split"])
        for split in _SPLITS:
            seen: set[str] = set()  # an oversampled training split repeats images; list each once
            for image, lesion, label in zip(getattr(self, f"image_ids_{split}"), getattr(self, f"lesion_ids_{split}"),
                                            getattr(self, f"y_{split}")):
                if image not in seen:
                    seen.add(image)
                    writer.writerow([image, lesion, self.class_names[label], split])
        path = Path(path)
        write_atomic(path, buffer.getvalue())
        return path

    def summary(self) -> str:
        """One line: name, split sizes, input shape and classes."""
        shape = "x".join(str(s) for s in self.input_shape)
        names = ", ".join(self.class_names)
        if len(names) > 60:
            names = names[:57] + "..."
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"{shape}, {self.num_classes} classes ({names})")

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


# -- splitting ---------------------------------------------------------------------------------------------------------
def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"val_fraction and test_fraction must each be in (0, 1) and sum to less than 1, got "
                          f"{val_fraction} and {test_fraction}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _split_indices(y: np.ndarray, class_names: Sequence[str], seed: int, val_fraction: float,
                   test_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train/val/test indices: every class present in ``y`` lands in all three splits.

    Done per class with numpy rather than with ``sklearn.model_selection.train_test_split(stratify=...)``, which
    rounds globally and can leave a rare class out of a small split; this also keeps scikit-learn out of the import.
    """
    rng = np.random.default_rng([seed, 1])  # its own stream, so the split does not shift with how images were drawn
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        count = len(members)
        if count < 3:
            raise DataError(f"class {class_names[c]!r} has {count} sample{'s' * (count != 1)}; need at least 3 per "
                            f"class to fill the train, validation and test splits: add samples or drop the class")
        n_val = max(1, round(count * val_fraction))
        n_test = max(1, round(count * test_fraction))
        while count - n_val - n_test < 1:  # large fractions on a small class: give training its one sample back
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        members = rng.permutation(members)
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val:n_val + n_test])
        parts[0].append(members[n_val + n_test:])
    # Shuffle within each split so that batches mix classes instead of arriving sorted by class.
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def _oversample(index: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """``index`` plus random repeats (seeded, with replacement) of each class's members up to the largest class."""
    rng = np.random.default_rng([seed, 3])
    counts = np.bincount(y[index])
    extra = [rng.choice(index[y[index] == c], counts.max() - counts[c]) for c in np.flatnonzero(counts)]
    return rng.permutation(np.concatenate([index, *extra]))


def _make(name: str, class_names: Sequence[str], x: np.ndarray, y: np.ndarray, masks: np.ndarray | None, spec: dict,
          seed: int, val_fraction: float, test_fraction: float, *, splits: Sequence[np.ndarray] | None = None,
          image_ids: np.ndarray | None = None, lesion_ids: np.ndarray | None = None, oversample: bool = False,
          **attributes: Any) -> Dataset:
    if len(set(y.tolist())) < 2:
        raise DataError(f"all {len(y)} samples are of one class ({class_names[int(y[0])]!r}); a classifier needs at "
                        f"least 2 classes")
    if splits is None:
        splits = _split_indices(y, class_names, seed, val_fraction, test_fraction)
    if oversample:
        splits = (_oversample(splits[0], y, seed), *splits[1:])
    fields: dict[str, Any] = {}
    for split, index in zip(_SPLITS, splits):
        fields[f"x_{split}"] = x[index]
        fields[f"y_{split}"] = y[index]
        fields[f"masks_{split}"] = None if masks is None else masks[index]
        fields[f"image_ids_{split}"] = None if image_ids is None else image_ids[index]
        fields[f"lesion_ids_{split}"] = None if lesion_ids is None else lesion_ids[index]
    return Dataset(name=name, class_names=tuple(class_names), spec=spec, **fields, **attributes)


# -- synthetic lesions -------------------------------------------------------------------------------------------------
# Per-class appearance, loosely after the dermoscopic features of the HAM10000 classes. Scalars are (low, high) ranges
# drawn uniformly per image; colours are RGB means jittered per image. The ranges overlap on purpose (sizes, browns
# shared by bkl/df/nv/mel, pinks and reds shared by akiec/bcc/vasc) so that the task is learnable but not trivial.
# radius: in half-image units; elongation: minor/major axis ratio; wobble, jag: border harmonics of low (2-4) and high
# (5-11) order; lobes: one strong harmonic of order 3-5; edge: width of the fading rim (fraction of the radius);
# centre: a second colour zone, off-centre by up to `offset` (asymmetry); blotch: a third colour in patches; textures:
# network (pigment net), ridges (cerebriform folds), scales (white flecks), vessels (branching red lines), dots (dark
# globules), streaks (radial lines at the rim), roughness (pixel-level mottling).
_PROFILES: dict[str, dict[str, Any]] = {
    "akiec": dict(radius=(.36, .72), elongation=(.45, .9), wobble=(.04, .12), jag=(.02, .06), lobes=(0, 0),
                  edge=(.25, .6), opacity=(.45, .8), colour=(.80, .47, .44), centre=(.74, .40, .38),
                  centre_size=(0, .4), offset=(0, .3), blotch=(.90, .80, .74), blotch_amount=(0, .25),
                  network=(0, 0), ridges=(0, .1), scales=(.2, .5), vessels=(0, .3), dots=(0, .05), streaks=(0, 0),
                  roughness=(.08, .2)),
    "bcc": dict(radius=(.29, .65), elongation=(.6, 1), wobble=(.02, .08), jag=(0, .03), lobes=(0, .1),
                edge=(.15, .45), opacity=(.45, .8), colour=(.88, .64, .64), centre=(.96, .88, .88),
                centre_size=(.1, .5), offset=(0, .3), blotch=(.42, .46, .56), blotch_amount=(0, .15),
                network=(0, 0), ridges=(0, 0), scales=(0, .1), vessels=(.35, .9), dots=(0, .05), streaks=(0, 0),
                roughness=(.02, .08)),
    "bkl": dict(radius=(.36, .78), elongation=(.55, 1), wobble=(.03, .1), jag=(.01, .05), lobes=(0, .05),
                edge=(.05, .3), opacity=(.55, .9), colour=(.68, .51, .38), centre=(.60, .44, .32),
                centre_size=(0, .4), offset=(0, .4), blotch=(.55, .40, .30), blotch_amount=(0, .2),
                network=(0, .1), ridges=(.2, .5), scales=(0, .15), vessels=(0, 0), dots=(0, .1), streaks=(0, 0),
                roughness=(.05, .12)),
    "df": dict(radius=(.18, .42), elongation=(.7, 1), wobble=(.01, .05), jag=(0, .03), lobes=(0, 0),
               edge=(.2, .5), opacity=(.5, .9), colour=(.64, .46, .36), centre=(.93, .88, .85),
               centre_size=(.25, .6), offset=(0, .2), blotch=(.55, .38, .30), blotch_amount=(0, .1),
               network=(0, .2), ridges=(0, 0), scales=(0, 0), vessels=(0, .1), dots=(0, .05), streaks=(0, 0),
               roughness=(.02, .08)),
    "mel": dict(radius=(.42, .91), elongation=(.5, 1), wobble=(.08, .2), jag=(.04, .1), lobes=(0, .08),
                edge=(.05, .35), opacity=(.65, .95), colour=(.40, .26, .19), centre=(.14, .10, .10),
                centre_size=(.2, .6), offset=(.15, .5), blotch=(.45, .50, .62), blotch_amount=(.1, .4),
                network=(.1, .35), ridges=(0, 0), scales=(0, 0), vessels=(0, .1), dots=(.05, .3), streaks=(0, .4),
                roughness=(.04, .1)),
    "nv": dict(radius=(.26, .65), elongation=(.7, 1), wobble=(.01, .05), jag=(0, .02), lobes=(0, 0),
               edge=(.05, .3), opacity=(.6, .95), colour=(.50, .33, .23), centre=(.43, .28, .20),
               centre_size=(0, .5), offset=(0, .15), blotch=(.45, .30, .21), blotch_amount=(0, .1),
               network=(0, .2), ridges=(0, 0), scales=(0, 0), vessels=(0, 0), dots=(0, .08), streaks=(0, .05),
               roughness=(.02, .06)),
    "vasc": dict(radius=(.21, .55), elongation=(.6, 1), wobble=(.02, .08), jag=(0, .03), lobes=(.05, .16),
                 edge=(.05, .25), opacity=(.6, .95), colour=(.62, .20, .32), centre=(.42, .10, .26),
                 centre_size=(0, .4), offset=(0, .3), blotch=(.32, .06, .16), blotch_amount=(.15, .45),
                 network=(0, 0), ridges=(0, 0), scales=(0, 0), vessels=(0, 0), dots=(0, .1), streaks=(0, 0),
                 roughness=(.02, .08)),
}
_COLOUR_KEYS = ("colour", "centre", "blotch")
_SCALAR_KEYS = tuple(k for k in _PROFILES["nv"] if k not in _COLOUR_KEYS)
_HUE_JITTER = 0.025  # standard deviation of the per-image colour shift along each of _HUE_AXES
_HUE_AXES = np.array([[1.0, -0.3, -0.5], [-0.6, -0.2, 1.0]])  # redder, bluer
# Images are drawn in chunks of about this many pixels: arrays that stay in cache make drawing 2-3x faster and
# bound memory. The chunks consume the random stream in turn, so changing this changes the images of every seed.
_CHUNK_PIXELS = 1 << 16


def _table(key: str) -> np.ndarray:
    return np.array([_PROFILES[c][key] for c in LESION_CLASSES], dtype=np.float32)


def _upsampler(cells: int, size: int) -> np.ndarray:
    """(size, cells) weights that interpolate a coarse grid over the image with a smoothstep (no visible kinks)."""
    position = (np.arange(size) + 0.5) / size * (cells - 1)
    low = np.minimum(np.floor(position).astype(int), cells - 2)
    t = position - low
    t = t * t * (3 - 2 * t)
    weights = np.zeros((size, cells), np.float32)
    weights[np.arange(size), low] = 1 - t
    weights[np.arange(size), low + 1] = t
    return weights


def _smooth_noise(rng: np.random.Generator, n: int, cells: int, size: int) -> np.ndarray:
    """(n, size, size) smooth random fields of about unit scale, with ``cells - 1`` bumps across the image."""
    up = _upsampler(cells, size)
    return up @ rng.standard_normal((n, cells, cells), dtype=np.float32) @ up.T


def _draw_params(rng: np.random.Generator, labels: np.ndarray) -> dict[str, np.ndarray]:
    n = len(labels)
    params: dict[str, np.ndarray] = {}
    for key in _SCALAR_KEYS:
        low, high = _table(key).T
        params[key] = low[labels] + rng.random(n, dtype=np.float32) * (high - low)[labels]
    # Colour variation along plausible directions (lighter/darker, redder, bluer) rather than per channel, which
    # would make green moles; a white-balance cast over the whole image comes on top in _render.
    brightness = rng.uniform(0.92, 1.08, (n, 1))
    for key in _COLOUR_KEYS:
        hue = rng.normal(0.0, _HUE_JITTER, (n, 2)) @ _HUE_AXES + rng.normal(0.0, 0.015, (n, 3))
        params[key] = np.clip(_table(key)[labels] * brightness + hue, 0.02, 0.98).astype(np.float32)
    params["white_balance"] = (1 + rng.normal(0, 0.02, (n, 3))).astype(np.float32)
    params["centre_x"], params["centre_y"] = rng.uniform(-0.2, 0.2, (2, n)).astype(np.float32)
    params["angle"] = rng.uniform(0, np.pi, n).astype(np.float32)
    params["centre_angle"] = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    # Border: complex harmonic coefficients c_k, so that the radius is 1 + sum_k Re(c_k z^k) on the unit circle z.
    orders = np.arange(2, 12)
    amplitude = np.where(orders <= 4, params["wobble"][:, None], params["jag"][:, None] * 4 / orders)
    amplitude = amplitude * rng.random((n, len(orders)))
    lobe_order = rng.integers(3, 6, n)
    amplitude[np.arange(n), lobe_order - 2] += params["lobes"]
    params["harmonics"] = (amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, amplitude.shape))).astype(np.complex64)
    # Skin: tone, illumination gradient and vignette, then the dermatoscope's dark field-of-view corners and hairs.
    tone = rng.uniform(0.78, 1.05, (n, 1))
    skin = np.array([0.88, 0.69, 0.59]) * tone + rng.normal(0, 0.03, (n, 1)) * _HUE_AXES[0]
    params["skin"] = np.clip(skin, 0, 1).astype(np.float32)
    params["gradient"] = rng.uniform(0, 0.12, n).astype(np.float32)
    params["gradient_angle"] = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    params["vignette"] = rng.uniform(0, 0.2, n).astype(np.float32)
    params["noise"] = rng.uniform(0.01, 0.04, n).astype(np.float32)
    params["field_of_view"] = np.where(rng.random(n) < 0.25, rng.uniform(1.05, 1.35, n), np.inf).astype(np.float32)
    params["hairs"] = (rng.random((n, 3)) < np.array([0.2, 0.1, 0.04])).astype(np.float32)
    params["hair_line"] = rng.uniform(-1, 1, (n, 3, 3)).astype(np.float32)  # angle (scaled), offset, curvature
    params["texture_frequency"] = rng.uniform(9, 14, n).astype(np.float32)
    params["streak_count"] = rng.integers(12, 25, n).astype(np.float32)
    return params


def _render(rng: np.random.Generator, p: dict[str, np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, size, size, 3) and masks (n, size, size) for one chunk of drawn parameters."""
    # Colour planes are kept channel-first, (3, n, size, size), while drawing: broadcasting a per-pixel field over a
    # trailing axis of length 3 is several times slower in numpy.
    n = len(p["angle"])

    def column(key: str) -> np.ndarray:  # per-image scalars, broadcast over pixels
        return p[key][:, None, None]

    def colour(key: str) -> np.ndarray:  # per-image colours, broadcast over pixels
        return p[key].T[:, :, None, None]

    def fixed(rgb: Sequence[float]) -> np.ndarray:
        return np.float32(rgb)[:, None, None, None]

    def uniform_noise() -> np.ndarray:  # unit variance; uniform draws are several times faster than normal ones
        return rng.random((n, size, size), dtype=np.float32) * 3.46 - 1.73

    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    gx, gy = coords[None, None, :], coords[None, :, None]

    # Lesion geometry in its own frame: rotated, stretched to an ellipse, radius modulated by border harmonics.
    dx, dy = gx - column("centre_x"), gy - column("centre_y")
    cos, sin = np.cos(column("angle")), np.sin(column("angle"))
    major = column("radius") / np.sqrt(column("elongation"))
    minor = column("radius") * np.sqrt(column("elongation"))
    u = (dx * cos + dy * sin) / major
    v = (dy * cos - dx * sin) / minor
    rho = np.sqrt(u * u + v * v) + 1e-6
    unit = (u + 1j * v).astype(np.complex64) / rho
    radius = np.ones_like(rho)
    power = unit * unit
    for k in range(p["harmonics"].shape[1]):
        radius += (p["harmonics"][:, k, None, None] * power).real
        power *= unit
    d = rho / np.maximum(radius, 0.3)  # < 1 inside the lesion's faint outer rim
    # Keep the rim at least ~1.5 pixels wide so that small lesions at low resolution are not aliased blocks.
    edge = np.minimum(np.maximum(column("edge"), 3.0 / (size * column("radius"))), 1.0)
    fade = np.clip((1 - d) / edge, 0, 1)
    alpha = fade * column("opacity")
    # The mask ends where the rim is half faded, where an annotator would draw the border; the pixel nearest the
    # lesion's centre is always in it, so that a tiny lesion at low resolution still has a mask.
    mask = (fade >= 0.5) | (d == d.min(axis=(1, 2), keepdims=True))

    # Lesion colour: main colour, an off-centre second zone, patches of a third colour, then textures.
    lesion = np.repeat(colour("colour"), size, axis=2).repeat(size, axis=3)
    offset = column("offset")
    cu, cv = u - offset * np.cos(column("centre_angle")), v - offset * np.sin(column("centre_angle"))
    centre_size = column("centre_size")
    zone = np.clip((centre_size - np.sqrt(cu * cu + cv * cv)) / 0.15, 0, 1) * (centre_size > 0.05)
    lesion += zone * (colour("centre") - lesion)
    blotch_threshold = (0.5 - column("blotch_amount")) * 2.5
    blotch = np.clip((_smooth_noise(rng, n, 6, size) - blotch_threshold) / 0.3, 0, 1) * (column("blotch_amount") > 0.02)
    lesion += blotch * (colour("blotch") - lesion)
    flecks = (rng.random((n, size, size), dtype=np.float32) < column("scales") * 0.5) * np.float32(0.8)
    lesion += flecks * (fixed([0.95, 0.92, 0.88]) - lesion)
    vessels = np.minimum(np.abs(_smooth_noise(rng, n, 5, size)), np.abs(_smooth_noise(rng, n, 7, size)))
    vessels = np.clip(1 - vessels / 0.09, 0, 1) * column("vessels")
    lesion += vessels * (fixed([0.72, 0.12, 0.16]) - lesion)
    globules = (rng.random((n, size, size), dtype=np.float32) < column("dots") * 0.4) * np.float32(0.8)
    lesion += globules * (fixed([0.12, 0.08, 0.07]) - lesion)
    # Darkening and lightening textures act on brightness only, so they are combined into one factor.
    frequency = column("texture_frequency")
    warp = _smooth_noise(rng, n, 5, size) * 0.25
    net = np.maximum(np.abs(np.cos(frequency * (u + warp))), np.abs(np.cos(frequency * (v - warp)))) ** 6
    folds = np.cos(4 * _smooth_noise(rng, n, 5, size)) * 0.5
    rays = np.abs(np.cos(column("streak_count") * 0.5 * np.arctan2(v, u))) ** 8 * (d > 0.6)
    shade = (1 - column("network") * net) * (1 + column("ridges") * folds) * (1 - column("streaks") * rays)
    lesion *= shade * (1 + column("roughness") * uniform_noise())

    # Skin, lit unevenly, with the lesion laid over it, then hairs, field-of-view corners, colour cast and noise.
    image = colour("skin") * (1 + 0.03 * _smooth_noise(rng, n, 9, size))
    image += alpha * (lesion - image)
    along = gx * np.cos(column("gradient_angle")) + gy * np.sin(column("gradient_angle"))
    image *= (1 + column("gradient") * along) * (1 - column("vignette") * (gx * gx + gy * gy) / 2)
    for h in range(p["hairs"].shape[1]):
        hairy = np.flatnonzero(p["hairs"][:, h])
        if not len(hairy):
            continue
        angle, shift, bend = (p["hair_line"][hairy, h, j, None, None] for j in range(3))
        angle = angle * np.pi
        across = gx * np.sin(angle) - gy * np.cos(angle) - shift * 0.8
        length = gx * np.cos(angle) + gy * np.sin(angle)
        hair = np.clip(1 - np.abs(across - 0.3 * bend * length * length) * size / 1.2, 0, 1) * np.float32(0.85)
        image[:, hairy] += hair * (fixed([0.18, 0.12, 0.1]) - image[:, hairy])
    image *= np.sqrt(gx * gx + gy * gy) <= column("field_of_view")
    image *= colour("white_balance")
    image += column("noise") * uniform_noise()
    image = np.clip(image, 0, 1, out=image)
    return np.moveaxis(image, 0, -1), mask


def synthetic_lesions(n: int = 600, image_size: int = 32, seed: int = 0, *, val_fraction: float = 0.2,
                      test_fraction: float = 0.2) -> Dataset:
    """Generated dermoscopy-like RGB images with lesion masks, in 7 balanced classes named as in HAM10000.

    Each image shows one lesion on skin; the classes differ by a mix of shape, border, colours and texture whose
    per-image ranges overlap, so a small CNN learns them well above chance but short of perfectly. The same
    ``(n, image_size, seed)`` always gives the same images.

    Args:
        n: number of images, split as evenly as possible over the 7 classes (the remainder goes to the first ones).
        image_size: height and width in pixels (8 or more).
        seed: seeds both the images and the split.
        val_fraction, test_fraction: share of each class held out for validation and for testing.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3 * len(LESION_CLASSES):
        raise DataError(f"synthetic_lesions needs n >= {3 * len(LESION_CLASSES)} (3 images per class for the "
                        f"train, validation and test splits), got n={n!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ConfigError(f"image_size must be an integer >= 8, got {image_size!r}")
    _check_fractions(val_fraction, test_fraction)
    n, image_size, seed = int(n), int(image_size), _check_seed(seed)
    rng = np.random.default_rng(seed)
    k = len(LESION_CLASSES)
    labels = rng.permutation(np.repeat(np.arange(k), [n // k + (c < n % k) for c in range(k)]))
    params = _draw_params(rng, labels)
    x = np.empty((n, image_size, image_size, 3), np.float32)
    masks = np.empty((n, image_size, image_size), bool)
    chunk = max(1, _CHUNK_PIXELS // (image_size * image_size))
    for start in range(0, n, chunk):
        part = {key: value[start:start + chunk] for key, value in params.items()}
        x[start:start + chunk], masks[start:start + chunk] = _render(rng, part, image_size)
    spec = {"kind": "synthetic_lesions", "n": n, "image_size": image_size, "seed": seed,
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction)}
    return _make("synthetic_lesions", LESION_CLASSES, x, labels.astype(np.int64), masks, spec, seed, val_fraction,
                 test_fraction, malignant=MALIGNANT)


# -- digits ------------------------------------------------------------------------------------------------------------
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


# -- images on disk ----------------------------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_HAM_METADATA = "HAM10000_metadata.csv"
_HAM_COLUMNS = ("lesion_id", "image_id", "dx")
_LISTED = 8  # file names quoted in one message; the rest are counted


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(str(item) for item in items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ConfigError(f"image_size must be an integer >= 8 (pixels per side), got {image_size!r}")
    return int(image_size)


def _folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; pass the folder that holds the {what}")
    return folder.resolve()


def _read_one(path: Path, size: int) -> tuple[np.ndarray | None, str | None, str | None]:
    """(image, problem, original colour mode when not RGB) of one file, never raising for a bad file."""
    from PIL import Image

    from ..images import read_image

    try:
        image = read_image(path, size)
    except DataError as error:
        return None, str(error), None
    with Image.open(path) as header:  # reads the header only; the file already decoded above
        mode = header.mode
    return image, None, None if mode == "RGB" else mode


def _read_images(paths: Sequence[Path], size: int, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``paths`` with :func:`nas.images.read_image` in a thread pool (Pillow releases the GIL while decoding).

    Unreadable files are skipped with one warning that counts and names them; images in another colour mode are
    converted to RGB by ``read_image`` and named in one warning. Returns the images and the positions (in ``paths``)
    of the readable files; raises :class:`DataError` when none is readable.
    """
    from concurrent.futures import ThreadPoolExecutor

    x = np.empty((len(paths), size, size, 3), np.float32)
    ok = np.zeros(len(paths), bool)
    problems: list[str] = []
    converted: list[str] = []
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for i, (image, problem, mode) in enumerate(pool.map(lambda p: _read_one(p, size), paths, chunksize=64)):
            if image is None:
                problems.append(problem or str(paths[i]))
                continue
            x[i], ok[i] = image, True
            if mode is not None:
                converted.append(f"{paths[i].name} ({mode})")
    if problems:
        warnings.warn(f"skipped {len(problems)} of {len(paths)} images that cannot be read: {_names(problems)}; "
                      f"replace or delete those files", stacklevel=3)
    if converted:
        warnings.warn(f"{len(converted)} of {len(paths)} images are not RGB and were converted to RGB (transparency "
                      f"composited on white): {_names(converted)}", stacklevel=3)
    if not ok.any():
        raise DataError(f"none of the {len(paths)} images can be read ({problems[0] if problems else 'no files'}); "
                        f"check the folder")
    kept = np.flatnonzero(ok)
    return x[kept] if len(kept) < len(paths) else x, kept


def _read_metadata(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} not found: a HAM10000 folder holds {_HAM_METADATA} and the images, in "
                        f"HAM10000_images_part_1/ and HAM10000_images_part_2/ or in one folder")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    missing = [c for c in _HAM_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"{path}: missing column{'s' * (len(missing) > 1)} {', '.join(missing)} (found "
                        f"{', '.join(columns) or 'none'}); the file needs lesion_id, image_id and dx")
    if not rows:
        raise DataError(f"{path}: no rows; the metadata lists no images")
    for column in _HAM_COLUMNS:
        empty = [str(number) for number, row in enumerate(rows, start=2) if not row[column]]
        if empty:
            raise DataError(f"{path}: empty {column} on line{'s' * (len(empty) > 1)} {_names(empty)}; fill or "
                            f"delete those rows")
    unknown = sorted({row["dx"] for row in rows} - set(LESION_CLASSES))
    if unknown:
        lines = [str(number) for number, row in enumerate(rows, start=2) if row["dx"] in unknown]
        raise DataError(f"{path}: unknown dx label{'s' * (len(unknown) > 1)} {_names(unknown)} (line"
                        f"{'s' * (len(lines) > 1)} {_names(lines)}); HAM10000 labels are {', '.join(LESION_CLASSES)}")
    repeated = sorted(image for image, count in Counter(row["image_id"] for row in rows).items() if count > 1)
    if repeated:
        raise DataError(f"{path}: image_id listed more than once: {_names(repeated)}; keep one row per image")
    labels: dict[str, set[str]] = {}
    for row in rows:
        labels.setdefault(row["lesion_id"], set()).add(row["dx"])
    mixed = sorted(lesion for lesion, dx in labels.items() if len(dx) > 1)
    if mixed:
        raise DataError(f"{path}: lesion{'s' * (len(mixed) > 1)} {_names(mixed)} carry more than one dx label; one "
                        f"lesion has one diagnosis, fix those rows")
    return rows


def _image_files(root: Path) -> dict[str, Path]:
    """Image files in ``root`` and its direct sub-folders, by name without suffix (HAM10000's image_id)."""
    files: dict[str, Path] = {}
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.stem not in files:
                files[path.stem] = path
    return files


def _sample_lesions(lesion_y: np.ndarray, images_per_lesion: np.ndarray, max_images: int, seed: int) -> np.ndarray:
    """Positions of a seeded sample of whole lesions holding about ``max_images`` images, each class shrunk in
    proportion but keeping at least 3 lesions (one per split)."""
    rng = np.random.default_rng([seed, 2])
    share = max_images / images_per_lesion.sum()
    picked = []
    for c in np.unique(lesion_y):
        members = rng.permutation(np.flatnonzero(lesion_y == c))
        enough = np.searchsorted(np.cumsum(images_per_lesion[members]), share * images_per_lesion[members].sum())
        picked.append(members[:max(3, enough + 1)])
    return np.sort(np.concatenate(picked))


def _read_splits_file(path: str | os.PathLike, rows: Sequence[dict[str, str]]) -> dict[str, str]:
    """image_id -> split of a ``splits.csv`` written by :meth:`Dataset.write_splits`, checked against the metadata."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: splits file not found; pass a splits.csv written by a run, or leave splits_file out")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("image_id", "split") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column{'s' * (len(missing) > 1)} {', '.join(missing)}; a splits file "
                            f"has image_id, lesion_id, dx, split")
        assignment = {row["image_id"]: row["split"] for row in reader}
    bad = sorted({split for split in assignment.values() if split not in _SPLITS})
    if bad:
        raise DataError(f"{path}: unknown split name{'s' * (len(bad) > 1)} {_names(bad)}; use train, val or test")
    lesions = {row["image_id"]: row["lesion_id"] for row in rows}
    unknown = sorted(set(assignment) - set(lesions))
    if unknown:
        raise DataError(f"{path}: {len(unknown)} image_id{'s' * (len(unknown) > 1)} not in the metadata: "
                        f"{_names(unknown)}; was the file written for another copy of the data?")
    splits_of: dict[str, set[str]] = {}
    for image, split in assignment.items():
        splits_of.setdefault(lesions[image], set()).add(split)
    leaking = sorted(lesion for lesion, splits in splits_of.items() if len(splits) > 1)
    if leaking:
        raise DataError(f"{path}: lesion{'s' * (len(leaking) > 1)} {_names(leaking)} appear in more than one split, "
                        f"which leaks test images into training; put all images of a lesion in one split")
    return assignment


def ham10000(root: str | os.PathLike, image_size: int = 64, seed: int = 0, *, val_fraction: float = 0.15,
             test_fraction: float = 0.15, max_images: int | None = None, splits_file: str | os.PathLike | None = None,
             oversample: bool = False, workers: int | None = None) -> Dataset:
    """HAM10000 dermoscopy images in 7 classes, split by lesion: no lesion has images in two splits.

    Many HAM10000 lesions were photographed several times; splitting by image puts near-copies of test images into
    training and inflates every score. Here whole lesions are assigned to train, validation or test, stratified by
    class and seeded. The dataset's ``default_objectives`` is validation balanced accuracy and ``class_weighted`` is
    on, since 67% of the images are nevi (nv).

    Args:
        root: folder with ``HAM10000_metadata.csv`` (columns lesion_id, image_id, dx) and the images, in
            ``HAM10000_images_part_1/`` and ``HAM10000_images_part_2/`` or any one folder (or in ``root`` itself).
        image_size: images are resized to ``image_size`` x ``image_size`` pixels.
        seed: seeds the split (and the sample and the oversampling).
        val_fraction, test_fraction: share of each class's lesions held out for validation and for testing.
        max_images: use a seeded sample of whole lesions holding about this many images (every class kept with at
            least 3 lesions), for quick experiments; None for all.
        splits_file: reuse the split of a ``splits.csv`` (image_id, lesion_id, dx, split) written by an earlier run;
            exactly the images it lists are used, and ``seed``, the fractions and ``max_images`` do not apply.
        oversample: repeat training images of the smaller classes (seeded) until every class has as many as the
            largest; validation and test are untouched.
        workers: threads that decode images (default: the number of cores, at most 8).

    Unreadable images (corrupt, truncated) are skipped with one warning naming them; a missing metadata file or
    column, an unknown dx label or a listed image that is not on disk raise :class:`DataError`.

    Example:
        >>> data = nas.data.ham10000("../shared/data/ham10000", image_size=64)           # doctest: +SKIP
        >>> data.write_splits("splits.csv")                                                # doctest: +SKIP
    """
    folder = _folder(root, f"{_HAM_METADATA} and the HAM10000 images")
    image_size, seed = _check_image_size(image_size), _check_seed(seed)
    _check_fractions(val_fraction, test_fraction)
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, (int, np.integer))
                                   or max_images < 21):
        raise ConfigError(f"max_images must be an integer >= 21 (3 per class) or None, got {max_images!r}")
    rows = _read_metadata(folder / _HAM_METADATA)
    assignment = None if splits_file is None else _read_splits_file(splits_file, rows)
    if assignment is not None:
        rows = [row for row in rows if row["image_id"] in assignment]
    lesion_names, lesion_of_image = np.unique([row["lesion_id"] for row in rows], return_inverse=True)
    lesion_y = np.empty(len(lesion_names), np.int64)
    lesion_y[lesion_of_image] = [LESION_CLASSES.index(row["dx"]) for row in rows]
    if max_images is not None and assignment is None and max_images < len(rows):
        keep = np.isin(lesion_of_image, _sample_lesions(lesion_y, np.bincount(lesion_of_image), int(max_images), seed))
        rows = [row for row, kept in zip(rows, keep) if kept]
    files = _image_files(folder)
    absent = [f"{row['image_id']}.jpg" for row in rows if row["image_id"] not in files]
    if absent:
        raise DataError(f"{len(absent)} image{'s are' if len(absent) > 1 else ' is'} listed in {_HAM_METADATA} but "
                        f"not found in {folder} or its sub-folders: {_names(absent)}; restore the files or delete "
                        f"their rows from the metadata")
    x, kept = _read_images([files[row["image_id"]] for row in rows], image_size, workers)
    rows = [rows[i] for i in kept]
    image_ids = np.array([row["image_id"] for row in rows])
    lesion_ids = np.array([row["lesion_id"] for row in rows])
    y = np.array([LESION_CLASSES.index(row["dx"]) for row in rows], np.int64)
    if assignment is not None:
        split_of = np.array([_SPLITS.index(assignment[image]) for image in image_ids])
        splits = [np.flatnonzero(split_of == s) for s in range(3)]
        empty = [name for name, index in zip(_SPLITS, splits) if not len(index)]
        if empty:
            raise DataError(f"{splits_file}: no usable image in the {', '.join(empty)} split; use a complete file")
    else:
        # Split the lesions, then give every image its lesion's split.
        lesion_names, lesion_of_image = np.unique(lesion_ids, return_inverse=True)
        lesion_y = np.empty(len(lesion_names), np.int64)
        lesion_y[lesion_of_image] = y
        by_lesion = _split_indices(lesion_y, LESION_CLASSES, seed, val_fraction, test_fraction)
        order = np.argsort(lesion_of_image, kind="stable")
        starts = np.searchsorted(lesion_of_image[order], np.arange(len(lesion_names) + 1))
        splits = [np.concatenate([order[starts[i]:starts[i + 1]] for i in lesions]) for lesions in by_lesion]
    spec = {"kind": "ham10000", "root": str(folder), "image_size": image_size, "seed": seed,
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction),
            "max_images": None if max_images is None else int(max_images),
            "splits_file": None if splits_file is None else str(Path(splits_file).expanduser().resolve()),
            "oversample": bool(oversample)}
    return _make("ham10000", LESION_CLASSES, x, y, None, spec, seed, val_fraction, test_fraction, splits=splits,
                 image_ids=image_ids, lesion_ids=lesion_ids, oversample=oversample, malignant=MALIGNANT,
                 default_objectives=("val_balanced_accuracy",), class_weighted=True)


def image_folder(path: str | os.PathLike, image_size: int = 64, seed: int = 0, *, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, oversample: bool = False, workers: int | None = None) -> Dataset:
    """Images in one sub-folder per class (``path/<class>/<image>``), split by image, stratified and seeded.

    Args:
        path: the folder holding one sub-folder per class; the sub-folder names, sorted, are the class names.
        image_size: images are resized to ``image_size`` x ``image_size`` pixels.
        seed: seeds the split.
        val_fraction, test_fraction: share of each class held out for validation and for testing.
        oversample: repeat training images of the smaller classes until every class has as many as the largest.
        workers: threads that decode images (default: the number of cores, at most 8).

    Unreadable images are skipped with one warning naming them.
    """
    folder = _folder(path, "one sub-folder of images per class")
    image_size, seed = _check_image_size(image_size), _check_seed(seed)
    _check_fractions(val_fraction, test_fraction)
    files, labels, class_names = [], [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            files += images
            labels += [len(class_names)] * len(images)
            class_names.append(sub.name)
    if not files:
        raise DataError(f"{folder}: no images in sub-folders; put each class's images ({', '.join(IMAGE_SUFFIXES)}) "
                        f"in a sub-folder named after the class")
    x, kept = _read_images(files, image_size, workers)
    ids = np.array([files[i].relative_to(folder).as_posix() for i in kept])
    spec = {"kind": "image_folder", "path": str(folder), "image_size": image_size, "seed": seed,
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction), "oversample": bool(oversample)}
    # Each image is its own group: a folder says nothing about which images show the same object.
    return _make("image_folder", class_names, x, np.array(labels, np.int64)[kept], None, spec, seed, val_fraction,
                 test_fraction, image_ids=ids, lesion_ids=ids, oversample=oversample)


# -- specs and CLI strings ---------------------------------------------------------------------------------------------
_BUILDERS = {"synthetic_lesions": synthetic_lesions, "digits": digits, "ham10000": ham10000,
             "image_folder": image_folder}


def from_spec(spec: Mapping) -> Dataset:
    """Rebuild a dataset from its :attr:`Dataset.spec`."""
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ConfigError(f"a dataset spec must be a dict with a 'kind' key, got {spec!r}")
    options = dict(spec)
    kind = options.pop("kind")
    if kind == "arrays":
        raise ConfigError("this dataset was made from in-memory arrays, which its spec does not hold: pass the same "
                          "data= (x, y) again")
    if kind not in _BUILDERS:
        raise ConfigError(f"unknown dataset kind {kind!r}; expected one of {sorted(_BUILDERS) + ['arrays']}")
    builder = _BUILDERS[kind]
    accepted = set(inspect.signature(builder).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"dataset spec of kind {kind!r} has unknown keys {unknown}; accepted: {sorted(accepted)}")
    return builder(**options)


def coerce(data: Any) -> Dataset:
    """Turn what users pass as ``data=`` into a :class:`Dataset`: a Dataset, an ``(x, y)`` pair, a spec dict or a
    :func:`parse` string such as ``"digits"``."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return arrays(*data)
    if isinstance(data, Mapping):
        return from_spec(data)
    if isinstance(data, str):
        return parse(data)
    raise ConfigError(f"cannot use {type(data).__name__} as data: pass a nas.data.Dataset, an (x, y) tuple of "
                      f"images and labels, a dataset spec dict, or a name such as 'synthetic' or 'digits'")


_FORMS = "'synthetic', 'synthetic:N', 'digits', 'ham10000:PATH', 'folder:PATH'"


def parse(text: str, image_size: int | None = None, seed: int = 0) -> Dataset:
    """The dataset named by the CLI's ``--data`` argument: ``synthetic`` (600 images), ``synthetic:N`` (N images),
    ``digits``, ``ham10000:PATH`` (the HAM10000 folder, 64 px unless ``image_size``) or ``folder:PATH`` (one
    sub-folder per class, 64 px unless ``image_size``)."""
    form = str(text).strip()
    kind, _, path = form.partition(":")
    kind = kind.lower()
    if kind == "synthetic":
        if path and not path.isdigit():
            raise ConfigError(f"--data {form}: after 'synthetic:' give the number of images, e.g. synthetic:2000")
        return synthetic_lesions(n=int(path) if path else 600, image_size=image_size or 32, seed=seed)
    if kind == "digits" and not path:
        return digits(image_size=image_size, seed=seed)
    if kind in ("ham10000", "folder"):
        if not path.strip():
            raise ConfigError(f"--data {form}: give the folder after the colon, e.g. {kind}:../shared/data/ham10000")
        loader = ham10000 if kind == "ham10000" else image_folder
        return loader(path.strip(), image_size=image_size or 64, seed=seed)
    raise ConfigError(f"unknown --data {form!r}; accepted forms: {_FORMS}")
