"""Images in one sub-folder per class: :func:`image_folder`, spec kind ``"image_folder"``, ``--data folder:PATH``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .core import Dataset, _check_fractions, _check_seed, _make, register_form, register_kind
from .files import IMAGE_SUFFIXES, _check_image_size, _folder, _form_path, _read_images


def class_folders(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """The image files in ``folder``'s sub-folders (hidden ones and empty ones skipped), each one's class index, and
    the class names (the sub-folder names, sorted); :class:`DataError` when there is no image."""
    files: list[Path] = []
    labels: list[int] = []
    class_names: list[str] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            files += images
            labels += [len(class_names)] * len(images)
            class_names.append(sub.name)
    if not files:
        raise DataError(f"{folder}: no images in sub-folders; put each class's images ({', '.join(IMAGE_SUFFIXES)}) "
                        f"in a sub-folder named after the class")
    return files, labels, class_names


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
    files, labels, class_names = class_folders(folder)
    x, kept = _read_images(files, image_size, workers)
    ids = np.array([files[i].relative_to(folder).as_posix() for i in kept])
    spec = {"kind": "image_folder", "path": str(folder), "image_size": image_size, "seed": seed,
            "val_fraction": float(val_fraction), "test_fraction": float(test_fraction), "oversample": bool(oversample)}
    # Each image is its own group: a folder says nothing about which images show the same object.
    return _make("image_folder", class_names, x, np.array(labels, np.int64)[kept], None, spec, seed, val_fraction,
                 test_fraction, image_ids=ids, lesion_ids=ids, oversample=oversample)


def _parse(form: str, path: str, image_size: int | None, seed: int) -> Dataset:
    """``--data folder:PATH``: one sub-folder per class, 64 px unless ``image_size``."""
    return image_folder(_form_path("folder", form, path), image_size=image_size or 64, seed=seed)


register_kind("image_folder", image_folder)
register_form("folder", _parse, ("folder:PATH",))
