"""Generated dermoscopy-like lesion images with masks: :func:`synthetic_lesions`, spec kind ``"synthetic_lesions"``,
``--data synthetic`` / ``synthetic:N``.

Images are drawn from per-class appearance profiles with numpy only. Every random draw comes from one seeded stream,
in a fixed order (labels, parameters, then each chunk of pixels in turn), so the same ``(n, image_size, seed)`` always
gives bit-identical images; reordering any draw below changes the images of every seed.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .core import (LESION_CLASSES, MALIGNANT, Dataset, _check_fractions, _check_seed, _make, register_form,
                   register_kind)

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


class _Canvas:
    """One chunk of drawn parameters, the random stream that renders it and its pixel grid.

    Colour planes are kept channel-first, (3, n, size, size), while drawing: broadcasting a per-pixel field over a
    trailing axis of length 3 is several times slower in numpy.
    """

    def __init__(self, rng: np.random.Generator, p: dict[str, np.ndarray], size: int) -> None:
        self.rng, self.p, self.size, self.n = rng, p, size, len(p["angle"])
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        self.gx, self.gy = coords[None, None, :], coords[None, :, None]

    def column(self, key: str) -> np.ndarray:
        """Per-image scalars, broadcast over pixels."""
        return self.p[key][:, None, None]

    def colour(self, key: str) -> np.ndarray:
        """Per-image colours, broadcast over pixels."""
        return self.p[key].T[:, :, None, None]

    def uniform_noise(self) -> np.ndarray:
        """Unit-variance pixel noise; uniform draws are several times faster than normal ones."""
        return self.rng.random((self.n, self.size, self.size), dtype=np.float32) * 3.46 - 1.73

    def smooth_noise(self, cells: int) -> np.ndarray:
        """Smooth random fields with ``cells - 1`` bumps across the image (see :func:`_smooth_noise`)."""
        return _smooth_noise(self.rng, self.n, cells, self.size)


def _fixed(rgb: Sequence[float]) -> np.ndarray:
    """A constant colour, broadcast over images and pixels."""
    return np.float32(rgb)[:, None, None, None]


def _geometry(c: _Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, d, alpha, mask): the lesion's own frame (rotated, stretched to an ellipse), the distance ``d`` relative
    to its harmonic-modulated border, its opacity and its mask. Draws nothing from the random stream."""
    p, column, size = c.p, c.column, c.size
    dx, dy = c.gx - column("centre_x"), c.gy - column("centre_y")
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
    return u, v, d, alpha, mask


