"""Datasets: train/validation/test splits of images in memory, and the constructors that make them.

Every dataset carries a JSON-able ``spec`` from which :func:`from_spec` rebuilds the very same arrays, so only the spec
needs to cross process or machine boundaries (resumed runs, the CLI, remote workers). Only numpy is imported here;
scikit-learn and scipy are imported by the constructors that need them.

The package has one module per concern, importing one way only (each constructor module imports :mod:`.core`, never
the reverse):

- :mod:`.core`: the :class:`Dataset` class, seeded stratified splits, and :func:`from_spec`, :func:`coerce` and
  :func:`parse`, which look dataset kinds up in a registry that the modules below fill when imported;
- :mod:`.synthetic`: :func:`synthetic_lesions`, generated dermoscopy-like images;
- :mod:`.in_memory`: :func:`arrays` (your own images and labels) and :func:`digits`;
- :mod:`.files`: image files on disk (suffixes, decoding in threads), shared by the modules below;
- :mod:`.ham`: :func:`ham10000`, split by lesion;
- :mod:`.folders`: :func:`image_folder`, one sub-folder per class;
- :mod:`.isic`: :func:`isic`, the ISIC challenge layout (a ground-truth CSV with one-hot diagnosis columns);
- :mod:`.external`: :func:`external_set`, every labelled image of a ``--data`` form, for ``nas evaluate``.

Example:
    >>> data = synthetic_lesions(n=70, image_size=16, seed=0)
    >>> data.input_shape, data.num_classes
    ((16, 16, 3), 7)
    >>> from_spec(data.spec).x_train.tobytes() == data.x_train.tobytes()
    True
"""
from __future__ import annotations

from .core import CLASS_FULL_NAMES, LESION_CLASSES, MALIGNANT, Dataset, coerce, from_spec, parse

# Imported in this order on purpose: each registers its --data forms, and parse's error lists them in that order.
from .synthetic import synthetic_lesions
from .in_memory import arrays, digits
from .ham import ham10000
from .folders import image_folder
from .isic import isic
from .external import ExternalSet, external_set
from .files import IMAGE_SUFFIXES  # noqa: F401  (public since nas/data.py, though not in __all__)

__all__ = ["Dataset", "LESION_CLASSES", "MALIGNANT", "CLASS_FULL_NAMES", "from_spec", "synthetic_lesions", "digits",
           "arrays", "ham10000", "image_folder", "isic", "ExternalSet",
           "external_set", "coerce", "parse"]
