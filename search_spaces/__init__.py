"""Ready-made search spaces, by name:

* ``cnn`` (:mod:`search_spaces.cnn`): 1-4 conv blocks and a dense head; the paper's Table-1 network is ``cnn.TABLE1``.
* ``resnet50`` (:mod:`search_spaces.resnet50`): a ResNet50 backbone with a searched head and fine-tuning depth;
  option ``weights`` (None, "imagenet" or a local .h5 path).
* ``modern`` (:mod:`search_spaces.modern`): a stem, 1-5 stages of plain, residual, depthwise-separable or
  inverted-residual blocks with optional squeeze-and-excitation, and a global-pooling head; the plain 4-stage design is
  ``modern.PLAIN4``.

:func:`designs` gives a space's named genomes (``cnn``: ``table1``; ``modern``: ``plain4``, ``plain4-stride2``), the
names ``nas search --initial`` takes.

Importing this package does not import TensorFlow; building a model does.
"""
from __future__ import annotations

from typing import Any

from nas.space import BUILTIN_SPACES, SearchSpace, builtin_space
from nas.space import builtin_designs as designs

__all__ = ["NAMES", "get", "designs"]

NAMES = tuple(BUILTIN_SPACES)


def get(name: str, **kwargs: Any) -> SearchSpace:
    """The search space called ``name``, made with options ``kwargs`` (e.g. ``get("resnet50", weights=None)``)."""
    return builtin_space(name, **kwargs)
