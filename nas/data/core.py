"""The dataset core: the :class:`Dataset` class, seeded stratified splits, and the spec machinery.

Every dataset carries a JSON-able ``spec`` from which :func:`from_spec` rebuilds the very same arrays, so only the spec
needs to cross process or machine boundaries (resumed runs, the CLI, remote workers). The constructors live in the
sibling modules (:mod:`.synthetic`, :mod:`.in_memory`, :mod:`.ham`, :mod:`.folders`), which import this one and
register their spec kinds and ``--data`` forms with :func:`register_kind` and :func:`register_form`; this module
imports none of them, so :func:`from_spec`, :func:`coerce` and :func:`parse` only look kinds up. Only numpy is
imported here.
"""
from __future__ import annotations

import csv
import inspect
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..errors import ConfigError, DataError

LESION_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
#: The malignant HAM10000 classes; the other four are benign.
MALIGNANT = ("mel", "bcc", "akiec")
#: Readable names of the HAM10000 classes, for reports and the web page.
CLASS_FULL_NAMES = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma (akiec)",
    "bcc": "Basal cell carcinoma (bcc)",
    "bkl": "Benign keratosis-like lesion (bkl)",
    "df": "Dermatofibroma (df)",
    "mel": "Melanoma (mel)",
    "nv": "Melanocytic nevus (nv)",
    "vasc": "Vascular lesion (vasc)",
}

_SPLITS = ("train", "val", "test")


