"""Reading one image the way every part of ``nas`` needs it: RGB, float32 in [0, 1], optionally resized.

The data loaders, ``nas explain`` and the web page all go through :func:`open_image` (and :func:`read_image`, which
is :func:`open_image` then :func:`to_array`), so an image is prepared the same way for training and for prediction,
and every bad input (not an image, a format not accepted, empty, truncated, a decompression bomb, an odd colour mode)
gets the same clear :class:`~nas.errors.DataError` naming the file.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Sequence, Union

import numpy as np

from .errors import DataError

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo passes; a decompression bomb does not
MAX_BYTES = 50 * 1024 * 1024
#: Images with more pixels are reduced by a whole factor (2 for anything up to MAX_PIXELS) as they are decoded, so a
#: 40-megapixel photo never sits in memory at full size as floats; a 12-megapixel phone photo is read as it is.
LARGE_PIXELS = 16_000_000
#: The formats :func:`read_image` opens by default: those of ``nas.data``'s image folders (``IMAGE_SUFFIXES``).
#: Pillow is never asked to try any other (EPS would go to Ghostscript, for one).
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
#: The formats the web page accepts: what phones, cameras and dermatoscopes save.
UPLOAD_FORMATS = ("JPEG", "PNG")

Source = Union[str, os.PathLike, bytes, BinaryIO, np.ndarray]


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", None) or "the uploaded image"


def read_image(source: Source, size: tuple[int, int] | int | None = None, *,
               formats: Sequence[str] = FORMATS) -> np.ndarray:
    """One image as float32 RGB in [0, 1], shape (H, W, 3): :func:`open_image`, then :func:`to_array`.

    Args:
        source: a path, the file's bytes, a binary file object, or an array (H, W), (H, W, 1|3|4) of uint8 or of floats
            in [0, 1].
        size: (height, width) or one number for a square; None keeps the image's own size (halved when it has more
            than :data:`LARGE_PIXELS` pixels).
        formats: the file formats (Pillow's names) accepted; anything else is a :class:`DataError`.
    """
    return to_array(open_image(source, formats=formats), size)


def to_array(image: "Image.Image", size: tuple[int, int] | int | None = None) -> np.ndarray:
    """An RGB Pillow image (from :func:`open_image`) as float32 in [0, 1], resized (bilinear) to ``size`` first, so
    only the resized image is ever converted to floats."""
    from PIL import Image

    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if image.size != (width, height):
            image = image.resize((int(width), int(height)), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32)
    array /= 255.0
    return array


def open_image(source: Source, *, formats: Sequence[str] = FORMATS) -> "Image.Image":
    """One image as an RGB Pillow image (uint8), decoded now.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are converted to RGB; a phone photo's
    EXIF rotation is applied. An image over :data:`LARGE_PIXELS` pixels comes back reduced by a whole factor (a JPEG is
    decoded at that scale, others are box-averaged after decoding), the same way for training and for prediction.
    Raises :class:`DataError` naming the file for anything that is not a readable image in one of ``formats``.
    """
    from PIL import ImageOps

    name = _name(source)
    image = _array_to_pil(source, name) if isinstance(source, np.ndarray) else _open(source, name, tuple(formats))
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # a broken EXIF block should not cost the picture
        pass
    image = _to_rgb(image)
    factor = _reduction(image.size)
    return image.reduce(factor) if factor > 1 else image


def _reduction(size: tuple[int, int]) -> int:
    """The whole factor that brings an image of ``size`` to at most :data:`LARGE_PIXELS` pixels (1: keep it)."""
    return max(1, math.ceil(math.sqrt(size[0] * size[1] / LARGE_PIXELS)))


def _listed(formats: Sequence[str]) -> str:
    return formats[0] if len(formats) == 1 else f"{', '.join(formats[:-1])} or {formats[-1]}"


def _format_of(payload: bytes) -> str | None:
    """The format Pillow takes ``payload`` for, from its first 16 bytes only (the test Pillow's ``Image.open`` makes
    before it picks a decoder): nothing is decoded."""
    from PIL import Image

    Image.init()
    for format_name, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(payload[:16]):
                return format_name
        except Exception:  # noqa: BLE001 - a plugin's header test failing only means "not this format"
            continue
    return None


def _open(source, name: str, formats: tuple[str, ...]):
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{name}: no such image file")
        if path.stat().st_size > MAX_BYTES:
            raise DataError(f"{name}: the file is {path.stat().st_size / 2**20:.0f} MB; images up to "
                            f"{MAX_BYTES // 2**20} MB are accepted")
        payload = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        payload = bytes(source)
    else:
        payload = source.read(MAX_BYTES + 1)
        if len(payload) > MAX_BYTES:
            raise DataError(f"{name}: the file is larger than {MAX_BYTES // 2**20} MB")
    if not payload:
        raise DataError(f"{name}: the file is empty")
    try:
        # Only the accepted formats' decoders are tried. Pillow itself warns above Image.MAX_IMAGE_PIXELS (89
        # megapixels by default) and refuses twice that; our own, lower limit is checked below from the header, before
        # anything is decoded, with no warnings filter (a warnings filter is process-wide, not safe in the thread pool
        # that decodes a data set).
        image = Image.open(io.BytesIO(payload), formats=list(formats))
    except UnidentifiedImageError:
        found = _format_of(payload)
        if found is not None and found not in formats:
            raise DataError(f"{name}: {found} images are not accepted, only {_listed(formats)} (save or export the "
                            f"photo as {formats[0]})") from None
        raise DataError(f"{name}: not an image (or a format that cannot be read); use {_listed(formats)}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning: when warnings are errors
        raise DataError(f"{name}: the image is too large to decode safely (a decompression bomb?)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{name}: the image is corrupt or truncated ({error})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise DataError(f"{name}: {width}x{height} pixels is too large (limit {MAX_PIXELS:,} pixels; a "
                        f"decompression bomb?)")
    factor = _reduction(image.size)
    if factor > 1:  # a JPEG is decoded at 1/2, 1/4 or 1/8 scale right away; other formats ignore this
        image.draft(None, (width // factor, height // factor))
    try:
        image.load()  # decodes now, so a truncated file fails here and not later
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{name}: the image is corrupt or truncated ({error})") from None
    return image


def _array_to_pil(array: np.ndarray, name: str):
    from PIL import Image

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise DataError(f"{name}: expected an image array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                        f"got {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(np.asarray(array, dtype=np.float32)), 0.0, 1.0)
        array = np.round(array * 255).astype(np.uint8)
    return Image.fromarray(array)


def _to_rgb(image):
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray(np.round(array / peak * 255).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / ((high - low) or 1.0)
        return Image.fromarray(np.round(scaled * 255).astype(np.uint8)).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
