"""Exceptions raised by nas.

Two families, as in Keras Tuner: a :class:`ConfigError` (or its subclasses) is the user's mistake and stops the work
with a one-line message (the CLI prints it and exits with status 2); anything that goes wrong *inside* one evaluation
is caught by the trainer and recorded as a failed evaluation, so the search goes on.
"""
from __future__ import annotations


class NasError(Exception):
    """Base class of every error nas raises on purpose."""


class ConfigError(NasError, ValueError):
    """A user-supplied setting is invalid: an unknown space, objective, executor, a bad run folder, ..."""


class DataError(ConfigError):
    """The data given cannot be used: empty, one class, mismatched lengths, unreadable files, ..."""


class InvalidGenomeError(NasError, ValueError):
    """A genome is not a point of its search space, or cannot be built at the given input size."""