def _lesion_colours(c: _Canvas, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The lesion's colour planes: main colour, an off-centre second zone, patches of a third colour, white flecks,
    vessels and dark globules."""
    column, colour, rng, n, size = c.column, c.colour, c.rng, c.n, c.size
    lesion = np.repeat(colour("colour"), size, axis=2).repeat(size, axis=3)
    offset = column("offset")
    cu, cv = u - offset * np.cos(column("centre_angle")), v - offset * np.sin(column("centre_angle"))
    centre_size = column("centre_size")
    zone = np.clip((centre_size - np.sqrt(cu * cu + cv * cv)) / 0.15, 0, 1) * (centre_size > 0.05)
    lesion += zone * (colour("centre") - lesion)
    blotch_threshold = (0.5 - column("blotch_amount")) * 2.5
    blotch = np.clip((c.smooth_noise(6) - blotch_threshold) / 0.3, 0, 1) * (column("blotch_amount") > 0.02)
    lesion += blotch * (colour("blotch") - lesion)
    flecks = (rng.random((n, size, size), dtype=np.float32) < column("scales") * 0.5) * np.float32(0.8)
    lesion += flecks * (_fixed([0.95, 0.92, 0.88]) - lesion)
    vessels = np.minimum(np.abs(c.smooth_noise(5)), np.abs(c.smooth_noise(7)))
    vessels = np.clip(1 - vessels / 0.09, 0, 1) * column("vessels")
    lesion += vessels * (_fixed([0.72, 0.12, 0.16]) - lesion)
    globules = (rng.random((n, size, size), dtype=np.float32) < column("dots") * 0.4) * np.float32(0.8)
    lesion += globules * (_fixed([0.12, 0.08, 0.07]) - lesion)
    return lesion


def _shade(c: _Canvas, lesion: np.ndarray, u: np.ndarray, v: np.ndarray, d: np.ndarray) -> None:
    """Darken and lighten ``lesion`` in place by its textures (pigment network, folds, radial streaks, mottling),
    which act on brightness only and so are combined into one factor."""
    column = c.column
    frequency = column("texture_frequency")
    warp = c.smooth_noise(5) * 0.25
    net = np.maximum(np.abs(np.cos(frequency * (u + warp))), np.abs(np.cos(frequency * (v - warp)))) ** 6
    folds = np.cos(4 * c.smooth_noise(5)) * 0.5
    rays = np.abs(np.cos(column("streak_count") * 0.5 * np.arctan2(v, u))) ** 8 * (d > 0.6)
    shade = (1 - column("network") * net) * (1 + column("ridges") * folds) * (1 - column("streaks") * rays)
    lesion *= shade * (1 + column("roughness") * c.uniform_noise())


def _add_hairs(c: _Canvas, image: np.ndarray) -> None:
    """Draw the drawn hairs (up to three per image, slightly bent lines) onto ``image`` in place."""
    p, gx, gy = c.p, c.gx, c.gy
    for h in range(p["hairs"].shape[1]):
        hairy = np.flatnonzero(p["hairs"][:, h])
        if not len(hairy):
            continue
        angle, shift, bend = (p["hair_line"][hairy, h, j, None, None] for j in range(3))
        angle = angle * np.pi
        across = gx * np.sin(angle) - gy * np.cos(angle) - shift * 0.8
        length = gx * np.cos(angle) + gy * np.sin(angle)
        hair = np.clip(1 - np.abs(across - 0.3 * bend * length * length) * c.size / 1.2, 0, 1) * np.float32(0.85)
        image[:, hairy] += hair * (_fixed([0.18, 0.12, 0.1]) - image[:, hairy])


def _render(rng: np.random.Generator, p: dict[str, np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, size, size, 3) and masks (n, size, size) for one chunk of drawn parameters."""
    c = _Canvas(rng, p, size)
    column, gx, gy = c.column, c.gx, c.gy
    u, v, d, alpha, mask = _geometry(c)
    lesion = _lesion_colours(c, u, v)
    _shade(c, lesion, u, v, d)
    # Skin, lit unevenly, with the lesion laid over it, then hairs, field-of-view corners, colour cast and noise.
    image = c.colour("skin") * (1 + 0.03 * c.smooth_noise(9))
    image += alpha * (lesion - image)
    along = gx * np.cos(column("gradient_angle")) + gy * np.sin(column("gradient_angle"))
    image *= (1 + column("gradient") * along) * (1 - column("vignette") * (gx * gx + gy * gy) / 2)
    _add_hairs(c, image)
    image *= np.sqrt(gx * gx + gy * gy) <= column("field_of_view")
    image *= c.colour("white_balance")
    image += column("noise") * c.uniform_noise()
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


def _parse(form: str, path: str, image_size: int | None, seed: int) -> Dataset:
    """``--data synthetic`` (600 images, 32 px unless ``image_size``) or ``synthetic:N`` (N images)."""
    if path and not path.isdigit():
        raise ConfigError(f"--data {form}: after 'synthetic:' give the number of images, e.g. synthetic:2000")
    return synthetic_lesions(n=int(path) if path else 600, image_size=image_size or 32, seed=seed)


register_kind("synthetic_lesions", synthetic_lesions)
register_form("synthetic", _parse, ("synthetic", "synthetic:N"))
