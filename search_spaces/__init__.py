"""Ready-made search spaces, by name:

* ``cnn`` (:mod:`search_spaces.cnn`): 1-4 conv blocks and a dense head; the paper's Table-1 network is ``cnn.TABLE1``.
* ``resnet50`` (:mod:`search_spaces.resnet50`): a ResNet50 backbone with a searched head and fine-tuning depth;
  option ``weights`` (None, "imagenet" or a local .h5 path).

Importing this package does not import TensorFlow; building a model does.
"""
from __future__ import annotations

import importlib
import inspect

from nas.errors import ConfigError
from nas.space import SearchSpace

__all__ = ["NAMES", "get"]

NAMES = ("cnn", "resnet50")


def get(name: str, **kwargs) -> SearchSpace:
    """The search space called ``name``, made with options ``kwargs`` (e.g. ``get("resnet50", weights=None)``)."""
    if name not in NAMES:
        raise ConfigError(f"unknown search space {name!r}; known spaces: {', '.join(NAMES)}")
    factory = importlib.import_module(f"{__name__}.{name}").space
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError:
        options = list(inspect.signature(factory).parameters)
        raise ConfigError(f"search space {name!r} takes options {options or 'none'}, got {sorted(kwargs)}") from None
    return factory(**kwargs)
