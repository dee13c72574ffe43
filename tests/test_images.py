"""nas.images.read_image: every colour mode becomes RGB in [0, 1]; every bad input is a DataError naming the file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nas.errors import DataError
from nas.images import MAX_PIXELS, read_image


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK", "I;16", "1", "LA"])
def test_every_colour_mode_becomes_rgb_in_unit_range(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    image = rgb.convert(mode) if mode != "I;16" else Image.fromarray((rng.integers(0, 65535, (20, 30))).astype(np.uint16))
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(encoded(image, fmt))
    array = read_image(path)
    assert array.shape == (20, 30, 3) and array.dtype == np.float32
    assert 0.0 <= array.min() and array.max() <= 1.0 and array.max() > 0.0


def test_rgb_values_survive_and_resize_gives_the_asked_size():
    pixels = np.zeros((10, 10, 3), dtype=np.uint8)
    pixels[..., 0] = 255
    array = read_image(encoded(Image.fromarray(pixels)))
    assert np.allclose(array[..., 0], 1.0) and np.allclose(array[..., 1:], 0.0)
    assert read_image(encoded(Image.fromarray(pixels)), size=(7, 5)).shape == (7, 5, 3)
    assert read_image(pixels, size=4).shape == (4, 4, 3)


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # black, fully transparent
    assert np.allclose(read_image(encoded(Image.fromarray(rgba, "RGBA"))), 1.0)


def test_exif_rotation_of_a_phone_photo_is_applied():
    image = Image.fromarray(np.zeros((10, 20, 3), dtype=np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert read_image(buffer.getvalue()).shape == (20, 10, 3)


def test_bad_inputs_name_the_file_and_say_what_is_wrong(tmp_path):
    cases = {"missing.png": None, "empty.png": b"", "text.png": b"this is not an image",
             "truncated.jpg": encoded(Image.fromarray(np.full((64, 64, 3), 90, np.uint8)), "JPEG")[:300]}
    expected = {"missing.png": "no such image file", "empty.png": "empty", "text.png": "not an image",
                "truncated.jpg": "corrupt or truncated"}
    for name, payload in cases.items():
        path = tmp_path / name
        if payload is not None:
            path.write_bytes(payload)
        with pytest.raises(DataError, match=expected[name]) as error:
            read_image(path)
        assert name in str(error.value)


def test_a_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = encoded(Image.new("1", (side, side)))  # a few kB of PNG, hundreds of MB once decoded
    assert len(bomb) < 100_000
    with pytest.raises(DataError, match="too large"):
        read_image(bomb)
