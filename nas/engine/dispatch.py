"""Dispatch with deduplication, shared by every strategy: a genome already evaluated in the run is served from the
log, one submitted twice at once is trained once, and on resume the logged evaluations come back from the log in
the order they finished, so the search takes the same decisions again without training anything."""
from __future__ import annotations

from collections import deque
from typing import Iterable

from ..errors import ConfigError
from .operators import Member
from .state import SearchState


def fresh_counts() -> dict[str, int]:
    """Counters of one generation record."""
    return {"evaluated": 0, "cached": 0, "failed": 0, "resumed": 0}


class Dispatcher:
    """Submits members to the executor and hands back their completions (``(index, member, record)``).

    ``replay`` holds logged records of the evaluations being redone after an interruption, in log order: a member
    whose index was logged is not trained again; its completion comes from the replay.
    """

    def __init__(self, state: SearchState, replay: Iterable[dict] = ()) -> None:
        self.state = state
        self.replay: deque[dict] = deque(replay)
        self.in_flight: dict[int, tuple[Member, int]] = {}   # index -> (member, generation)
        self.waiters: dict[str, list[tuple[int, Member, int]]] = {}  # same genome as one being trained
        self.ready: deque[tuple[int, dict]] = deque()        # completions known without the executor (cache)
        self.training: set[str] = set()                     # hashes submitted to the executor, not back yet
        self.counts = fresh_counts()

    def __len__(self) -> int:
        return len(self.in_flight)

    def submit(self, member: Member, generation: int) -> int:
        """Start evaluating ``member`` (or serve it from the log); returns its index."""
        state = self.state
        index = state.take_index()
        state.seen.add(member.hash)
        self.in_flight[index] = (member, generation)
        if index in state.logged:
            return index  # finished before the interruption: its completion comes from the replay
        if member.hash in state.cache:
            self._serve(index, member, generation, state.cache[member.hash])
        elif member.hash in self.training:
            self.waiters.setdefault(member.hash, []).append((index, member, generation))
        else:
            self.training.add(member.hash)
            state.executor.submit(index, member.genome, member.hash)
        return index

    def _serve(self, index: int, member: Member, generation: int, source: dict) -> None:
        record = self.state.record(member, index, generation, self.state.cached_outcome(source))
        self.state.log(member, record)
        self.ready.append((index, record))

    def next(self) -> tuple[int, Member, dict]:
        """The next completion: replayed from the log, served from the cache, or trained by the executor."""
        state = self.state
        if self.replay:
            index, record = self._replayed()
        elif self.ready:
            index, record = self.ready.popleft()
            self.counts["cached"] += 1
        else:
            index, outcome = state.executor.next_result()
            member, generation = self.in_flight[index]
            record = state.record(member, index, generation, outcome)
            state.log(member, record)
            self.training.discard(member.hash)
            self.counts["evaluated"] += 1
            self.counts["failed"] += record["status"] == "failed"
            state.reporter.evaluation(record, state.objectives.parsed)
            for waiter, twin, twin_generation in self.waiters.pop(member.hash, []):  # served by this evaluation
                self._serve(waiter, twin, twin_generation, record)
        member, _ = self.in_flight.pop(index)
        if member.record is not record:
            state.apply(member, record)
        return index, member, record

    def _replayed(self) -> tuple[int, dict]:
        record = self.replay.popleft()
        self.counts["resumed"] += 1
        expected = self.in_flight.get(record["index"])
        if expected is None or expected[0].hash != record["genome_hash"]:
            raise ConfigError(f"cannot resume {self.state.folder.path} exactly: evaluation {record['index']} in the "
                              f"log is not the genome this run would have chosen (was the log edited, or the run's "
                              f"in_flight changed in config.json?)")
        if record["status"] != "cached":
            self.state.cache.setdefault(record["genome_hash"], record)
        return record["index"], record
