"""HAM10000 dermoscopy images from disk, split by lesion: :func:`ham10000`, spec kind ``"ham10000"``,
``--data ham10000:PATH``.

Reads ``HAM10000_metadata.csv`` (checked row by row), finds the images in the folder or its sub-folders, and assigns
whole lesions to train, validation or test (or reuses a ``splits.csv`` written by :meth:`Dataset.write_splits`).
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .core import (LESION_CLASSES, MALIGNANT, Dataset, _SPLITS, _check_fractions, _check_seed, _make, _split_indices,
                   register_form, register_kind)
from .files import IMAGE_SUFFIXES, _check_image_size, _folder, _form_path, _names, _read_images, read_csv

_HAM_METADATA = "HAM10000_metadata.csv"
_HAM_COLUMNS = ("lesion_id", "image_id", "dx")


def _read_metadata(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} not found: a HAM10000 folder holds {_HAM_METADATA} and the images, in "
                        f"HAM10000_images_part_1/ and HAM10000_images_part_2/ or in one folder")
    columns, rows = read_csv(path)
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


def _select_rows(folder: Path, seed: int, max_images: int | None,
                 splits_file: str | os.PathLike | None) -> tuple[list[dict[str, str]], dict[str, str] | None]:
    """The metadata rows to use and, with ``splits_file``, its image_id -> split assignment (else None): exactly the
    images the splits file lists, or a seeded sample of whole lesions when ``max_images`` is below the total."""
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
    return rows, assignment


def _listed_files(folder: Path, rows: Sequence[dict[str, str]]) -> dict[str, Path]:
    """The image files in ``folder`` by image_id; raises :class:`DataError` naming the listed images not on disk."""
    files = _image_files(folder)
    absent = [f"{row['image_id']}.jpg" for row in rows if row["image_id"] not in files]
    if absent:
        raise DataError(f"{len(absent)} image{'s are' if len(absent) > 1 else ' is'} listed in {_HAM_METADATA} but "
                        f"not found in {folder} or its sub-folders: {_names(absent)}; restore the files or delete "
                        f"their rows from the metadata")
    return files


def _assigned_splits(image_ids: np.ndarray, assignment: dict[str, str],
                     splits_file: str | os.PathLike | None) -> list[np.ndarray]:
    """Train/val/test positions of ``image_ids`` as a splits file assigns them; each split must keep an image."""
    split_of = np.array([_SPLITS.index(assignment[image]) for image in image_ids])
    splits = [np.flatnonzero(split_of == s) for s in range(3)]
    empty = [name for name, index in zip(_SPLITS, splits) if not len(index)]
    if empty:
        raise DataError(f"{splits_file}: no usable image in the {', '.join(empty)} split; use a complete file")
    return splits


def _lesion_splits(lesion_ids: np.ndarray, y: np.ndarray, seed: int, val_fraction: float,
                   test_fraction: float) -> list[np.ndarray]:
    """Split the lesions (stratified, seeded), then give every image its lesion's split: train/val/test positions."""
    lesion_names, lesion_of_image = np.unique(lesion_ids, return_inverse=True)
    lesion_y = np.empty(len(lesion_names), np.int64)
    lesion_y[lesion_of_image] = y
    by_lesion = _split_indices(lesion_y, LESION_CLASSES, seed, val_fraction, test_fraction)
    order = np.argsort(lesion_of_image, kind="stable")
    starts = np.searchsorted(lesion_of_image[order], np.arange(len(lesion_names) + 1))
    return [np.concatenate([order[starts[i]:starts[i + 1]] for i in lesions]) for lesions in by_lesion]


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
    rows, assignment = _select_rows(folder, seed, max_images, splits_file)
    files = _listed_files(folder, rows)
    x, kept = _read_images([files[row["image_id"]] for row in rows], image_size, workers)
    rows = [rows[i] for i in kept]
    image_ids = np.array([row["image_id"] for row in rows])
    lesion_ids = np.array([row["lesion_id"] for row in rows])
    y = np.array([LESION_CLASSES.index(row["dx"]) for row in rows], np.int64)
    if assignment is not None:
        splits = _assigned_splits(image_ids, assignment, splits_file)
    else:
        splits = _lesion_splits(lesion_ids, y, seed, val_fraction, test_fraction)
    spec = {"kind": "ham10000", "root": str(folder), "image_size": image_size, "seed": seed,
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction),
            "max_images": None if max_images is None else int(max_images),
            "splits_file": None if splits_file is None else str(Path(splits_file).expanduser().resolve()),
            "oversample": bool(oversample)}
    return _make("ham10000", LESION_CLASSES, x, y, None, spec, seed, val_fraction, test_fraction, splits=splits,
                 image_ids=image_ids, lesion_ids=lesion_ids, oversample=oversample, malignant=MALIGNANT,
                 default_objectives=("val_balanced_accuracy",), class_weighted=True)


def _parse(form: str, path: str, image_size: int | None, seed: int) -> Dataset:
    """``--data ham10000:PATH``: the HAM10000 folder, 64 px unless ``image_size``."""
    return ham10000(_form_path("ham10000", form, path), image_size=image_size or 64, seed=seed)


register_kind("ham10000", ham10000)
register_form("ham10000", _parse, ("ham10000:PATH",))
