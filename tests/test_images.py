"""nas.images.read_image: every colour mode becomes RGB in [0, 1]; every bad input is a DataError naming the file."""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from nas.errors import DataError
from nas.images import FORMATS, LARGE_PIXELS, MAX_PIXELS, UPLOAD_FORMATS, read_image


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK", "I;16", "1", "LA"])
def test_every_colour_mode_becomes_rgb_in_unit_range(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    image = (rgb.convert(mode) if mode != "I;16"
             else Image.fromarray((rng.integers(0, 65535, (20, 30))).astype(np.uint16)))
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


def png_claiming(width: int, height: int) -> bytes:
    """A valid one-pixel PNG whose header says width x height: what a decompression bomb shows before decoding."""
    data = encoded(Image.new("1", (1, 1)))
    body = b"IHDR" + struct.pack(">II", width, height) + data[24:29]  # bit depth, colour type, ... of the real header
    return data[:8] + struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body)) + data[33:]


@pytest.mark.parametrize("side", [7_000, 10_000, 15_000])  # over our limit; over Pillow's warning; over its error
def test_every_oversized_header_is_refused_without_decoding(side):
    with pytest.raises(DataError, match="too large"):
        read_image(png_claiming(side, side))


def test_concurrent_reads_leave_the_warning_filters_alone():
    """The data loaders decode in a thread pool: a warnings.catch_warnings() per image, entered and left by threads
    in any order, would leave the process's warning filters changed."""
    from concurrent.futures import ThreadPoolExecutor

    photo = encoded(Image.fromarray(np.full((300, 400, 3), 120, np.uint8)), "JPEG")
    sources = [photo, png_claiming(7_000, 7_000), png_claiming(10_000, 10_000)] * 60
    before = list(warnings.filters)

    def read(source):
        try:
            return read_image(source, size=8).shape
        except DataError:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        shapes = list(pool.map(read, sources))
    assert list(warnings.filters) == before
    assert shapes.count((8, 8, 3)) == 60 and shapes.count(None) == 120


def pillow_file(fmt: str) -> bytes:
    return encoded(Image.fromarray(np.full((16, 24, 3), 200, np.uint8)), fmt)


@pytest.mark.parametrize("fmt", ["EPS", "ICO", "PPM", "GIF", "TIFF"])
def test_uploads_other_than_jpeg_and_png_are_refused_by_name(tmp_path, fmt):
    path = tmp_path / f"lesion.{fmt.lower()}"
    path.write_bytes(pillow_file(fmt))
    with pytest.raises(DataError, match=f"lesion.{fmt.lower()}: {fmt} images are not accepted, only JPEG or PNG"):
        read_image(path, formats=UPLOAD_FORMATS)
    for fmt_ok in UPLOAD_FORMATS:
        assert read_image(pillow_file(fmt_ok), formats=UPLOAD_FORMATS).shape == (16, 24, 3)


def test_data_folders_read_their_formats_and_nothing_else():
    for fmt in FORMATS:
        assert read_image(pillow_file(fmt)).shape == (16, 24, 3)
    for fmt in ("EPS", "ICO", "PPM"):  # EPS would be handed to Ghostscript
        with pytest.raises(DataError, match=f"{fmt} images are not accepted"):
            read_image(pillow_file(fmt))


def test_a_normal_image_is_prepared_exactly_as_before(tmp_path):
    """Up to LARGE_PIXELS nothing changed: decode, RGB, bilinear resize of the full image, / 255."""
    rng = np.random.default_rng(1)
    path = tmp_path / "phone.jpg"
    Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(path, quality=90)
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB").resize((64, 48), Image.BILINEAR), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(read_image(path, size=(48, 64)), expected)
    assert read_image(path).shape == (1200, 1600, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_photo_is_halved_while_decoding(fmt):
    import tracemalloc

    width, height = 5_600, 3_600  # 20 megapixels, over LARGE_PIXELS
    assert LARGE_PIXELS < width * height <= MAX_PIXELS
    gradient = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    payload = encoded(Image.fromarray(np.broadcast_to(gradient[None, :, None], (height, width, 3)).copy()), fmt)
    tracemalloc.start()
    try:
        array = read_image(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.shape == (height // 2, width // 2, 3)
    assert abs(float(array[:, 0].mean())) < 0.01 and abs(float(array[:, -1].mean()) - 1.0) < 0.01
    assert peak < width * height * 3 * 4 / 2  # numpy's share: less than half of one full-size float32 copy
