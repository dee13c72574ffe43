"""The inline executor: evaluations one at a time in the calling process."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .base import Executor


class InlineExecutor(Executor):
    """Runs evaluations one at a time in the calling process, in submission order: the simplest executor, and the one
    to use under a debugger. TensorFlow keeps about 15 MB per trained model that ``clear_session`` does not free
    (keras-team/keras#17458, measured in benchmarks/overhead.py), so long searches should use :class:`LocalExecutor`.
    """

    name = "inline"

    def __init__(self, evaluate: Callable | None = None) -> None:
        self.evaluate = evaluate
        self._queue: deque[tuple[int, dict, str, dict | None]] = deque()

    def submit(self, task_id: int, genome: dict, genome_hash: str, work: dict | None = None) -> None:
        """Queue one evaluation."""
        self._queue.append((task_id, genome, genome_hash, work))

    def next_result(self) -> tuple[int, dict]:
        """Evaluate the oldest queued genome here and now; return its task id and outcome."""
        if not self._queue:
            raise RuntimeError("next_result() called with nothing submitted")
        task_id, genome, genome_hash, work = self._queue.popleft()
        return task_id, self.job.run(genome, genome_hash, work)

    @property
    def pending(self) -> int:
        """Queued evaluations."""
        return len(self._queue)

    def cancel(self) -> list[int]:
        """Drop every queued evaluation; return their task ids."""
        ids = [task[0] for task in self._queue]
        self._queue.clear()
        return ids

    def close(self) -> None:
        """Drop what is queued."""
        self.cancel()
