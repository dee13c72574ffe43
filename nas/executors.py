"""Executors run fitness evaluations. The engine only submits genomes and collects outcomes, in any order.

An executor is started with a :class:`Job` (the space, data, budget and seed shared by every evaluation), then takes
``submit(task_id, genome, genome_hash)`` calls and hands back ``(task_id, outcome)`` pairs from :meth:`next_result`
as evaluations finish. Only genomes (plain dicts) travel per task, so remote executors ship the job once.
"""
from __future__ import annotations

import abc
import os
import socket
import subprocess
import sys
import functools
import importlib
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Callable

from . import training
from .clock import now
from .errors import ConfigError


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

    def run(self, genome: dict, genome_hash: str) -> dict:
        return self.evaluate(genome, space=self.space, data=self.data, budget=self.budget, seed=self.seed,
                             genome_hash=genome_hash)


class Executor(abc.ABC):
    """Base class of executors. Subclasses implement submit / next_result / pending / cancel."""

    name = "executor"
    evaluate: Callable | None = None

    def start(self, job: Job) -> None:
        if self.evaluate is not None:
            job = replace(job, evaluate=self.evaluate)
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

    @property
    def capacity(self) -> int:
        """How many evaluations run at once (the asynchronous algorithm keeps this many in flight)."""
        return 1

    def close(self) -> None:
        """Release resources (workers, connections)."""

    def describe(self) -> dict:
        """Settings recorded in ``config.json``."""
        return {"name": self.name, **describe_evaluate(self.evaluate or training.evaluate)}


class InlineExecutor(Executor):
    """Runs evaluations one at a time in the calling process, in submission order: the simplest executor, and the one
    to use under a debugger. TensorFlow keeps about 15 MB per trained model that ``clear_session`` does not free
    (keras-team/keras#17458, measured in benchmarks/overhead.py), so long searches should use :class:`LocalExecutor`.
    """

    name = "inline"

    def __init__(self, evaluate: Callable | None = None) -> None:
        self.evaluate = evaluate
        self._queue: deque[tuple[int, dict, str]] = deque()

    def submit(self, task_id: int, genome: dict, genome_hash: str) -> None:
        self._queue.append((task_id, genome, genome_hash))

    def next_result(self) -> tuple[int, dict]:
        if not self._queue:
            raise RuntimeError("next_result() called with nothing submitted")
        task_id, genome, genome_hash = self._queue.popleft()
        return task_id, self.job.run(genome, genome_hash)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def cancel(self) -> list[int]:
        ids = [task[0] for task in self._queue]
        self._queue.clear()
        return ids


class LocalExecutor(InlineExecutor):
    """Runs evaluations one at a time in a worker process on this machine (the default executor).

    The worker is started on the first evaluation and replaced once its memory has grown by ``recycle_mb`` (TensorFlow
    does not give back everything a trained model used), so the memory of a long search stays bounded. A worker
    that dies mid-evaluation (killed, out of memory, a crash in native code) makes that evaluation ``failed`` and
    is replaced; the search goes on. Space and data are sent to the worker with cloudpickle, so spaces defined in a
    notebook work too.
    """

    name = "local"

    def __init__(self, recycle_mb: float = 512.0, evaluate: Callable | None = None) -> None:
        super().__init__(evaluate)
        self.recycle_mb = recycle_mb
        self._process = None
        self._connection = None
        self._baseline_mb: float | None = None
        self._busy = False  # an evaluation is running in the worker (an interrupt then kills it, not waits for it)

    def describe(self) -> dict:
        return {**super().describe(), "recycle_mb": self.recycle_mb}

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        import cloudpickle

        # A fresh interpreter running nas._worker: forking after TensorFlow has started threads is unsafe, and
        # multiprocessing's spawn would run the user's script again in the worker (scripts without a __main__ guard).
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # modules the space refers to
        self._process = subprocess.Popen([sys.executable, "-m", "nas._worker", str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self._connection = Connection(ours.detach())
        self._connection.send_bytes(cloudpickle.dumps(self.job))
        self._baseline_mb = None

    def next_result(self) -> tuple[int, dict]:
        if not self._queue:
            raise RuntimeError("next_result() called with nothing submitted")
        task_id, genome, genome_hash = self._queue.popleft()
        self._ensure_worker()
        started = now()
        self._connection.send((task_id, genome, genome_hash))
        self._busy = True
        while not self._connection.poll(0.2):
            if self._process.poll() is not None:
                return task_id, self._worker_died(started)
        try:
            finished_id, outcome = self._connection.recv()
        except EOFError:
            return task_id, self._worker_died(started)
        self._busy = False
        rss = outcome.get("worker_rss_mb")
        if rss is not None:
            if self._baseline_mb is None:
                self._baseline_mb = rss
            elif rss - self._baseline_mb > self.recycle_mb:
                self._stop_worker()
        return finished_id, outcome

    def _worker_died(self, started: str) -> dict:
        try:
            code = self._process.wait(timeout=10)  # the socket can close a moment before the process has exited
        except subprocess.TimeoutExpired:
            code = None
        self._stop_worker()
        reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        hint = " (out of memory?)" if code == -9 else ""
        return {"status": "failed", "failure": "machinery",
                "error": f"the worker process died during training: {reason}{hint}", "metrics": {},
                "started": started, "finished": now(), "seconds": None, "node": None, "worker": None}

    def _stop_worker(self) -> None:
        process, connection, busy = self._process, self._connection, self._busy
        self._process = self._connection = None
        self._busy = False
        if process is None:
            return
        try:
            if process.poll() is None and not busy:
                connection.send(None)
                process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        connection.close()

    def close(self) -> None:
        self._stop_worker()


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
    evaluate = recorded_evaluate(described)
    if described.get("name") != "ray":
        return resolve(described.get("name", "local"), evaluate)
    from .ray_executor import RayExecutor

    settings = {key: described[key] for key in ("address", "cpus_per_trial", "gpus_per_trial", "max_concurrent",
                                                 "trial_timeout", "max_retries", "reuse_workers") if key in described}
    return RayExecutor(evaluate=evaluate, **settings)


def resolve(executor: str | Executor, evaluate: Callable | None = None) -> Executor:
    """An :class:`Executor` from a name ("local", "inline", "ray": a :class:`~nas.RayExecutor` with its defaults) or
    an executor object; ``evaluate`` replaces the fitness of a named executor."""
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        return LocalExecutor(evaluate=evaluate)
    if executor == "inline":
        return InlineExecutor(evaluate=evaluate)
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(evaluate=evaluate)
    raise ConfigError(f"unknown executor {executor!r}; use 'local', 'inline', 'ray' or an Executor object")
