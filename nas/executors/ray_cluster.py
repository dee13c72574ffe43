"""The Ray executor: fitness evaluations as Ray tasks on a local Ray instance or a cluster.

This is the only module that imports Ray, and ``import nas`` does not import it. Each trial asks Ray for
``cpus_per_trial`` CPUs and ``gpus_per_trial`` GPUs (fractions pack several small trainings on one GPU). Only the
genome travels per trial: the job (space, data, budget) is put in Ray's object store once.

Workers are reused by default: a worker clears the Keras session after each trial (and each trial sets its own
seeds, so scores are those of a fresh process) and is replaced by a fresh process after ``TRIALS_PER_WORKER`` trials,
which gives back what TensorFlow keeps between sessions (ray_scaling.json: 834 -> 1,156 MB over 10 trials).
``reuse_workers=False`` runs every trial in a fresh process instead: the strictest isolation, at the price of a
process start and the TensorFlow import per trial (4.7 s a trial on a 2-core machine, 4.6-6.3 s on a 16-core GPU
node). The figures and the choice: ``benchmarks/ray_scaling.py``, ``benchmarks/ray_gpu.py`` and docs/ray.md.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlparse

from ..errors import ConfigError
from ..clock import now
from .base import Executor, Job, rss_mb

DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray Client, GCS
TRIALS_PER_WORKER = 10  # a reused worker process is replaced after this many trials


def parse_address(address: str) -> tuple[str, int]:
    """The host and port of a Ray address (``HOST:PORT``, ``HOST`` or ``ray://HOST[:PORT]``; the port defaults to the
    GCS's 6379, or 10001 for Ray Client); a malformed address is a :class:`ConfigError` naming the accepted forms."""
    usage = f"cannot parse the Ray address {address!r}; use auto, HOST:PORT or ray://HOST:10001"
    scheme = "ray" if address.startswith("ray://") else ""
    if "://" in address and not scheme:
        raise ConfigError(usage)
    parsed = urlparse(address if scheme else f"tcp://{address}")
    try:
        port = parsed.port  # raises ValueError for a port that is not a number or is out of range
    except ValueError:
        raise ConfigError(usage) from None
    if not parsed.hostname or parsed.path not in ("", "/") or parsed.query or parsed.fragment or port == 0:
        raise ConfigError(usage)
    return parsed.hostname, port or DEFAULT_PORTS[scheme]


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message: ``ray.init`` waits a minute or more on an address that does not
    answer."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        raise ConfigError(f"Ray is not reachable at {address} ({error.strerror or error}); start the cluster "
                          f"(`ray start --head`) or check the address and port") from None


def configure_gpus(gpu_fraction: float) -> str:
    """Keep TensorFlow in a trial from taking the whole card: a per-trial memory limit derived from the GPU fraction
    when it is below 1 and the card's memory is known, memory growth otherwise (with Keras on JAX, the share of
    memory XLA may take). Returns what was done. Must run before the framework first touches the GPU (so, at the
    start of a fresh worker process); harmless without a GPU."""
    if os.environ.get("KERAS_BACKEND") == "jax":  # XLA reads its share of the card when JAX starts
        if 0 < gpu_fraction < 1:
            os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{gpu_fraction * 0.95:.3f}"
            return f"JAX: {gpu_fraction * 0.95:.0%} of each GPU's memory"
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return "JAX: memory allocated as needed"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "no GPU"
    total = _gpu_memory_mb()
    done = []
    for index, gpu in enumerate(gpus):
        try:
            if 0 < gpu_fraction < 1 and total.get(index):
                limit = int(total[index] * gpu_fraction * 0.95)  # leave room for the CUDA context
                tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(limit)])
                done.append(f"GPU {index}: memory limit {limit} MB")
            else:
                tf.config.experimental.set_memory_growth(gpu, True)
                done.append(f"GPU {index}: memory growth")
        except RuntimeError:  # TensorFlow had already initialised this GPU (a reused worker): keep its settings
            done.append(f"GPU {index}: already initialised")
    return "; ".join(done)


