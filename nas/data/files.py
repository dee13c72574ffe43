"""Image files on disk, shared by :mod:`.ham` and :mod:`.folders`: the accepted suffixes, argument checks, and
decoding many files in a thread pool with one warning for the unreadable ones.

Pillow and :mod:`nas.images` are imported only when images are read.
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_LISTED = 8  # file names quoted in one message; the rest are counted


def _names(items: Sequence[str], limit: int = _LISTED) -> str:
    """The first ``limit`` items, comma-separated, and how many more there are."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ConfigError(f"image_size must be an integer >= 8 (pixels per side), got {image_size!r}")
    return int(image_size)


def _folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; pass the folder that holds the {what}")
    return folder.resolve()


def _read_one(path: Path, size: int | tuple[int, int]) -> tuple[np.ndarray | None, str | None, str | None]:
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


def decode(paths: Sequence[Path], size: int | tuple[int, int],
           workers: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Decode ``paths`` with :func:`nas.images.read_image` at ``size`` in a thread pool (Pillow releases the GIL while
    decoding), never raising for a bad file.

    Returns the images (float32, (N, height, width, 3); an unreadable file's slot is left as it was allocated), a bool
    array saying which were read, one message per unreadable file, and ``"name (mode)"`` for each image that was
    converted to RGB from another colour mode.
    """
    from concurrent.futures import ThreadPoolExecutor

    height, width = (size, size) if isinstance(size, int) else size
    x = np.empty((len(paths), height, width, 3), np.float32)
    ok = np.zeros(len(paths), bool)
    problems: list[str] = []
    converted: list[str] = []
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for i, (image, problem, mode) in enumerate(pool.map(lambda p: _read_one(p, (height, width)), paths,
                                                            chunksize=64)):
            if image is None:
                problems.append(problem or str(paths[i]))
                continue
            x[i], ok[i] = image, True
            if mode is not None:
                converted.append(f"{paths[i].name} ({mode})")
    return x, ok, problems, converted


def _read_images(paths: Sequence[Path], size: int, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``paths`` (:func:`decode`), skipping unreadable files with one warning that counts and names them;
    images in another colour mode are converted to RGB by ``read_image`` and named in one warning. Returns the images
    and the positions (in ``paths``) of the readable files; raises :class:`DataError` when none is readable.
    """
    x, ok, problems, converted = decode(paths, size, workers)
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


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The column names and the rows (column -> value, names and values stripped) of a CSV file with a header;
    :class:`DataError` when the file is not readable CSV (a BOM is allowed, as spreadsheets write one)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    return columns, rows


def _form_path(kind: str, form: str, path: str) -> str:
    """The folder of a ``--data KIND:PATH`` form, stripped; raises :class:`ConfigError` when it is blank."""
    if not path.strip():
        raise ConfigError(f"--data {form}: give the folder after the colon, e.g. {kind}:../shared/data/ham10000")
    return path.strip()
