"""A small generated HAM10000 folder in the official layout, and the real copy when NAS_HAM10000 names it.

The generated folder has ``HAM10000_metadata.csv`` (lesion_id, image_id, dx, dx_type, age, sex, localization) and JPEGs
``ISIC_xxxxxxx.jpg`` spread over ``HAM10000_images_part_1/`` and ``HAM10000_images_part_2/``, 450x600-shaped (3:4,
landscape) at a tiny size. Images are drawn by :func:`nas.data.synthetic_lesions`; the classes are imbalanced as in
HAM10000 (nv by far the largest, df and vasc the smallest) and many lesions have several photographs (the same drawing
flipped, rotated and relit), so the lesion-grouped split, ``max_images`` sampling, class weights and oversampling all
have something to do. Nothing here is real data.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas import data as D

#: Lesions per class; 53 lesions, 87 images in all (nv: 48% of the images).
LESIONS = {"akiec": 4, "bcc": 5, "bkl": 7, "df": 3, "mel": 7, "nv": 24, "vasc": 3}
#: Photographs of the k-th lesion of a class: PHOTOS[k % 4].
PHOTOS = (1, 2, 1, 3)
HEIGHT, WIDTH = 24, 32
COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
ENV = "NAS_HAM10000"


@dataclass(frozen=True)
class HamSource:
    """A HAM10000 folder and the sample the tests take of it (``max_images``), with the bounds its size must meet."""

    name: str
    root: Path
    max_images: int
    sample_size: tuple[int, int]  # inclusive bounds on the number of images sampled with max_images


def write_ham10000(root: Path, seed: int = 0) -> list[dict]:
    """Write the generated folder under ``root``; return the metadata rows (in file order)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    most = max(LESIONS.values())
    drawn = D.synthetic_lesions(n=most * len(D.LESION_CLASSES), image_size=WIDTH, seed=seed)
    x = np.concatenate([drawn.x_train, drawn.x_val, drawn.x_test])
    y = np.concatenate([drawn.y_train, drawn.y_val, drawn.y_test])
    rows, images = [], []
    lesion_number, image_number = 0, 0
    for c, dx in enumerate(D.LESION_CLASSES):
        drawings = x[y == c]
        for k in range(LESIONS[dx]):
            lesion = f"HAM_{lesion_number:07d}"
            lesion_number += 1
            age = f"{rng.integers(6, 18) * 5}.0"
            sex, place = rng.choice(["male", "female"]), rng.choice(["back", "face", "lower extremity", "trunk"])
            for photo in range(PHOTOS[k % len(PHOTOS)]):
                picture = drawings[k]
                if photo:  # another photograph of the same lesion: turned, maybe mirrored, lit a little differently
                    picture = np.rot90(picture, photo * 2)
                    picture = picture[:, ::-1] if photo % 2 else picture
                    picture = np.clip(picture * rng.uniform(0.9, 1.1), 0, 1)
                top = (WIDTH - HEIGHT) // 2
                images.append(np.round(picture[top:top + HEIGHT] * 255).astype(np.uint8))
                rows.append({"lesion_id": lesion, "image_id": f"ISIC_{24306 + image_number:07d}", "dx": dx,
                             "dx_type": "histo" if dx != "nv" else "follow_up", "age": age, "sex": sex,
                             "localization": place})
                image_number += 1
    # The official file lists images in no class order; parts 1 and 2 split the images by number.
    order = rng.permutation(len(rows))
    rows, images = [rows[i] for i in order], [images[i] for i in order]
    for part in (1, 2):
        (root / f"HAM10000_images_part_{part}").mkdir(exist_ok=True)
    for row, pixels in zip(rows, images):
        part = 1 if int(row["image_id"][5:]) < 24306 + len(rows) // 2 else 2
        Image.fromarray(pixels).save(root / f"HAM10000_images_part_{part}" / f"{row['image_id']}.jpg", quality=92)
    with open(root / "HAM10000_metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def generated_source(root: Path) -> HamSource:
    rows = write_ham10000(root)
    # max_images=60 of 93: every class keeps at least 3 lesions, so the sample is a little above 60.
    return HamSource("generated", root, max_images=60, sample_size=(55, len(rows) - 1))


def real_root() -> Path:
    """The real HAM10000 folder named by NAS_HAM10000: skip when the variable is unset, fail when it names no copy."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        pytest.skip(f"needs the real HAM10000 data set: set {ENV} to the folder holding HAM10000_metadata.csv and "
                    f"HAM10000_images_part_1/ and _part_2/ (.ci/run does when ../shared/data/ham10000 exists)")
    root = Path(value).expanduser()
    if not (root / "HAM10000_metadata.csv").is_file():
        what = "does not exist" if not root.exists() else "has no HAM10000_metadata.csv"
        pytest.fail(f"{ENV}={value}: {what}; point it at the HAM10000 folder (HAM10000_metadata.csv, "
                    f"HAM10000_images_part_1/, HAM10000_images_part_2/) or unset it to skip the real-data tests",
                    pytrace=False)
    return root


def real_source() -> HamSource:
    # whole lesions, at least 3 per class: about max_images
    return HamSource("real", real_root(), max_images=300, sample_size=(280, 360))
