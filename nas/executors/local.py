"""The local executor (the default): evaluations one at a time in a worker process (:mod:`nas.executors.worker`)
that is replaced when its memory grows or when it dies."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from ..clock import now
from .inline import InlineExecutor


class LocalExecutor(InlineExecutor):
    """Runs evaluations one at a time in a worker process on this machine (the default executor).

    The worker is started on the first evaluation and replaced once its memory has grown by ``recycle_mb`` (TensorFlow
    does not give back everything a trained model used), so the memory of a long search stays bounded. A worker
    that dies mid-evaluation (killed, out of memory, a crash in native code) makes that evaluation ``failed`` and
    is replaced; the search goes on. Space and data are sent to the worker with cloudpickle, so spaces defined in a
    notebook work too.
    """

    name = "local"
    settings = ("recycle_mb",)

    def __init__(self, recycle_mb: float = 512.0, evaluate: Callable | None = None) -> None:
        super().__init__(evaluate)
        self.recycle_mb = recycle_mb
        self._process = None
        self._connection = None
        self._baseline_mb: float | None = None
        self._busy = False  # an evaluation is running in the worker (an interrupt then kills it, not waits for it)

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        import cloudpickle

        # A fresh interpreter running nas.executors.worker: forking after TensorFlow has started threads is unsafe, and
        # multiprocessing's spawn would run the user's script again in the worker (scripts without a __main__ guard).
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # modules the space refers to
        self._process = subprocess.Popen([sys.executable, "-m", "nas.executors.worker", str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self._connection = Connection(ours.detach())
        self._connection.send_bytes(cloudpickle.dumps(self.job))
        self._baseline_mb = None

    def next_result(self) -> tuple[int, dict]:
        """Evaluate the oldest queued genome in the worker (started or replaced as needed); a worker that dies
        makes the outcome ``failed``."""
        if not self._queue:
            raise RuntimeError("next_result() called with nothing submitted")
        task_id, genome, genome_hash, work = self._queue.popleft()
        self._ensure_worker()
        started = now()
        self._connection.send((task_id, genome, genome_hash, work))
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
        """Drop what is queued and stop the worker process."""
        self.cancel()
        self._stop_worker()
