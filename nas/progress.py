"""Console progress of a search: one line per evaluation, one table row per generation."""
from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Iterable, Sequence, TextIO

if TYPE_CHECKING:
    from .data import Dataset
    from .space import SearchSpace


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def _value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) < 1000:
        return f"{value:.4f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


class Reporter:
    """Prints progress to ``stream`` (stdout) when ``verbose``; silent otherwise."""

    def __init__(self, verbose: bool = True, stream: TextIO | None = None) -> None:
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.trained = 0
        self.best: tuple[int, float] | None = None  # (rung, first objective) of the best evaluation so far
        self.current = self.batch_size = self.batch_done = self.population = self.generations = 0
        self.clock = self.batch_clock = self.last_generation = time.perf_counter()
        self.started = self.clock  # of the whole search, for the closing line (a phase restarts clock, for ETAs)
        self.generations_done = 0
        self.header_printed = False
        self.deadline: float | None = None  # time.perf_counter() of the search's time limit: the ETA is at most it

    def _print(self, text: str) -> None:
        if self.verbose:
            print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """One line of information."""
        self._print(f"nas: {text}")

    def start(self, path: str | os.PathLike, space: "SearchSpace", data: "Dataset",
              objectives: Sequence[tuple[str, int]], population: int, generations: int,
              start_generation: int) -> None:
        """Begin a search (or its resumption at ``start_generation``): print the space, data, sizes and goals."""
        self.population, self.generations = population, generations
        self.objectives = objectives
        self.clock = self.started = time.perf_counter()
        self.trained = self.generations_done = 0
        goals = ", ".join(f"{name} ({'min' if sign < 0 else 'max'})" for name, sign in objectives)
        self._print(f"nas: space {space.name!r} ({len(space.genes)} genes) on {data.summary()}")
        self._print(f"nas: population {population} x {generations} generations, objectives: {goals}; run folder "
                    f"{path}" + (f" (resuming at generation {start_generation})" if start_generation else ""))
        self.header_printed = False

    def batch(self, generation: int, generations: int, submitted: int) -> None:
        """Begin a generation's batch of ``submitted`` trainings."""
        self.current, self.batch_size, self.batch_done = generation, submitted, 0
        self.batch_clock = time.perf_counter()
        if submitted:
            self._print(f"generation {generation + 1}/{generations}: training {submitted} genome(s)")

    def promotion(self, rung: int, epochs: int, promoted: int, measured: int) -> None:
        """Successive halving goes on: ``promoted`` of the ``measured`` genomes at the rung below train on to
        ``rung`` (``epochs`` epochs in all)."""
        self.batch_size += promoted
        self._print(f"generation {self.current + 1}: {promoted} of {measured} genome(s) continue to rung {rung} "
                    f"({epochs} epochs)")

    def phase(self, text: str, trainings: int) -> None:
        """Begin ``trainings`` more trainings after the generations (re-evaluation), announced by ``text``."""
        self.batch_size, self.batch_done = trainings, 0
        self.clock, self.trained, self.generations_done = time.perf_counter(), 0, 0  # ETA: this phase alone,
        self.generations = self.current + 1  # no generation after it (a time limit may have stopped the search early)
        self.note(text)

    def _eta(self) -> str:
        """Time left: from the generations measured so far (their promotions and rung lengths included), else from
        the time per evaluation; at most the time to the search's time limit (:attr:`deadline`), which then says
        so."""
        if not self.trained:
            return "?"
        now = time.perf_counter()
        later = self.generations - self.current - 1
        if self.generations_done:
            per_generation = (self.last_generation - self.clock) / self.generations_done
            left = max(0.0, per_generation - (now - self.last_generation)) + per_generation * later
        else:
            left = (now - self.clock) / self.trained * ((self.batch_size - self.batch_done) + self.population * later)
        if self.deadline is not None and self.deadline - now < left:
            return f"{_duration(max(0.0, self.deadline - now))} (time limit)"
        return _duration(left)

    def offer(self, record: dict, sign: int) -> None:
        """Keep ``record`` as the best so far if it ranks above it the way :attr:`nas.Run.best` ranks: a higher rung
        first, then the first objective (``sign`` 1 to maximise, -1 to minimise); failed records are ignored."""
        fitness = record.get("fitness")
        if record.get("status") == "failed" or not fitness or fitness[0] is None:
            return
        rung = int(record.get("rung", 0))
        if self.best is None or (rung, fitness[0] * sign) > (self.best[0], self.best[1] * sign):
            self.best = (rung, fitness[0])

    def evaluation(self, record: dict, objectives: Sequence[tuple[str, int]]) -> None:
        """One line for a finished evaluation: its result, the best so far and the ETA."""
        self.trained += 1
        self.batch_done += 1
        metrics = record["metrics"]
        if record["status"] == "failed":
            result = f"FAILED {record['error']}"
        else:
            shown = [name for name, _ in objectives] + [m for m in ("val_accuracy", "params") if
                                                        m not in [n for n, _ in objectives]]
            result = "ok  " + "  ".join(f"{name}={_value(metrics.get(name))}" for name in shown)
        self.offer(record, objectives[0][1])
        best_text = "" if self.best is None else (f" | best {objectives[0][0]}={_value(self.best[1])}"
                                                  + (f" (rung {self.best[0]})" if self.best[0] else ""))
        rung = f" rung {record['rung']}" if record.get("rung") else ""
        self._print(f"  [gen {self.current + 1}{rung} {self.batch_done}/{self.batch_size}] "
                    f"{record['genome_hash'][:8]}  "
                    f"{result}  {record.get('seconds') or 0:.1f}s{best_text} | ETA {self._eta()}")

    def generation(self, record: dict, generations: int) -> None:
        """One table row for a finished generation (the header before the first)."""
        self.generations_done += 1
        self.last_generation = time.perf_counter()
        names = list(record["stats"])
        if not self.header_printed:
            self._print(self.table_header(names))
            self.header_printed = True
        self._print(self.table_row(record, generations))

    @staticmethod
    def table_header(names: Iterable[str]) -> str:
        """The generation table's header for the statistics ``names``."""
        stats = "  ".join(f"{name + ' min/mean/max':>28}" for name in names)
        return f"{'gen':>7} {'trained':>7} {'cached':>6} {'failed':>6}  {stats}  {'diversity':>9}  {'elapsed':>8}"

    @staticmethod
    def table_row(record: dict, generations: int) -> str:
        """The generation table's row for a generation record."""
        cells = []
        for stats in record["stats"].values():
            cells.append(f"{'-':>28}" if stats is None else
                         f"{_value(stats['min']) + '/' + _value(stats['mean']) + '/' + _value(stats['max']):>28}")
        return (f"{record['generation'] + 1:>3}/{generations:<3} {record['evaluations']:>7} {record['cached']:>6} "
                f"{record['failed']:>6}  {'  '.join(cells)}  {record['diversity']['unique']:>9.2f}  "
                f"{_duration(record['elapsed_seconds']):>8}")

    def finish(self, best: dict | None, reevaluation: dict | None = None) -> None:
        """The closing line: the time taken and the best record (or that none succeeded); after a re-evaluation
        (``reevaluation.json``'s content), ``best`` is its first-ranked genome's record, scored by its mean."""
        if best is None:
            self._print("nas: no genome was evaluated successfully")
            return
        if reevaluation is None:
            score = "fitness [" + ", ".join(_value(v) for v in best["fitness"]) + "]"
        else:
            mean = reevaluation["genomes"][best["genome_hash"]]["mean"]
            score = f"{reevaluation['objective']} {_value(mean)} (mean of {reevaluation['seeds']} seeds, re-evaluated)"
        self._print(f"nas: done in {_duration(time.perf_counter() - self.started)}; best {best['genome_hash']} "
                    f"{score} genome {best['genome']}")
