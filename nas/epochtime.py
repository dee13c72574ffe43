"""A time budget per epoch (``Budget(max_epoch_seconds=...)``): parameters and FLOPs do not bound training time on
every machine (on a CPU a depthwise-separable genome of 30 MFLOPs took longer per epoch than a plain one of
125 MFLOPs), so an evaluation can instead measure its own pace and give up early.

After ``skip`` batches (the first ones pay for tracing and compilation) the callback times the next ``probe`` and
projects the epoch's duration; above the limit, training stops with :class:`TooSlowError` and the evaluation fails
as a genome that does not fit the budget (the search goes on without it). The projection depends on the machine and
its load, so a search with this limit is repeatable only on the same machine under the same load. The limit is for
an epoch of the first epoch's images; an epoch on more images (``Budget.samples_from_epoch``, the higher rungs of a
search whose training images grow) gets a limit scaled by its image count, so that it bounds a genome's pace, not the
size of its rung.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import keras


class TooSlowError(Exception):
    """An epoch of this genome would take longer than ``Budget.max_epoch_seconds``."""


class EpochTimeLimit(keras.callbacks.Callback):
    """Stops training with :class:`TooSlowError` when the first epoch of this fit, projected from the time of
    ``probe`` batches after ``skip`` ones, would last more than ``limit`` seconds. Epochs too short to probe
    (``skip + 1`` batches or fewer) are not checked."""

    def __init__(self, limit: float, batches: int, skip: int = 2, probe: int = 8, scaled: str = "") -> None:
        super().__init__()
        self.limit, self.batches, self.skip = float(limit), int(batches), int(skip)
        self.scaled = scaled  # how ``limit`` was scaled from Budget.max_epoch_seconds, for the error message
        self.last = min(self.skip + int(probe), self.batches)
        self.clock: float | None = None
        self.projected: float | None = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Start the clock after ``skip`` batches; after ``probe`` more, project the epoch and stop if too slow."""
        done = batch + 1
        if self.projected is not None or self.last <= self.skip:
            return
        if done == self.skip:
            self.clock = time.perf_counter()
        elif done == self.last and self.clock is not None:
            self.projected = (time.perf_counter() - self.clock) / (done - self.skip) * self.batches
            if self.projected > self.limit:
                raise TooSlowError(f"an epoch would take about {self.projected:.0f} s ({self.batches} batches), more "
                                   f"than {self.scaled or 'Budget.max_epoch_seconds='}{self.limit:g}")


class TrainingTimeLimit(keras.callbacks.Callback):
    """Ends a training (``Recipe(max_seconds=...)``) before the epoch expected to end past ``seconds`` from its
    start: after each epoch it stops if the time so far plus an epoch would pass the limit (an epoch as long as the
    mean of those after the first, which pays for tracing; the first's own length until there are others). With
    ``plan`` (a learning-rate schedule follows the training's length) it sets :attr:`epochs` after the first epoch
    to the epochs expected to fit (at most ``epochs``, at least 1; a cautious estimate, tracing included) and stops
    after them. :attr:`stopped` says whether the limit ended the training. ``clock`` reads the time in seconds
    (default :func:`time.perf_counter`; a scripted clock replays given epoch lengths)."""

    def __init__(self, seconds: float, epochs: int, plan: bool = False,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__()
        self.seconds, self.epochs, self.plan = float(seconds), int(epochs), plan
        self.clock = clock
        self.start = clock()
        self.first = 0.0
        self.stopped = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start the clock."""
        self.start = self.clock()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Stop before an epoch that would end past the limit (or, with ``plan``, after the epochs planned)."""
        elapsed = self.clock() - self.start
        if epoch == 0:
            self.first = elapsed
            if self.plan:
                self.epochs = max(1, min(self.epochs, int(self.seconds // max(elapsed, 1e-9))))
        pace = (elapsed - self.first) / epoch if epoch else elapsed
        if elapsed + pace > self.seconds or (self.plan and epoch + 1 >= self.epochs):
            self.stopped = epoch + 1 < self.params.get("epochs", epoch + 1)
            self.model.stop_training = True