def _gpu_memory_mb() -> dict[int, int]:
    """Total memory of each visible GPU (MB) from nvidia-smi, indexed as TensorFlow sees them; empty if unknown."""
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    sizes = [int(float(line)) for line in out.split() if line.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        try:
            sizes = [sizes[int(i)] for i in visible.split(",") if i.strip()]
        except (ValueError, IndexError):  # UUIDs or out-of-range ids: the order is unknown, so claim nothing
            return {}
    return dict(enumerate(sizes))


def _trial(job: Job, genome: dict, genome_hash: str, work: dict | None, cpus: float, gpu_fraction: float,
           reuse: bool) -> dict:
    """Runs inside a Ray worker."""
    import math

    import ray

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow would use every core of the node; a trial keeps to the CPUs it reserved (read when TF starts)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, math.ceil(cpus))))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(max(1, math.ceil(cpus))))
    gpus = configure_gpus(gpu_fraction) if gpu_fraction else None
    outcome = job.run(genome, genome_hash, work)
    context = ray.get_runtime_context()
    outcome["node"] = f"{socket.gethostname()}:{context.get_node_id()[:8]}"
    outcome["worker"] = f"pid-{os.getpid()}"
    if gpus:
        outcome["gpu"] = gpus
    if reuse and "keras" in sys.modules:  # a long-lived worker: drop this trial's graph before the next one
        sys.modules["keras"].backend.clear_session()
    outcome["worker_rss_mb"] = rss_mb()
    return outcome


