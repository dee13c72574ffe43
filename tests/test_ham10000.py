"""Tests of nas.data.ham10000 and image_folder (on a generated folder in the official HAM10000 layout, on the real copy
too where NAS_HAM10000 names it, and on generated files with every kind of bad input) and of the training pipeline in
nas.augment."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas import data as D
from nas.augment import Augmentation, pipeline
from nas.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


def field(dataset, name):
    return [getattr(dataset, f"{name}_{split}") for split in SPLITS]


@pytest.fixture(scope="module")
def ham(generated_ham):
    """A sample (max_images) of the generated folder in the official HAM10000 layout."""
    return D.ham10000(generated_ham.root, image_size=32, max_images=generated_ham.max_images, seed=0)


@pytest.fixture(scope="module", params=["generated", "real"])
def sample(request):
    """(source, dataset): the sample of the generated folder and, where NAS_HAM10000 names it, one of the real data."""
    source = request.getfixturevalue(f"{request.param}_ham")
    if request.param == "generated":
        return source, request.getfixturevalue("ham")
    return source, D.ham10000(source.root, image_size=32, max_images=source.max_images, seed=0)


# -- a sample of a HAM10000 folder: the generated one, and the real one where NAS_HAM10000 names it --------------------
def test_sample_has_every_class_in_every_split(sample):
    source, ham = sample
    assert ham.name == "ham10000" and ham.input_shape == (32, 32, 3) and ham.class_names == D.LESION_CLASSES
    total = sum(len(y) for y in field(ham, "y"))
    low, high = source.sample_size
    assert low <= total <= high  # whole lesions, at least 3 per class: about max_images
    for x, y, ids, lesions in zip(field(ham, "x"), field(ham, "y"), field(ham, "image_ids"), field(ham, "lesion_ids")):
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and len(ids) == len(lesions) == len(y)
        assert set(y.tolist()) == set(range(7))
    assert all(i.startswith("ISIC_") for i in ham.image_ids_train) and all(
        lesion.startswith("HAM_") for lesion in ham.lesion_ids_train)


def test_no_lesion_in_two_splits(sample):
    _, ham = sample
    train, val, test = (set(lesions) for lesions in field(ham, "lesion_ids"))
    assert not train & val and not train & test and not val & test
    # the sample does hold lesions with several images, so splitting by image would have leaked
    ids, counts = np.unique(np.concatenate(field(ham, "lesion_ids")), return_counts=True)
    assert counts.max() > 1


def test_labels_match_the_metadata(sample):
    source, ham = sample
    with open(source.root / "HAM10000_metadata.csv", newline="") as handle:
        truth = {row["image_id"]: (row["lesion_id"], row["dx"]) for row in csv.DictReader(handle)}
    for ids, lesions, y in zip(field(ham, "image_ids"), field(ham, "lesion_ids"), field(ham, "y")):
        for image, lesion, label in zip(ids, lesions, y):
            assert truth[image] == (lesion, ham.class_names[label])


# -- the generated folder ----------------------------------------------------------------------------------------------
def test_split_is_reproducible_by_seed_and_changes_with_it(ham, generated_ham):
    again = D.ham10000(generated_ham.root, image_size=32, max_images=generated_ham.max_images, seed=0)
    other = D.ham10000(generated_ham.root, image_size=32, max_images=generated_ham.max_images, seed=1)
    for first, second in zip(field(ham, "image_ids"), field(again, "image_ids")):
        assert np.array_equal(first, second)
    assert np.array_equal(ham.x_train, again.x_train)
    assert set(ham.image_ids_test) != set(other.image_ids_test)


def test_spec_rebuilds_the_same_dataset(ham):
    rebuilt = D.from_spec(ham.spec)
    for name in ("x", "y", "image_ids"):
        for first, second in zip(field(ham, name), field(rebuilt, name)):
            assert np.array_equal(first, second)


def test_splits_file_is_written_and_reused(ham, generated_ham, tmp_path):
    path = ham.write_splits(tmp_path / "splits.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["image_id", "lesion_id", "dx", "split"]
    assert len(rows) == sum(len(y) for y in field(ham, "y"))
    # the file alone fixes the split, whatever the seed
    reused = D.ham10000(generated_ham.root, image_size=16, seed=7, splits_file=path)
    for first, second in zip(field(ham, "image_ids"), field(reused, "image_ids")):
        assert sorted(first) == sorted(second)
    assert D.from_spec(reused.spec).image_ids_val.tolist() == reused.image_ids_val.tolist()


def test_splits_file_that_leaks_a_lesion_is_refused(ham, generated_ham, tmp_path):
    path = ham.write_splits(tmp_path / "splits.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    lesions, counts = np.unique([row["lesion_id"] for row in rows], return_counts=True)
    leaking = lesions[counts > 1][0]
    moved = next(row for row in rows if row["lesion_id"] == leaking)
    moved["split"] = "test" if moved["split"] != "test" else "train"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DataError, match=f"{leaking} appear in more than one split"):
        D.ham10000(generated_ham.root, image_size=16, splits_file=path)


def test_class_weights_balance_the_training_split(ham):
    weights = ham.class_weights()
    counts = np.bincount(ham.y_train, minlength=7)
    nv, df = D.LESION_CLASSES.index("nv"), D.LESION_CLASSES.index("df")
    assert weights[nv] < 1 < weights[df]
    # every class carries the same total weight: n / k
    for c in range(7):
        assert weights[c] * counts[c] == pytest.approx(len(ham.y_train) / 7)


def test_oversampling_evens_out_the_training_split_only(ham, generated_ham):
    over = D.ham10000(generated_ham.root, image_size=32, max_images=generated_ham.max_images, seed=0, oversample=True)
    counts = np.bincount(over.y_train, minlength=7)
    assert (counts == counts.max()).all() and counts.max() == np.bincount(ham.y_train).max()
    assert np.array_equal(over.x_val, ham.x_val) and np.array_equal(over.x_test, ham.x_test)
    assert set(over.image_ids_train) == set(ham.image_ids_train)
    assert over.class_weights() == pytest.approx({c: 1.0 for c in range(7)})


def test_defaults_for_an_imbalanced_clinical_dataset(ham):
    assert ham.default_objectives == ("val_balanced_accuracy",) and ham.class_weighted
    assert ham.malignant == D.MALIGNANT == ("mel", "bcc", "akiec")
    assert D.CLASS_FULL_NAMES["mel"] == "Melanoma (mel)" and set(D.CLASS_FULL_NAMES) == set(D.LESION_CLASSES)
    generated = D.synthetic_lesions(n=21, image_size=8)
    assert generated.default_objectives == ("val_accuracy",) and not generated.class_weighted
    assert generated.write_splits("unused.csv") is None and not Path("unused.csv").exists()


def test_generated_folder_is_in_the_official_layout_and_is_sampled(generated_ham, ham):
    root = generated_ham.root
    with open(root / "HAM10000_metadata.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    assert {row["dx"] for row in rows} == set(D.LESION_CLASSES)
    for part in ("HAM10000_images_part_1", "HAM10000_images_part_2"):
        files = sorted((root / part).iterdir())
        assert files and all(f.suffix == ".jpg" and f.stem.startswith("ISIC_") for f in files)
    with Image.open(next((root / "HAM10000_images_part_1").iterdir())) as image:
        assert image.format == "JPEG" and image.mode == "RGB" and image.width > image.height  # 4:3, as 600x450
    everything = D.ham10000(root, image_size=16, seed=0)
    assert sum(len(y) for y in field(everything, "y")) == len(rows)
    assert sum(len(y) for y in field(ham, "y")) < len(rows)  # max_images took a sample of whole lesions


def test_real_data_statistics(real_ham):
    """What only the real data can show: its size, lesion count and imbalance, as the HAM10000 paper gives them."""
    with open(real_ham.root / "HAM10000_metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10015 and len({row["lesion_id"] for row in rows}) == 7470
    counts = {dx: sum(row["dx"] == dx for row in rows) for dx in D.LESION_CLASSES}
    assert counts == {"akiec": 327, "bcc": 514, "bkl": 1099, "df": 115, "mel": 1113, "nv": 6705, "vasc": 142}


def test_real_data_variable_skips_when_unset_and_fails_when_wrong(monkeypatch, tmp_path):
    from _ham_fixture import real_root

    monkeypatch.delenv("NAS_HAM10000", raising=False)
    with pytest.raises(pytest.skip.Exception, match="set NAS_HAM10000 to the folder"):
        real_root()
    monkeypatch.setenv("NAS_HAM10000", str(tmp_path / "absent"))
    with pytest.raises(pytest.fail.Exception, match="absent: does not exist"):
        real_root()
    monkeypatch.setenv("NAS_HAM10000", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="has no HAM10000_metadata.csv"):
        real_root()


# -- generated HAM10000 folders with bad input -------------------------------------------------------------------------
def make_ham(root: Path, lesions_per_class: int = 3, layout: str = "parts") -> list[dict]:
    """A HAM10000-shaped folder: metadata plus one 12x16 JPEG per lesion, in the official two folders or one."""
    rng = np.random.default_rng(0)
    rows = []
    for c, dx in enumerate(D.LESION_CLASSES):
        for k in range(lesions_per_class):
            number = c * lesions_per_class + k
            rows.append({"lesion_id": f"HAM_{number:07d}", "image_id": f"ISIC_{number:07d}", "dx": dx,
                         "dx_type": "histo", "age": "50.0", "sex": "male", "localization": "back"})
    for i, row in enumerate(rows):
        folder = root / ("HAM10000_images" if layout == "one" else f"HAM10000_images_part_{1 + i % 2}")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{row['image_id']}.jpg", quality=90)
    write_metadata(root, rows)
    return rows


def write_metadata(root: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    columns = columns or list(rows[0])
    with open(root / "HAM10000_metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def image_path(root: Path, image_id: str) -> Path:
    return next(root.glob(f"*/{image_id}.*"))


@pytest.mark.parametrize("layout", ["parts", "one"])
def test_generated_folder_in_either_layout(tmp_path, layout):
    make_ham(tmp_path, layout=layout)
    dataset = D.ham10000(tmp_path, image_size=8)
    assert dataset.input_shape == (8, 8, 3) and sum(len(y) for y in field(dataset, "y")) == 21


def test_missing_metadata(tmp_path):
    with pytest.raises(DataError, match="HAM10000_metadata.csv not found"):
        D.ham10000(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        D.ham10000(tmp_path / "absent")


def test_missing_columns(tmp_path):
    rows = make_ham(tmp_path)
    write_metadata(tmp_path, rows, columns=["image_id", "dx_type", "age"])
    with pytest.raises(DataError, match="missing columns lesion_id, dx"):
        D.ham10000(tmp_path)


def test_unknown_dx_label_names_it_and_its_line(tmp_path):
    rows = make_ham(tmp_path)
    rows[4]["dx"] = "melanoma"
    write_metadata(tmp_path, rows)
    with pytest.raises(DataError, match=r"unknown dx label melanoma \(line 6\)"):
        D.ham10000(tmp_path)


def test_listed_image_missing_from_disk(tmp_path):
    rows = make_ham(tmp_path)
    image_path(tmp_path, rows[2]["image_id"]).unlink()
    image_path(tmp_path, rows[9]["image_id"]).unlink()
    with pytest.raises(DataError, match=f"2 images are listed .* {rows[2]['image_id']}.jpg, {rows[9]['image_id']}.jpg"):
        D.ham10000(tmp_path)


def test_truncated_and_corrupt_jpegs_are_skipped_with_one_warning(tmp_path):
    rows = make_ham(tmp_path, lesions_per_class=4)
    truncated, garbage = image_path(tmp_path, rows[0]["image_id"]), image_path(tmp_path, rows[5]["image_id"])
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage.write_bytes(b"not a jpeg at all")
    with pytest.warns(UserWarning, match="skipped 2 of 28 images") as caught:
        dataset = D.ham10000(tmp_path, image_size=8)
    message = str(caught[0].message)
    assert truncated.name in message and garbage.name in message
    kept = set(np.concatenate(field(dataset, "image_ids")))
    assert len(kept) == 26 and rows[0]["image_id"] not in kept and rows[5]["image_id"] not in kept


def test_nothing_readable_is_an_error(tmp_path):
    rows = make_ham(tmp_path)
    for row in rows:
        image_path(tmp_path, row["image_id"]).write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="none of the 21 images can be read"):
            D.ham10000(tmp_path)


def test_grayscale_rgba_and_cmyk_images_are_converted_and_named(tmp_path):
    rows = make_ham(tmp_path)
    gray, rgba, cmyk = (image_path(tmp_path, rows[i]["image_id"]) for i in (1, 8, 15))
    Image.new("L", (16, 12), 128).save(gray)
    rgba.unlink()
    Image.new("RGBA", (16, 12), (255, 0, 0, 0)).save(rgba.with_suffix(".png"))
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(cmyk)
    with pytest.warns(UserWarning, match="3 of 21 images are not RGB") as caught:
        dataset = D.ham10000(tmp_path, image_size=8)
    message = str(caught[0].message)
    assert f"{gray.name} (L)" in message and f"{rgba.stem}.png (RGBA)" in message and f"{cmyk.name} (CMYK)" in message
    x = np.concatenate(field(dataset, "x"))
    ids = list(np.concatenate(field(dataset, "image_ids")))
    assert x.shape[-1] == 3
    assert np.allclose(x[ids.index(rows[8]["image_id"])], 1.0)  # fully transparent red composited on white
    assert np.allclose(x[ids.index(rows[1]["image_id"])], 128 / 255, atol=2 / 255)


def test_bad_arguments(tmp_path):
    make_ham(tmp_path)
    with pytest.raises(ConfigError, match="image_size"):
        D.ham10000(tmp_path, image_size=0)
    with pytest.raises(ConfigError, match="max_images"):
        D.ham10000(tmp_path, max_images=5)
    with pytest.raises(DataError, match="splits file not found"):
        D.ham10000(tmp_path, splits_file=tmp_path / "nope.csv")


def test_parse_reads_folders():
    with pytest.raises(DataError, match="no such folder"):
        D.parse("ham10000:/nonexistent/ham")
    with pytest.raises(ConfigError, match="give the folder"):
        D.parse("folder:")


# -- image folders -----------------------------------------------------------------------------------------------------
def test_image_folder(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("benign", "malignant"):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "benign" / "notes.txt").write_text("not an image")
    (tmp_path / "malignant" / "4.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning, match="skipped 1 of 10 images.*4.png"):
        dataset = D.parse(f"folder:{tmp_path}", image_size=8)
    assert dataset.class_names == ("benign", "malignant") and dataset.input_shape == (8, 8, 3)
    ids = np.concatenate(field(dataset, "image_ids"))
    assert sorted(ids) == sorted([f"benign/{i}.png" for i in range(5)] + [f"malignant/{i}.png" for i in range(4)])
    with pytest.warns(UserWarning, match="4.png"):
        assert D.from_spec(dataset.spec).image_ids_test.tolist() == dataset.image_ids_test.tolist()
    with pytest.raises(DataError, match="no images in sub-folders"):
        D.image_folder(tmp_path / "benign")


# -- the training pipeline ---------------------------------------------------------------------------------------------
def batches(x, y, **options):
    images, labels = zip(*[(a.numpy(), b.numpy()) for a, b in pipeline(x, y, batch_size=8, **options)])
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope="module")
def small():
    # Labels are the image indices, so every image can be matched with its source after shuffling.
    x = D.synthetic_lesions(n=28, image_size=16).x_train
    return x, np.arange(len(x))


def test_validation_and_test_batches_are_never_augmented(small):
    x, y = small
    images, labels = batches(x, y, training=False, augmentation=Augmentation())
    assert np.array_equal(images, x) and np.array_equal(labels, y)


def test_training_batches_are_shuffled_and_augmented(small):
    x, y = small
    plain, order = batches(x, y, training=True, augmentation=None, seed=0)
    assert sorted(order) == list(y) and list(order) != list(y) and np.array_equal(plain, x[order])
    augmented, order = batches(x, y, training=True, augmentation=Augmentation(), seed=0)
    changed = [not np.allclose(augmented[i], x[j], atol=1e-6) for i, j in enumerate(order)]
    assert np.mean(changed) > 0.9 and 0 <= augmented.min() and augmented.max() <= 1


def test_each_augmentation_can_be_switched_on_alone(small):
    x, y = small
    flips = Augmentation(rotation=0, horizontal_flip=True, vertical_flip=False, zoom=0, brightness=0)
    images, order = batches(x, y, training=True, augmentation=flips, seed=3)
    flipped = [np.allclose(images[i], x[j][:, ::-1]) for i, j in enumerate(order)]
    kept = [np.allclose(images[i], x[j]) for i, j in enumerate(order)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    bright = Augmentation(rotation=0, horizontal_flip=False, vertical_flip=False, zoom=0, brightness=0.3)
    images, order = batches(x, y, training=True, augmentation=bright, seed=3)
    shifts = (images - x[order]).mean(axis=(1, 2, 3))
    assert np.abs(shifts).max() > 0.02
    assert not Augmentation.none().active and Augmentation.from_dict(flips.to_dict()) == flips
    with pytest.raises(ConfigError, match="rotation"):
        Augmentation(rotation=1.5)
