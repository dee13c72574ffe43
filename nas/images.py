"""Reading one image the way every part of ``nas`` needs it: RGB, float32 in [0, 1], optionally resized.

The data loaders, ``nas explain`` and the web page all go through :func:`read_image`, so an image is prepared the same
way for training and for prediction, and every bad input (not an image, empty, truncated, a decompression bomb, an
odd colour mode) gets the same clear :class:`~nas.errors.DataError` naming the file.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .errors import DataError

MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo passes; a decompression bomb does not
MAX_BYTES = 50 * 1024 * 1024

Source = Union[str, os.PathLike, bytes, BinaryIO, np.ndarray]


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", None) or "the uploaded image"


def read_image(source: Source, size: tuple[int, int] | int | None = None) -> np.ndarray:
    """One image as float32 RGB in [0, 1], shape (H, W, 3).

    Args:
        source: a path, the file's bytes, a binary file object, or an array (H, W), (H, W, 1|3|4) of uint8 or of floats
            in [0, 1].
        size: (height, width) or one number for a square; None keeps the image's own size.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are converted to RGB; a phone photo's
    EXIF rotation is applied. Raises :class:`DataError` naming the file for anything that is not a readable image.
    """
    from PIL import Image, ImageOps

    name = _name(source)
    if isinstance(source, np.ndarray):
        image = _array_to_pil(source, name)
    else:
        image = _open(source, name)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the picture
        pass
    image = _to_rgb(image)
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if image.size != (width, height):
            image = image.resize((int(width), int(height)), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _open(source, name: str):
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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(f"{name}: {width}x{height} pixels is too large (limit {MAX_PIXELS:,} pixels; a "
                                f"decompression bomb?)")
            image.load()  # decodes now, so a truncated file fails here and not later
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name}: the image is too large to decode safely (a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image (or a format that cannot be read); use JPEG or PNG") from None
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
