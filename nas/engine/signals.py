"""SIGTERM (what cluster schedulers send before they kill a job) handled like Ctrl-C during a search."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """Raised in the search when the process receives SIGTERM, handled like Ctrl-C."""


@contextlib.contextmanager
def sigterm_as_interrupt(received: list[int]) -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` and is noted in ``received`` (for code that turns the exception into a
    plain KeyboardInterrupt on its way up, as Ray's waits do)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
