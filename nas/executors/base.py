"""The executor interface, the job every evaluation of a search shares, and the registry of executors by name.

An executor is started with a :class:`Job` (the space, data, budget and seed shared by every evaluation), then takes
``submit(task_id, genome, genome_hash, work)`` calls (``work``: keyword arguments of this one evaluation, such as
the epochs to train to and the training state to continue from in a multi-fidelity search, or the parent's
weights a child inherits) and hands back
``(task_id, outcome)`` pairs from
:meth:`Executor.next_result` as evaluations finish. Only genomes (plain dicts) travel per task, so remote executors
ship the job once. Each executor describes itself (:meth:`Executor.describe`, recorded in ``config.json``) and is
rebuilt from that description by :meth:`Executor.from_description`, through :data:`REGISTRY`.
"""
from __future__ import annotations

import abc
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import training
from ..errors import ConfigError

#: Executor name -> "module:Class". Looked up (and imported) only when that name is asked for, so ``import nas``
#: never imports the Ray executor's dependencies.
REGISTRY: dict[str, str] = {
    "inline": "nas.executors.inline:InlineExecutor",
    "local": "nas.executors.local:LocalExecutor",
    "ray": "nas.executors.ray_cluster:RayExecutor",
}


@dataclass
class Job:
    """What every evaluation of one search shares. ``evaluate`` is the fitness: :func:`nas.training.evaluate` (train
    and score) unless the executor was given another function with its signature, such as
    :func:`nas.training.simulate`."""

    space: Any
    data: Any
    budget: training.Budget
    seed: int
    evaluate: Callable = training.evaluate

    def run(self, genome: dict, genome_hash: str, work: dict | None = None) -> dict:
        """Evaluate one genome with this job's fitness (given the keyword arguments in ``work``: ``epochs``,
        ``initial_epoch``, ``state``, ``keep_state``, ``replicate``, ``inherit``, ``keep_weights``; see
        :func:`nas.training.evaluate`); returns its outcome dict."""
        return self.evaluate(genome, space=self.space, data=self.data, budget=self.budget, seed=self.seed,
                             genome_hash=genome_hash, **(work or {}))


class Executor(abc.ABC):
    """Base class of executors. Subclasses implement submit / next_result / pending / cancel, set ``name`` (their
    key in :data:`REGISTRY`) and list in ``settings`` the constructor keywords that :meth:`describe` records and
    :meth:`from_description` passes back."""

    name = "executor"
    settings: tuple[str, ...] = ()
    evaluate: Callable | None = None

    def start(self, job: Job) -> None:
        """Take the job every following evaluation shares (its fitness replaced by ``evaluate`` when given)."""
        if self.evaluate is not None:
            job = replace(job, evaluate=self.evaluate)
        self.job = job

    @abc.abstractmethod
    def submit(self, task_id: int, genome: dict, genome_hash: str, work: dict | None = None) -> None:
        """Queue one evaluation (``work``: its keyword arguments for the fitness, see :meth:`Job.run`)."""

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

    @property
    def capacity(self) -> int:
        """How many evaluations run at once (the asynchronous algorithm keeps this many in flight)."""
        return 1

    def close(self) -> None:  # noqa: B027 - optional: executors without resources need not override it
        """Drop pending evaluations and release resources (workers, connections); the engine calls it however a
        search ends."""

    def describe(self) -> dict:
        """Settings recorded in ``config.json``: the name, the fitness and each of ``settings``."""
        return {"name": self.name, **describe_evaluate(self.evaluate or training.evaluate),
                **{key: getattr(self, key) for key in self.settings}}

    @classmethod
    def from_description(cls, described: dict) -> Executor:
        """The executor a :meth:`describe` dict names (``name`` looked up in :data:`REGISTRY`, default "local"),
        made with its recorded settings and fitness."""
        evaluate = recorded_evaluate(described)
        executor_class = registered(described.get("name", "local"))
        settings = {key: described[key] for key in executor_class.settings if key in described}
        return executor_class(evaluate=evaluate, **settings)


def registered(name: str) -> type[Executor]:
    """The executor class registered under ``name``; an unknown name is a :class:`ConfigError`."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigError(f"unknown executor {name!r}; use 'local', 'inline', 'ray' or an Executor object")
    module_name, _, class_name = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def describe_evaluate(function: Callable) -> dict:
    """How ``config.json`` names a fitness function: its import path, plus keyword arguments of a partial."""
    keywords = {}
    if isinstance(function, functools.partial):
        function, keywords = function.func, dict(function.keywords)
    described = {"evaluate": f"{function.__module__}.{function.__qualname__}"}
    if keywords:
        described["evaluate_kwargs"] = keywords
    return described


def recorded_evaluate(described: dict) -> Callable | None:
    """The fitness function a run recorded with :func:`describe_evaluate` (None for the default training)."""
    path = described.get("evaluate")
    if not path or path == "nas.training.evaluate":
        return None
    module_name, _, qualname = path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"the run was evaluated with {path}, which cannot be imported here; pass the same "
                          f"executor (with evaluate=) to resume") from None
    keywords = described.get("evaluate_kwargs") or {}
    return functools.partial(function, **keywords) if keywords else function


def recorded(described: dict) -> Executor:
    """The executor a run recorded in ``config.json`` (its name, settings and fitness), to resume it as it ran."""
    return Executor.from_description(described)


def resolve(executor: str | Executor, evaluate: Callable | None = None) -> Executor:
    """An :class:`Executor` from a name ("local", "inline", "ray": a :class:`~nas.RayExecutor` with its defaults) or
    an executor object; ``evaluate`` replaces the fitness of a named executor."""
    if isinstance(executor, Executor):
        return executor
    return registered(executor)(evaluate=evaluate)


def rss_mb() -> float | None:
    """This process's resident memory in MB (from /proc; None where unknown). Workers report it after each trial."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
