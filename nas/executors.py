"""Executors run fitness evaluations. The engine only submits genomes and collects outcomes, in any order.

An executor is started with a :class:`Job` (the space, data, budget and seed shared by every evaluation), then takes
``submit(task_id, genome, genome_hash)`` calls and hands back ``(task_id, outcome)`` pairs from :meth:`next_result`
as evaluations finish. Only genomes (plain dicts) travel per task, so remote executors ship the job once.
"""
from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass
from typing import Any

from . import training
from .errors import ConfigError


@dataclass
class Job:
    """What every evaluation of one search shares."""

    space: Any
    data: Any
    budget: training.Budget
    seed: int


class Executor(abc.ABC):
    """Base class of executors. Subclasses implement submit / next_result / pending / cancel."""

    name = "executor"

    def start(self, job: Job) -> None:
        self.job = job

    @abc.abstractmethod
    def submit(self, task_id: int, genome: dict, genome_hash: str) -> None:
        """Queue one evaluation."""

    @abc.abstractmethod
    def next_result(self) -> tuple[int, dict]:
        """Block until one submitted evaluation finishes; return its task id and outcome."""

    @property
    @abc.abstractmethod
    def pending(self) -> int:
        """Submitted evaluations whose outcome has not been returned yet."""

    @abc.abstractmethod
    def cancel(self) -> list[int]:
        """Drop every pending evaluation; return their task ids."""

    def close(self) -> None:
        """Release resources (workers, connections)."""

    def describe(self) -> dict:
        """Settings recorded in ``config.json``."""
        return {"name": self.name}


class LocalExecutor(Executor):
    """Runs evaluations one at a time in the calling process, in submission order (the embedded default)."""

    name = "local"

    def __init__(self) -> None:
        self._queue: deque[tuple[int, dict, str]] = deque()

    def submit(self, task_id: int, genome: dict, genome_hash: str) -> None:
        self._queue.append((task_id, genome, genome_hash))

    def next_result(self) -> tuple[int, dict]:
        if not self._queue:
            raise RuntimeError("next_result() called with nothing submitted")
        task_id, genome, genome_hash = self._queue.popleft()
        job = self.job
        return task_id, training.evaluate(genome, space=job.space, data=job.data, budget=job.budget, seed=job.seed,
                                          genome_hash=genome_hash)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def cancel(self) -> list[int]:
        ids = [task[0] for task in self._queue]
        self._queue.clear()
        return ids


def resolve(executor: str | Executor) -> Executor:
    """An :class:`Executor` from a name ("local") or an executor object."""
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        return LocalExecutor()
    if executor == "ray":
        raise ConfigError("executor 'ray' is not available in this version yet; use executor='local'")
    raise ConfigError(f"unknown executor {executor!r}; use 'local' or an Executor object")
