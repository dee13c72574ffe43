"""Every labelled image of a data set on disk, unsplit, for scoring a trained model on it: :func:`external_set`.

A model trained on one data set is judged on another (other clinics, other cameras) with all of that set's images,
not a split of them: nothing of it was seen in training. :func:`external_set` reads the three file layouts ``nas``
knows, ``folder:PATH`` (one sub-folder per class), ``ham10000:PATH`` and ``isic:GROUND_TRUTH.csv[:IMAGES]``, with
:func:`nas.images.read_image` at the size asked for (the training pipeline's reader). Unlike the training loaders, it
does not stop or merely warn at a listed image that is missing or unreadable: it counts and names them in the
:class:`ExternalSet`, so the evaluation report can say which images it could not score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .core import LESION_CLASSES
from .files import _folder, _form_path, decode
from .folders import class_folders
from .ham import _HAM_METADATA, _image_files, _read_metadata
from .isic import listed_images, parse_form, read_ground_truth

__all__ = ["EXTERNAL_FORMS", "ExternalSet", "external_set"]

#: The ``--data`` prefixes :func:`external_set` reads.
EXTERNAL_FORMS = ("folder", "ham10000", "isic")


@dataclass(eq=False, repr=False)
class ExternalSet:
    """The readable labelled images of a data set on disk, and what could not be read.

    Attributes:
        name: the data set's kind (``"image_folder"``, ``"ham10000"``, ``"isic"``).
        spec: ``{"kind", "path"}`` (``"root"`` for HAM10000, as its data spec; ``"images"`` too for ISIC), the paths
            resolved.
        class_names: the labels as the set names them (sub-folder names, HAM10000 dx, ISIC columns in nas's names).
        x: float32 images (N, H, W, 3) in [0, 1]; y: int64 indices into ``class_names``; image_ids: one per image.
        listed: how many labelled images the set lists (readable or not).
        missing: the listed images not found on disk; unreadable: one message per file that cannot be decoded.
        converted: ``"name (mode)"`` of each image converted to RGB from another colour mode.
    """

    name: str
    spec: dict
    class_names: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    image_ids: np.ndarray
    listed: int
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"ExternalSet({self.name!r}, images={len(self.y)} of {self.listed}, missing={len(self.missing)}, "
                f"unreadable={len(self.unreadable)}, classes={list(self.class_names)})")


def _folder_files(path: str) -> tuple[dict, list[str], list[str], list[Path | None], list[int]]:
    folder = _folder(path, "one sub-folder of images per class")
    files, labels, class_names = class_folders(folder)
    ids = [p.relative_to(folder).as_posix() for p in files]
    return {"kind": "image_folder", "path": str(folder)}, class_names, ids, list(files), labels


def _ham_files(path: str) -> tuple[dict, list[str], list[str], list[Path | None], list[int]]:
    folder = _folder(path, f"{_HAM_METADATA} and the HAM10000 images")
    rows = _read_metadata(folder / _HAM_METADATA)
    found = _image_files(folder)
    ids = [row["image_id"] for row in rows]
    labels = [LESION_CLASSES.index(row["dx"]) for row in rows]
    return {"kind": "ham10000", "root": str(folder)}, list(LESION_CLASSES), ids, [found.get(i) for i in ids], labels


def _isic_files(form: str, path: str) -> tuple[dict, list[str], list[str], list[Path | None], list[int]]:
    csv_path, images = parse_form(form, path)
    truth = read_ground_truth(csv_path)
    files = listed_images(truth, images)
    spec = {"kind": "isic", "path": str(truth.path), "images": None if images is None else str(Path(images).resolve())}
    classes = list(truth.classes)
    return spec, classes, list(truth.images), files, [classes.index(label) for label in truth.labels]


def external_set(text: str, image_size: int | tuple[int, int], *, workers: int | None = None) -> ExternalSet:
    """Every labelled image of ``folder:PATH``, ``ham10000:PATH`` or ``isic:GROUND_TRUTH.csv[:IMAGES]``, read at
    ``image_size`` (pixels per side, or (height, width)).

    Missing and unreadable images are counted and named in the result; :class:`DataError` when none can be read.
    """
    form = str(text).strip()
    kind, _, path = form.partition(":")
    kind = kind.lower()
    if kind == "isic":
        spec, class_names, ids, files, labels = _isic_files(form, path)
    elif kind in ("folder", "ham10000"):
        reader = _folder_files if kind == "folder" else _ham_files
        spec, class_names, ids, files, labels = reader(_form_path(kind, form, path))
    else:
        raise ConfigError(f"{form!r} is not a data set on disk; external sets are "
                          f"{', '.join(f'{k}:...' for k in EXTERNAL_FORMS)}")
    present = [(i, file) for i, file in enumerate(files) if file is not None]
    missing = [ids[i] for i, file in enumerate(files) if file is None]
    if not present:
        raise DataError(f"{form}: none of the {len(files)} listed images is on disk; check the images folder")
    x, ok, unreadable, converted = decode([file for _, file in present], image_size, workers)
    if not ok.any():
        raise DataError(f"{form}: none of the {len(present)} images can be read ({unreadable[0]})")
    kept = np.array([i for i, _ in present])[ok]
    return ExternalSet(name=spec["kind"], spec=spec, class_names=tuple(class_names), x=x[ok],
                       y=np.asarray(labels, np.int64)[kept], image_ids=np.asarray(ids)[kept], listed=len(files),
                       missing=missing, unreadable=unreadable, converted=converted)
