"""Executors run fitness evaluations; the engine only submits genomes and collects outcomes, in any order.

:mod:`~nas.executors.base` holds the :class:`Job`, the :class:`Executor` interface and the registry by name
(:func:`resolve`, :func:`recorded`); :mod:`~nas.executors.inline`, :mod:`~nas.executors.local` (with its worker
process, :mod:`~nas.executors.worker`) and :mod:`~nas.executors.ray_cluster` the executors. Importing this package
does not import Ray: the Ray executor imports it only when it starts.
"""
from __future__ import annotations

from .base import (
           REGISTRY,
           Executor,
           Job,
           describe_evaluate,
           recorded,
           recorded_evaluate,
           registered,
           resolve,
           rss_mb,
)
from .inline import InlineExecutor
from .local import LocalExecutor
from .ray_cluster import RayExecutor

__all__ = ["REGISTRY", "Executor", "InlineExecutor", "Job", "LocalExecutor", "RayExecutor", "describe_evaluate",
           "recorded", "recorded_evaluate", "registered", "resolve", "rss_mb"]
