"""Exceptions raised by nas.

Two families, as in Keras Tuner: a :class:`ConfigError` (or its subclasses) is the user's mistake and stops the work
with a one-line message (the CLI prints it and exits with status 2); anything that goes wrong *inside* one evaluation
is caught by the trainer and recorded as a failed evaluation, so the search goes on.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


class NasError(Exception):
    """Base class of every error nas raises on purpose."""


class ConfigError(NasError, ValueError):
    """A user-supplied setting is invalid: an unknown space, objective, executor, a bad run folder, ..."""


class DataError(ConfigError):
    """The data given cannot be used: empty, one class, mismatched lengths, unreadable files, ..."""


class InvalidGenomeError(NasError, ValueError):
    """A genome is not a point of its search space, or cannot be built at the given input size."""


def from_fields(cls: type[T], values: Mapping[str, Any]) -> T:
    """``cls(**values)`` for a dataclass, with one clear :class:`ConfigError` naming unknown keys (a settings dict
    from a newer version or a typo) instead of Python's ``unexpected keyword argument``."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(known)}")
    return cls(**dict(values))
