"""Dispatch with deduplication, shared by every strategy: a genome already evaluated in the run is served from the
log, one submitted twice at once is trained once, and on resume the logged evaluations come back from the log in
the order they finished, so the search takes the same decisions again without training anything."""
from __future__ import annotations

from collections import deque
from typing import Iterable

from ..errors import ConfigError
from .operators import Member
from .state import Rung, SearchState


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
        # index -> (member, generation, rung, continued from saved training state, genome whose weights it inherits)
        self.in_flight: dict[int, tuple[Member, int, Rung, bool, str | None]] = {}
        self.waiters: dict[str, list[tuple[int, Member, int, Rung]]] = {}  # same genome and rung as one training
        self.ready: deque[tuple[int, dict]] = deque()        # completions known without the executor (cache)
        self.training: set[str] = set()                     # keys submitted to the executor, not back yet
        self.counts = fresh_counts()

    def __len__(self) -> int:
        return len(self.in_flight)

    def submit(self, member: Member, generation: int, rung: Rung = Rung()) -> int:
        """Start evaluating ``member`` at ``rung`` (or serve it from the log); returns its index."""
        state = self.state
        index = state.take_index()
        state.seen.add(member.hash)
        key = state.key(member.hash, rung.number)
        self.in_flight[index] = (member, generation, rung, False, None)
        if index in state.logged:
            return index  # finished before the interruption: its completion comes from the replay
        if key in state.cache:
            self._serve(index, member, generation, rung, state.cache[key])
        elif key in self.training:
            self.waiters.setdefault(key, []).append((index, member, generation, rung))
        else:
            self.training.add(key)
            work = state.work(member, rung)
            self.in_flight[index] = (member, generation, rung, bool(work and "state" in work),
                                     state.parent(member) if work and "inherit" in work else None)
            state.executor.submit(index, member.genome, member.hash, work)
        return index

    def _serve(self, index: int, member: Member, generation: int, rung: Rung, source: dict) -> None:
        record = self.state.record(member, index, generation, self.state.cached_outcome(source), rung)
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
            member, generation, rung, continued, inherited_from = self.in_flight[index]
            key = state.key(member.hash, rung.number)
            saved, weights = outcome.pop("state", None), outcome.pop("weights", None)
            if outcome["status"] == "ok":  # before the record: a logged evaluation has its state and weights kept
                if saved is not None:
                    state.folder.write_training_state(key, saved)
                if weights is not None:
                    state.folder.write_weights(member.hash, weights)
            record = state.record(member, index, generation, outcome, rung, continued, inherited_from)
            state.log(member, record)
            self.training.discard(key)
            self.counts["evaluated"] += 1
            self.counts["failed"] += record["status"] == "failed"
            state.reporter.evaluation(record, state.objectives.parsed)
            for waiter, twin, twin_generation, twin_rung in self.waiters.pop(key, []):  # served by this one
                self._serve(waiter, twin, twin_generation, twin_rung, record)
        member = self.in_flight.pop(index)[0]
        if member.record is not record:
            state.apply(member, record)
        return index, member, record

    def _replayed(self) -> tuple[int, dict]:
        record = self.replay.popleft()
        self.counts["resumed"] += 1
        expected = self.in_flight.get(record["index"])
        if expected is None or expected[0].hash != record["genome_hash"] or \
                expected[2].number != record.get("rung", 0):
            raise ConfigError(f"cannot resume {self.state.folder.path} exactly: evaluation {record['index']} in the "
                              f"log is not the genome this run would have chosen (was the log edited, or the run's "
                              f"in_flight changed in config.json?)")
        if record["status"] != "cached":
            self.state.cache.setdefault(self.state.key(record["genome_hash"], record.get("rung", 0)), record)
        return record["index"], record