@dataclass(eq=False, repr=False)
class Dataset:
    """Train/validation/test splits of images in memory.

    Attributes:
        name: ``"synthetic_lesions"``, ``"digits"``, ``"arrays"`` (or the name given to :func:`arrays`).
        class_names: one name per class index.
        x_train, x_val, x_test: float32 images, shape (N, H, W, C), values in [0, 1].
        y_train, y_val, y_test: int64 class indices, shape (N,).
        masks_train, masks_val, masks_test: bool lesion masks, shape (N, H, W), or None when the data has none.
        spec: JSON-able description from which :func:`from_spec` rebuilds this exact dataset.
        image_ids_train, image_ids_val, image_ids_test: per-image ids (HAM10000 image_id, or the file's path in an
            image folder), None for generated data. An oversampled training split repeats ids.
        lesion_ids_train, lesion_ids_val, lesion_ids_test: the group each image belongs to (HAM10000 lesion_id); no
            group is in two splits.
        malignant: names of the malignant classes (HAM10000 and synthetic lesions: mel, bcc, akiec), else empty.
        default_objectives: what a search on this data should maximise unless told otherwise (HAM10000: validation
            balanced accuracy, since plain accuracy rewards predicting the majority class).
        class_weighted: whether training should weight the loss by inverse class frequency unless told otherwise.
    """

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    masks_train: np.ndarray | None = None
    masks_val: np.ndarray | None = None
    masks_test: np.ndarray | None = None
    spec: dict | None = None
    image_ids_train: np.ndarray | None = None
    image_ids_val: np.ndarray | None = None
    image_ids_test: np.ndarray | None = None
    lesion_ids_train: np.ndarray | None = None
    lesion_ids_val: np.ndarray | None = None
    lesion_ids_test: np.ndarray | None = None
    malignant: tuple[str, ...] = ()
    default_objectives: tuple[str, ...] = ("val_accuracy",)
    class_weighted: bool = False

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)
        self.spec = dict(self.spec or {"kind": self.name})
        self.malignant = tuple(self.malignant)
        self.default_objectives = tuple(self.default_objectives)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, (H, W, C)."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    def class_weights(self) -> dict[int, float]:
        """Keras ``class_weight`` that balances the training split: ``n / (k * count_c)`` for class ``c``."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        n, k = len(self.y_train), self.num_classes
        # A class absent from the training split carries no sample, so its weight is never used: 1.0 keeps the dict
        # complete (Keras wants every class) without pretending to know anything.
        return {c: float(n / (k * counts[c])) if counts[c] else 1.0 for c in range(k)}

    def write_splits(self, path: str | os.PathLike) -> Path | None:
        """Write which image went to which split as CSV (image_id, lesion_id, dx, split), so that anyone can audit
        the split and :func:`ham10000` can reuse it (``splits_file=``). Generated data has no image ids: nothing is
        written and None is returned."""
        from ..files import write_atomic

        content = self.splits_csv()
        return None if content is None else write_atomic(path, content)

    def splits_csv(self) -> str | None:
        """The CSV :meth:`write_splits` writes (image_id, lesion_id, dx, split; each image once), or None for data
        without image ids (generated data)."""
        if self.image_ids_train is None:
            return None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image_id", "lesion_id", "dx", "split"])
        for split in _SPLITS:
            seen: set[str] = set()  # an oversampled training split repeats images; list each once
            for image, lesion, label in zip(getattr(self, f"image_ids_{split}"), getattr(self, f"lesion_ids_{split}"),
                                            getattr(self, f"y_{split}")):
                if image not in seen:
                    seen.add(image)
                    writer.writerow([image, lesion, self.class_names[label], split])
        return buffer.getvalue()

    def summary(self) -> str:
        """One line: name, split sizes, input shape and classes."""
        shape = "x".join(str(s) for s in self.input_shape)
        names = ", ".join(self.class_names)
        if len(names) > 60:
            names = names[:57] + "..."
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"{shape}, {self.num_classes} classes ({names})")

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


# -- splitting ---------------------------------------------------------------------------------------------------------
def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"val_fraction and test_fraction must each be in (0, 1) and sum to less than 1, got "
                          f"{val_fraction} and {test_fraction}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _split_indices(y: np.ndarray, class_names: Sequence[str], seed: int, val_fraction: float,
                   test_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train/val/test indices: every class present in ``y`` lands in all three splits.

    Done per class with numpy rather than with ``sklearn.model_selection.train_test_split(stratify=...)``, which
    rounds globally and can leave a rare class out of a small split; this also keeps scikit-learn out of the import.
    """
    rng = np.random.default_rng([seed, 1])  # its own stream, so the split does not shift with how images were drawn
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        count = len(members)
        if count < 3:
            raise DataError(f"class {class_names[c]!r} has {count} sample{'s' * (count != 1)}; need at least 3 per "
                            f"class to fill the train, validation and test splits: add samples or drop the class")
        n_val = max(1, round(count * val_fraction))
        n_test = max(1, round(count * test_fraction))
        while count - n_val - n_test < 1:  # large fractions on a small class: give training its one sample back
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        members = rng.permutation(members)
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val:n_val + n_test])
        parts[0].append(members[n_val + n_test:])
    # Shuffle within each split so that batches mix classes instead of arriving sorted by class.
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def _oversample(index: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """``index`` plus random repeats (seeded, with replacement) of each class's members up to the largest class."""
    rng = np.random.default_rng([seed, 3])
    counts = np.bincount(y[index])
    extra = [rng.choice(index[y[index] == c], counts.max() - counts[c]) for c in np.flatnonzero(counts)]
    return rng.permutation(np.concatenate([index, *extra]))


def _make(name: str, class_names: Sequence[str], x: np.ndarray, y: np.ndarray, masks: np.ndarray | None, spec: dict,
          seed: int, val_fraction: float, test_fraction: float, *, splits: Sequence[np.ndarray] | None = None,
          image_ids: np.ndarray | None = None, lesion_ids: np.ndarray | None = None, oversample: bool = False,
          **attributes: Any) -> Dataset:
    if len(set(y.tolist())) < 2:
        raise DataError(f"all {len(y)} samples are of one class ({class_names[int(y[0])]!r}); a classifier needs at "
                        f"least 2 classes")
    if splits is None:
        splits = _split_indices(y, class_names, seed, val_fraction, test_fraction)
    if oversample:
        splits = (_oversample(splits[0], y, seed), *splits[1:])
    fields: dict[str, Any] = {}
    for split, index in zip(_SPLITS, splits):
        fields[f"x_{split}"] = x[index]
        fields[f"y_{split}"] = y[index]
        fields[f"masks_{split}"] = None if masks is None else masks[index]
        fields[f"image_ids_{split}"] = None if image_ids is None else image_ids[index]
        fields[f"lesion_ids_{split}"] = None if lesion_ids is None else lesion_ids[index]
    return Dataset(name=name, class_names=tuple(class_names), spec=spec, **fields, **attributes)


# -- the registry of dataset kinds -------------------------------------------------------------------------------------
#: Parses the part of a ``--data`` string after its prefix: ``(form, path, image_size, seed)`` -> the dataset, or None
#: when the form is not one it accepts (then :func:`parse` reports an unknown form).
FormParser = Callable[[str, str, Optional[int], int], Optional[Dataset]]


@dataclass(frozen=True)
class _Kind:
    build: Callable[..., Dataset]
    rebuild_error: str | None  # why a spec of this kind cannot be rebuilt, or None when it can


_KINDS: dict[str, _Kind] = {}
_PARSERS: dict[str, FormParser] = {}
_FORMS: list[str] = []  # every accepted --data form, in the order of registration


def register_kind(kind: str, build: Callable[..., Dataset], *, rebuild_error: str | None = None) -> None:
    """Make :func:`from_spec` rebuild specs whose ``kind`` is ``kind`` by calling ``build(**other_keys)``.

    A kind whose spec does not hold the data (``"arrays"``) passes ``rebuild_error``, the message :func:`from_spec`
    raises; its ``build`` is then what :func:`coerce` calls on an ``(x, y)`` pair.
    """
    _KINDS[kind] = _Kind(build, rebuild_error)


def register_form(prefix: str, parser: FormParser, forms: Sequence[str]) -> None:
    """Make :func:`parse` hand ``--data`` strings that start with ``prefix`` (before any colon, any case) to
    ``parser``; ``forms`` are the accepted spellings quoted in the error for an unknown form."""
    _PARSERS[prefix] = parser
    _FORMS.extend(forms)


def _builder(kind: Any) -> Callable[..., Dataset]:
    """The registered builder of a spec ``kind``, raising :class:`ConfigError` for an unknown or unrebuildable one."""
    entry = _KINDS.get(kind)
    if entry is None:
        rebuildable = sorted(name for name, known in _KINDS.items() if known.rebuild_error is None)
        others = [name for name, known in _KINDS.items() if known.rebuild_error is not None]
        raise ConfigError(f"unknown dataset kind {kind!r}; expected one of {rebuildable + others}")
    if entry.rebuild_error is not None:
        raise ConfigError(entry.rebuild_error)
    return entry.build


# -- specs and CLI strings ---------------------------------------------------------------------------------------------
def from_spec(spec: Mapping) -> Dataset:
    """Rebuild a dataset from its :attr:`Dataset.spec`."""
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ConfigError(f"a dataset spec must be a dict with a 'kind' key, got {spec!r}")
    options = dict(spec)
    kind = options.pop("kind")
    builder = _builder(kind)
    accepted = set(inspect.signature(builder).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"dataset spec of kind {kind!r} has unknown keys {unknown}; accepted: {sorted(accepted)}")
    return builder(**options)


def coerce(data: Any) -> Dataset:
    """Turn what users pass as ``data=`` into a :class:`Dataset`: a Dataset, an ``(x, y)`` pair, a spec dict or a
    :func:`parse` string such as ``"digits"``."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return _KINDS["arrays"].build(*data)
    if isinstance(data, Mapping):
        return from_spec(data)
    if isinstance(data, str):
        return parse(data)
    raise ConfigError(f"cannot use {type(data).__name__} as data: pass a nas.data.Dataset, an (x, y) tuple of "
                      f"images and labels, a dataset spec dict, or a name such as 'synthetic' or 'digits'")


def parse(text: str, image_size: int | None = None, seed: int = 0) -> Dataset:
    """The dataset named by the CLI's ``--data`` argument: ``synthetic`` (600 images), ``synthetic:N`` (N images),
    ``digits``, ``ham10000:PATH`` (the HAM10000 folder, 64 px unless ``image_size``) or ``folder:PATH`` (one
    sub-folder per class, 64 px unless ``image_size``)."""
    form = str(text).strip()
    kind, _, path = form.partition(":")
    parser = _PARSERS.get(kind.lower())
    dataset = None if parser is None else parser(form, path, image_size, seed)
    if dataset is None:
        raise ConfigError(f"unknown --data {form!r}; accepted forms: {', '.join(map(repr, _FORMS))}")
    return dataset