class RayExecutor(Executor):
    """Evaluates genomes in parallel as Ray tasks, on this machine or a cluster.

    Args:
        address: None starts a private local Ray instance unless this process is already connected to one
            (then it uses that); ``"auto"`` joins the cluster this machine belongs to (``ray start``);
            ``"HOST:PORT"`` or ``"ray://HOST:10001"`` a given one. An address that does not answer is a
            :class:`ConfigError`.
        cpus_per_trial: CPUs Ray reserves for each trial (fractions allowed).
        gpus_per_trial: GPUs per trial; 0.5 packs two trials on a GPU. TensorFlow in a trial is limited to that
            share of the card's memory (memory growth for whole GPUs).
        max_concurrent: trials in flight at once; default: as many as the cluster's CPUs (and GPUs) allow. Trials
            wait in this process until a slot is free, so a trial timeout counts only running time.
        trial_timeout: seconds after which a running trial is cancelled and recorded failed, counted from its launch
            (a worker process's start included); None: no limit.
        max_retries: how many times Ray reruns a trial whose worker process or node died (an exception or a NaN
            loss inside the trial is not retried: it is the genome's result).
        reuse_workers: True (default) keeps a worker for up to ``TRIALS_PER_WORKER`` trials, clearing the Keras
            session after each; False starts a fresh worker process for every trial (nothing carries over, but
            every trial pays for a process start and the TensorFlow import).
        num_cpus, num_gpus: resources of a local instance started here (default: all of this machine's).
        evaluate: a replacement fitness function, as for the other executors.
    """

    name = "ray"
    settings = ("address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "trial_timeout", "max_retries",
                "reuse_workers")

    def __init__(self, address: str | None = None, *, cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
                 max_concurrent: int | None = None, trial_timeout: float | None = None, max_retries: int = 2,
                 reuse_workers: bool = True, num_cpus: int | None = None, num_gpus: int | None = None,
                 evaluate: Callable | None = None) -> None:
        if cpus_per_trial <= 0 or gpus_per_trial < 0:
            raise ConfigError(f"cpus_per_trial must be > 0 and gpus_per_trial >= 0, got {cpus_per_trial} and "
                              f"{gpus_per_trial}")
        if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
            raise ConfigError(f"gpus_per_trial above 1 must be a whole number, got {gpus_per_trial}")
        if trial_timeout is not None and trial_timeout <= 0:
            raise ConfigError(f"trial_timeout must be positive seconds, got {trial_timeout}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ConfigError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if address not in (None, "auto"):
            parse_address(address)  # a malformed address fails here, before anything starts
        self.address, self.cpus_per_trial, self.gpus_per_trial = address, cpus_per_trial, gpus_per_trial
        self.max_concurrent, self.trial_timeout, self.max_retries = max_concurrent, trial_timeout, max_retries
        self.reuse_workers, self.num_cpus, self.num_gpus = reuse_workers, num_cpus, num_gpus
        self.evaluate = evaluate
        self._waiting: deque[tuple[int, dict, str, dict | None, float]] = deque()
        self._running: dict = {}  # object ref -> (task id, launched at (monotonic), queued seconds, started ISO)
        self._started_ray = False
        self._remote = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        """Connect to (or start) Ray, check its resources fit one trial, and ship the job to the cluster."""
        super().start(job)
        import ray

        if not ray.is_initialized():
            self._init_ray(ray)
        resources = ray.cluster_resources()
        if self.gpus_per_trial and resources.get("GPU", 0) < self.gpus_per_trial:
            raise ConfigError(f"gpus_per_trial={self.gpus_per_trial} but the Ray cluster has "
                              f"{resources.get('GPU', 0):g} GPUs; use --gpus-per-trial 0 to train on CPUs")
        if resources.get("CPU", 0) < self.cpus_per_trial:
            raise ConfigError(f"cpus_per_trial={self.cpus_per_trial} but the Ray cluster has "
                              f"{resources.get('CPU', 0):g} CPUs")
        self._remote = ray.remote(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial,
                                  max_retries=self.max_retries, retry_exceptions=False,
                                  max_calls=TRIALS_PER_WORKER if self.reuse_workers else 1)(_trial)
        self._job_ref = ray.put(self.job)

    def _init_ray(self, ray) -> None:
        options = {"log_to_driver": False, "include_dashboard": False, "configure_logging": False}
        if self.address is None:
            # Workers import the modules the search's space refers to, as in the local executor's worker.
            path = os.pathsep.join(p for p in sys.path if p)
            # "local": a new instance even where RAY_ADDRESS or a `ray start` on this machine names another
            options.update(address="local", num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                           runtime_env={"env_vars": {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}})
        else:
            if self.address != "auto":
                _check_reachable(self.address)
            options["address"] = self.address
        try:
            ray.init(**options)
        except ConnectionError as error:
            hint = ("" if os.environ.get("RAY_AUTH_MODE") else "; if the cluster uses token authentication, "
                    "set RAY_AUTH_MODE=token here as on its nodes (docs/ray.md)")
            raise ConfigError(f"cannot connect to Ray at {self.address}: {str(error).splitlines()[0]}{hint}") from None
        self._started_ray = True

    def close(self) -> None:
        """Drop what is left and shut down the Ray instance this executor started (which ends its tasks), or, on a
        cluster it joined, cancel them. The private instance's tasks are not force-cancelled one by one first: a
        reply racing a forced cancel can trip a check in Ray's core worker and crash the process on its way out
        (seen once in CI after SIGTERM)."""
        if not self._started_ray:
            self.cancel()
            return
        import ray

        self._waiting.clear()
        self._running.clear()
        ray.shutdown()
        self._started_ray = False

    # -- tasks ---------------------------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Trials that can run at once: ``max_concurrent``, else what the cluster's resources allow now."""
        if self.max_concurrent is not None:
            return self.max_concurrent
        import ray

        resources = ray.cluster_resources()
        slots = int(resources.get("CPU", 0) // self.cpus_per_trial)
        if self.gpus_per_trial:
            slots = min(slots, int(round(resources.get("GPU", 0) / self.gpus_per_trial, 6)))
        return max(1, slots)

    def submit(self, task_id: int, genome: dict, genome_hash: str, work: dict | None = None) -> None:
        """Queue one evaluation; it starts when a slot is free."""
        self._waiting.append((task_id, genome, genome_hash, work, time.monotonic()))

    @property
    def pending(self) -> int:
        """Evaluations submitted and not yet returned (waiting or running)."""
        return len(self._waiting) + len(self._running)

    def _launch(self) -> None:
        capacity = self.capacity
        while self._waiting and len(self._running) < capacity:
            task_id, genome, genome_hash, work, submitted = self._waiting.popleft()
            ref = self._remote.remote(self._job_ref, genome, genome_hash, work, self.cpus_per_trial,
                                      self.gpus_per_trial, self.reuse_workers)
            launched = time.monotonic()
            self._running[ref] = (task_id, launched, round(launched - submitted, 3), now())

    def next_result(self) -> tuple[int, dict]:
        """Wait for the next finished (or timed-out) evaluation: ``(task id, outcome)``."""
        import ray

        if not self.pending:
            raise RuntimeError("next_result() called with nothing submitted")
        while True:
            self._launch()
            refs = list(self._running)
            wait = 1.0
            if self.trial_timeout is not None:
                soonest = min(self._running[r][1] for r in refs) + self.trial_timeout
                wait = max(0.0, min(wait, soonest - time.monotonic()))
            ready, _ = ray.wait(refs, num_returns=1, timeout=wait)
            if ready:
                ref = ready[0]
                task_id, launched, queued, started = self._running.pop(ref)
                return task_id, self._outcome(ray, ref, launched, queued, started)
            if self.trial_timeout is not None:
                for ref in refs:
                    task_id, launched, queued, started = self._running[ref]
                    if time.monotonic() - launched >= self.trial_timeout:
                        del self._running[ref]
                        ray.cancel(ref, force=True)
                        return task_id, self._failed(
                            f"exceeded the trial timeout of {self.trial_timeout:g} s and was cancelled",
                            started, queued, launched)

    def _outcome(self, ray, ref, launched: float, queued: float, started: str) -> dict:
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayTaskError as error:  # the fitness function raised
            cause = error.cause if getattr(error, "cause", None) is not None else error
            message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            return self._failed(f"{type(cause).__name__}: {message}"[:500], started, queued, launched,
                                failure="genome")
        except ray.exceptions.OutOfMemoryError:
            return self._failed("killed by Ray's memory monitor: the node ran out of memory (lower the batch size "
                                "or raise cpus_per_trial so fewer trials share a node)", started, queued, launched)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.LocalRayletDiedError) as error:
            what = "node" if isinstance(error, ray.exceptions.NodeDiedError) else "worker process"
            return self._failed(f"the {what} running the trial died (killed or out of memory), "
                                f"{self.max_retries + 1} attempt(s)", started, queued, launched)
        except ray.exceptions.RayError as error:
            return self._failed(f"{type(error).__name__}: {str(error).strip().splitlines()[0][:400]}",
                                started, queued, launched)
        outcome["queued_seconds"] = queued
        # what Ray added to the fitness's own time: scheduling, a worker process start, shipping the outcome back
        outcome["overhead_seconds"] = round(max(0.0, time.monotonic() - launched - (outcome.get("seconds") or 0)), 3)
        return outcome

    @staticmethod
    def _failed(error: str, started: str, queued: float, launched: float, failure: str = "machinery") -> dict:
        """A failed outcome; ``failure`` says whether the genome failed (its fitness raised) or the machinery did
        (timeout, a worker or node lost, Ray's memory monitor), which ``nas resume --retry-failed`` retrains."""
        return {"status": "failed", "failure": failure, "metrics": {}, "error": error, "started": started,
                "finished": now(),
                "seconds": round(time.monotonic() - launched, 3), "queued_seconds": queued, "node": None,
                "worker": None}

    def cancel(self) -> list[int]:
        """Drop the waiting evaluations, cancel the running ones, and return their task ids."""
        ids = [task[0] for task in self._waiting] + [entry[0] for entry in self._running.values()]
        if self._running:
            import ray

            for ref in self._running:
                ray.cancel(ref, force=True)
        self._waiting.clear()
        self._running.clear()
        return ids
