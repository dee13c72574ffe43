"""Pretrained backbone weights as nas takes them: None (random initialisation), "imagenet" only where Keras already has
the file in its cache (nothing is ever downloaded), or a local .h5 file."""
from __future__ import annotations

import os

from .errors import ConfigError


def keras_cache_path(filename: str) -> str:
    """Where ``keras.utils.get_file`` caches ``filename`` (KERAS_HOME, else ~/.keras, else /tmp/.keras); computed
    here so that checking a setting does not import TensorFlow."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.join(home, "models", filename)


def check_weights(weights: str | os.PathLike | None, *, model: str, cache_file: str) -> str | None:
    """The weights setting as recorded: None, "imagenet" or an absolute path to an existing .h5 file.

    Args:
        model: the backbone's name for messages ("ResNet50", "VGG16").
        cache_file: the file name Keras caches the backbone's ImageNet weights (without top) under.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        path = keras_cache_path(cache_file)
        if not os.path.isfile(path):
            raise ConfigError(f"weights='imagenet' for {model} needs the Keras cache file {path}, which is missing "
                              f"(nas does not download): copy {cache_file} there, or pass weights=None or a local "
                              f".h5 path")
        return "imagenet"
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(f"{model} weights must be None, 'imagenet' or a path to a .h5/.weights.h5 file, got "
                          f"{weights!r}")
    path = os.path.abspath(os.fspath(weights))
    if not path.endswith(".h5"):
        raise ConfigError(f"{model} weights file {path} must be a .h5 or .weights.h5 file")
    if not os.path.isfile(path):
        raise ConfigError(f"{model} weights file {path} does not exist; pass an existing .h5 file of "
                          f"{model}(include_top=False) weights, 'imagenet' (with {cache_file} in "
                          f"{os.path.dirname(keras_cache_path(cache_file))}) or None")
    return path
