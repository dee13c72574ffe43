"""The ISIC challenge layout (ISIC 2018 task 3): a ground-truth CSV with one-hot diagnosis columns, spec kind
``"isic"``, ``--data isic:GROUND_TRUTH.csv`` or ``isic:GROUND_TRUTH.csv:IMAGES``.

The CSV has an ``image`` column (the file name without suffix, e.g. ``ISIC_0034524``) and one column per diagnosis,
``MEL, NV, BCC, AKIEC, BKL, DF, VASC``, holding 1 (or 1.0) in exactly one of them per row; column names are matched to
``nas``'s class names (mel, nv, bcc, akiec, bkl, df, vasc) in any case. The images (``<image>.jpg``, ``.jpeg`` or
``.png``) are looked for in the folder given after the CSV, else beside the CSV, in its folder's sub-folders, and in
the sub-folders of the folder above (the official download puts ``..._GroundTruth/`` and ``..._Input/`` side by side).

:func:`read_ground_truth` and :func:`listed_images` are what ``nas evaluate`` reads an external ISIC set with (every
image, missing ones counted and named); :func:`isic` makes a split :class:`Dataset` of it to search or train on.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .core import LESION_CLASSES, MALIGNANT, Dataset, _check_fractions, _check_seed, _make, register_form, register_kind
from .files import _check_image_size, _names, _read_images, read_csv

__all__ = ["GroundTruth", "isic", "listed_images", "read_ground_truth"]

_IMAGE_COLUMN = "image"
_SUFFIXES = (".jpg", ".jpeg", ".png")
_FORM = re.compile(r"^(?P<csv>.+?\.csv)(?::(?P<images>.+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class GroundTruth:
    """An ISIC ground-truth CSV: its ``classes`` (the nas names of its label columns, in :data:`LESION_CLASSES` order)
    and, row by row, ``images`` (file stems) and ``labels`` (class names)."""

    path: Path
    classes: tuple[str, ...]
    images: tuple[str, ...]
    labels: tuple[str, ...]


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass the ISIC ground-truth CSV (image, MEL, NV, BCC, AKIEC, BKL, DF, "
                        f"VASC columns)")
    columns, rows = read_csv(path)
    if _IMAGE_COLUMN not in columns:
        raise DataError(f"{path}: no {_IMAGE_COLUMN!r} column (found {', '.join(columns) or 'none'}); an ISIC "
                        f"ground truth names each image's file stem in a column called image")
    if not rows:
        raise DataError(f"{path}: no rows; the ground truth lists no images")
    return columns, rows


def _label_columns(path: Path, columns: list[str]) -> dict[str, str]:
    """CSV column -> nas class name of every label column; unknown ones raise one :class:`DataError` naming them."""
    labels = [c for c in columns if c != _IMAGE_COLUMN]
    unknown = [c for c in labels if c.lower() not in LESION_CLASSES]
    if unknown:
        raise DataError(f"{path}: unknown label column{'s' * (len(unknown) > 1)} {', '.join(unknown)}; the ISIC "
                        f"layout's labels are {', '.join(c.upper() for c in LESION_CLASSES)} (any case): delete or "
                        f"rename the others")
    if not labels:
        raise DataError(f"{path}: no label columns; add one-hot columns "
                        f"{', '.join(c.upper() for c in LESION_CLASSES)}")
    return {c: c.lower() for c in labels}


def read_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and check an ISIC ground-truth CSV: every row must hold exactly one 1 among its label columns (the others
    0); rows with none, several or a value other than 0/1 raise one :class:`DataError` naming them (by CSV line)."""
    path = Path(path).expanduser()
    columns, rows = _read_rows(path)
    label_of = _label_columns(path, columns)
    images, labels, bad = [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            values = {column: float(row[column] or "nan") for column in label_of}
        except ValueError:
            values = {}
        ones = [column for column, value in values.items() if value == 1]
        if not row[_IMAGE_COLUMN] or len(ones) != 1 or any(v not in (0, 1) for v in values.values()) or not values:
            bad.append(f"{line} ({row[_IMAGE_COLUMN] or 'no image'})")
            continue
        images.append(row[_IMAGE_COLUMN])
        labels.append(label_of[ones[0]])
    if bad:
        raise DataError(f"{path}: line{'s' * (len(bad) > 1)} {_names(bad)} must name an image and hold exactly one 1 "
                        f"among {', '.join(label_of)} (the others 0); fix or delete those rows")
    repeated = sorted({image for image in images if images.count(image) > 1}) if len(set(images)) < len(images) else []
    if repeated:
        raise DataError(f"{path}: image listed more than once: {_names(repeated)}; keep one row per image")
    classes = tuple(c for c in LESION_CLASSES if c in set(label_of.values()))
    return GroundTruth(path.resolve(), classes, tuple(images), tuple(labels))


def _search_folders(csv_path: Path, images: str | os.PathLike | None) -> list[Path]:
    if images is not None:
        folder = Path(images).expanduser()
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder; pass the folder that holds the ISIC images")
        return [folder.resolve()]
    here, above = csv_path.parent, csv_path.parent.parent
    return [here, *sorted(p for p in here.iterdir() if p.is_dir()),
            *sorted(p for p in above.iterdir() if p.is_dir() and p != here)]


def listed_images(truth: GroundTruth, images: str | os.PathLike | None = None) -> list[Path | None]:
    """The file of each row of ``truth`` (None where none is found), looked for in ``images`` if given, else beside the
    CSV, in its folder's sub-folders, then in the sub-folders of the folder above; the first match wins."""
    wanted = set(truth.images)
    found: dict[str, Path] = {}
    for folder in _search_folders(truth.path, images):
        for path in sorted(folder.iterdir()):
            if path.stem in wanted and path.suffix.lower() in _SUFFIXES and path.stem not in found:
                found[path.stem] = path
        if len(found) == len(wanted):
            break
    return [found.get(image) for image in truth.images]


def isic(path: str | os.PathLike, images: str | os.PathLike | None = None, image_size: int = 64, seed: int = 0, *,
         val_fraction: float = 0.15, test_fraction: float = 0.15, oversample: bool = False,
         workers: int | None = None) -> Dataset:
    """An ISIC ground-truth CSV and its images as a :class:`Dataset` split by image, stratified and seeded.

    Args:
        path: the ground-truth CSV (see the module docstring for the layout).
        images: the folder holding the images (default: looked for near the CSV, see :func:`listed_images`).
        image_size: images are resized to ``image_size`` x ``image_size`` pixels.
        seed: seeds the split.
        val_fraction, test_fraction: share of each class held out for validation and for testing.
        oversample: repeat training images of the smaller classes until every class has as many as the largest.
        workers: threads that decode images (default: the number of cores, at most 8).

    A listed image not found raises :class:`DataError` naming it; unreadable images are skipped with one warning.
    ``nas evaluate`` does not split: it scores every image (see :mod:`nas.evaluate`).
    """
    image_size, seed = _check_image_size(image_size), _check_seed(seed)
    _check_fractions(val_fraction, test_fraction)
    truth = read_ground_truth(path)
    files = listed_images(truth, images)
    absent = [f"{image}.jpg" for image, file in zip(truth.images, files) if file is None]
    if absent:
        raise DataError(f"{len(absent)} image{'s are' if len(absent) > 1 else ' is'} listed in {truth.path.name} but "
                        f"not found: {_names(absent)}; restore the files, pass their folder, or delete their rows")
    paths = [file for file in files if file is not None]
    x, kept = _read_images(paths, image_size, workers)
    class_names = list(truth.classes)
    y = np.array([class_names.index(label) for label in truth.labels], np.int64)[kept]
    ids = np.array(truth.images)[kept]
    spec = {"kind": "isic", "path": str(truth.path), "images": None if images is None else str(Path(images).resolve()),
            "image_size": image_size, "seed": seed, "val_fraction": float(val_fraction),
            "test_fraction": float(test_fraction), "oversample": bool(oversample)}
    return _make("isic", class_names, x, y, None, spec, seed, val_fraction, test_fraction, image_ids=ids,
                 lesion_ids=ids, oversample=oversample, malignant=tuple(m for m in MALIGNANT if m in class_names),
                 default_objectives=("val_balanced_accuracy",), class_weighted=True)


def parse_form(form: str, path: str) -> tuple[str, str | None]:
    """(CSV, images folder or None) of ``--data isic:CSV`` or ``isic:CSV:IMAGES``."""
    match = _FORM.match(path.strip())
    if match is None:
        raise ConfigError(f"--data {form}: give the ground-truth CSV after the colon, e.g. isic:GroundTruth.csv or "
                          f"isic:GroundTruth.csv:IMAGES_FOLDER")
    return match["csv"], match["images"]


def _parse(form: str, path: str, image_size: int | None, seed: int) -> Dataset:
    """``--data isic:CSV[:IMAGES]``: an ISIC ground truth and its images, 64 px unless ``image_size``."""
    csv_path, images = parse_form(form, path)
    return isic(csv_path, images, image_size=image_size or 64, seed=seed)


register_kind("isic", isic)
register_form("isic", _parse, ("isic:GROUND_TRUTH.csv[:IMAGES]",))
