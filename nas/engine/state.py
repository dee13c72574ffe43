"""What every search strategy shares: the run folder's log (which doubles as a cache), records, the hall of fame,
generation records, checkpoints, and restoring all of it after an interruption."""
from __future__ import annotations

import random
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from deap import tools

from ..clock import now
from ..errors import ConfigError
from ..fidelity import Fidelity
from ..objectives import Fitness, Objectives
from ..progress import Reporter
from ..runs.writer import RunFolder, latest_attempts
from ..space import SearchSpace
from ..training import Budget, training_seed
from .admission import Admission
from .config import SearchConfig
from .operators import Member, diversity, lineage as lineage_of, same
from .pace import Pace

if TYPE_CHECKING:
    from ..data import Dataset
    from ..executors import Executor

CHECKPOINT_FORMAT = 1
#: outcome keys copied into an evaluation record when present
OPTIONAL_KEYS = ("traceback", "cached_from", "worker_rss_mb", "queued_seconds", "overhead_seconds", "gpu")
#: the lineage keys of every evaluation record (see :func:`nas.engine.operators.lineage`)
LINEAGE_KEYS = ("parents", "operator", "changed")


@dataclass(frozen=True)
class Rung:
    """The rung an evaluation trains its genome to (0 without fidelity) and, for a promotion, the genome's record
    at the rung below, whose saved training state it continues from."""

    number: int = 0
    lower: dict | None = None


def rung_rank(record: dict) -> int:
    """The rung a record ranks at: its rung, or -1 for a failed evaluation (below any genome that trained)."""
    return -1 if record["status"] == "failed" or record.get("error") else int(record.get("rung", 0))


def machinery_failure(record: dict) -> bool:
    """The evaluation failed through the machinery (timeout, lost node, killed worker), not through its genome."""
    return record.get("status") == "failed" and record.get("failure") == "machinery"


class SearchState:
    """The state of one search in progress; strategies drive it (see :mod:`nas.engine.strategies`)."""

    def __init__(self, config: SearchConfig, space: SearchSpace, data: "Dataset", budget: Budget, executor: "Executor",
                 folder: RunFolder, reporter: Reporter, callbacks: Iterable[Callable[[dict], None]] = ()) -> None:
        self.config, self.space, self.data, self.budget = config, space, data, budget
        self.executor, self.folder, self.reporter, self.callbacks = executor, folder, reporter, list(callbacks)
        self.objectives = Objectives.parse(config.objectives)
        self.settings = config.settings
        self.size, self.generations, self.seed = config.population, config.generations, config.seed
        self.rng = random.Random(self.seed)
        self.fidelity = Fidelity.from_dict(config.fidelity) if config.fidelity else None
        self.admission = Admission(space, data.input_shape, data.num_classes, budget)
        self.next_index = 0
        self.cache: dict[str, dict] = {}        # genome hash -> record that holds its result
        self.seen: set[str] = set()            # hashes known when choosing new genomes (checkpointed implicitly)
        self.logged: dict[int, dict] = {}      # index -> record already in the log (resume)
        self.logged_generations: set[int] = set()
        self.hall = (tools.ParetoFront(similar=same) if self.objectives.multi
                     else tools.HallOfFame(max(1, self.settings.elitism), similar=same))
        self.started = time.perf_counter()
        self.deadline: float | None = None     # time.perf_counter() after which no new work starts (timeout)
        self.timed_out = False
        self.pace = Pace(self.fidelity, budget, len(data.y_train))
        self._reserve = (0, 0.0)               # (logged evaluations it was computed from, seconds): reserve()
        self.epochs_charged = 0                # epochs planned by the evaluations started (config.epoch_budget)
        self.budget_spent = False              # an evaluation did not fit in what was left of the epoch budget

    def out_of_time(self, expected: float = 0.0) -> bool:
        """Whether work expected to take ``expected`` seconds (:attr:`pace`) would end past the search's time limit:
        then it does not start, nor does any later generation, child or promotion. With re-evaluation the search's
        own limit comes earlier, by the time re-evaluating the current top genomes is expected to take
        (:meth:`reserve`), so that the re-evaluated answer is ready by the limit."""
        if self.deadline is not None and not self.timed_out:
            left = self.deadline - self.reserve() - time.perf_counter()
            if left <= expected:
                self.timed_out = True
                if left > 0:
                    self.reporter.note(f"stopping {left:.1f} s before the search's time limit: the next work is "
                                       f"expected to take {expected:.1f} s")
        return self.timed_out

    def evaluation_fits(self, rung: int, genome_hash: str | None = None) -> bool:
        """Whether an evaluation at ``rung`` (of ``genome_hash``, for a promotion) is expected to end before the
        search's time limit (:meth:`out_of_time` with :meth:`Pace.evaluation`)."""
        return not self.out_of_time(self.pace.evaluation(self.cache.values(), rung, genome_hash)
                                    if self.deadline else 0.0)

    def reserve(self) -> float:
        """Seconds the re-evaluation is expected to need after the search (0 without one): the time the current top
        genomes took to reach their rung (:meth:`_from_scratch`), times the seeds, over the executor's capacity;
        computed again only when a new evaluation has been logged."""
        if not self.config.reevaluate:
            return 0.0
        if self._reserve[0] != len(self.cache):
            top = self.top_records(self.cache.values(), self.config.reevaluate["top"])
            seconds = sum(self._from_scratch(record) for record in top) * self.config.reevaluate["seeds"]
            self._reserve = (len(self.cache), seconds / max(1, self.executor.capacity))
        return self._reserve[1]

    def _from_scratch(self, record: dict) -> float:
        """Seconds a training from scratch to ``record``'s epochs takes, as a replicate trains: the record's own and,
        where it continued a lower rung's training, that training's (else its seconds per epoch times its epochs)."""
        below = (self.cache.get(self.key(record["genome_hash"], record.get("rung", 0) - 1))
                 if record.get("continued") else None)
        if below is not None:
            return record["seconds"] + self._from_scratch(below)
        trained = record["metrics"].get("epochs") or record.get("epochs") or 1
        return record["seconds"] * record.get("epochs", trained) / trained

    def top_records(self, records: Iterable[dict], top: int) -> list[dict]:
        """The ``top`` best genomes' records among ``records``, as the search ranks them ((rung, score) with
        fidelity), one per genome; failed ones left out."""
        best: dict[str, Member] = {}
        for record in records:
            if record["status"] == "cached":
                continue
            member = self.member(record["genome"], record)
            known = best.get(member.hash)
            if known is None or member.fitness.wvalues > known.fitness.wvalues:
                best[member.hash] = member
        ranked = [m.record for m in sorted(best.values(), key=Member.ranking, reverse=True) if m.record is not None]
        return [r for r in ranked[:top] if r["fitness"][0] is not None]

    def past_deadline(self) -> bool:
        """Whether the time limit itself has passed (not only the search's earlier one)."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def charge(self, rung: Rung) -> bool:
        """Whether an evaluation at ``rung`` fits in what is left of the run's epoch budget, counting it if it does
        (always True without a budget). It is charged the epochs it plans to train, whatever it then trains: a new
        genome its first rung's epochs (or ``budget.epochs``), a promotion the epochs from the rung below to its
        own. Once one does not fit, :attr:`budget_spent` is set and no more work starts."""
        if self.config.epoch_budget is None:
            return True
        if self.fidelity is None:
            epochs = self.budget.epochs
        else:
            rungs = self.fidelity.rungs
            epochs = rungs[rung.number] - (rungs[rung.number - 1] if rung.number else 0)
        if self.budget_spent or self.epochs_charged + epochs > self.config.epoch_budget:
            self.budget_spent = True
            return False
        self.epochs_charged += epochs
        return True

    # -- members and records -------------------------------------------------------------------------------------
    def member(self, genome: dict, record: dict | None = None, lineage: dict | None = None) -> Member:
        """A population member for ``genome``, scored by ``record`` when given, made as ``lineage`` says (default: a
        random initial genome)."""
        weights = ((1.0,) if self.fidelity else ()) + self.objectives.weights
        member = Member(genome, self.space.hash(genome), Fitness(weights), lineage=lineage or lineage_of("initial"))
        if record is not None:
            self.apply(member, record)
        return member

    def immigrant(self, taken: set[str]) -> Member:
        """A fresh random genome in place of a child (``Settings.immigrants``), new to ``taken``, which gains it."""
        genome = self.admission.random(taken, self.rng)
        taken.add(self.space.hash(genome))
        return self.member(genome, lineage=lineage_of("immigrant"))

    def apply(self, member: Member, record: dict) -> None:
        """Give ``member`` the result in ``record``. With fidelity, the rung comes first in the fitness: a genome
        measured at a higher rung ranks above every genome measured only at lower ones (selection, elites and the
        best all compare (rung, score))."""
        member.record = record
        values = self.objectives.values(record)
        member.fitness.values = ((rung_rank(record),) + values) if self.fidelity else values

    @staticmethod
    def key(genome_hash: str, rung: int) -> str:
        """The cache key of a genome's evaluation at ``rung``: a genome is trained once per rung."""
        return genome_hash if rung == 0 else f"{genome_hash}@{rung}"

    def work(self, member: Member, rung: Rung) -> dict | None:
        """The fitness's keyword arguments for evaluating ``member`` at ``rung`` (None when there are none). With
        fidelity: the epochs to reach, and for a promotion the training state saved at the rung below (trained from
        scratch to the same model when that state is gone). With weight inheritance: keep the trained weights, and
        for a child whose first parent's weights are kept, start from them (``inherit``)."""
        work: dict = {}
        if self.fidelity is not None:
            work.update(epochs=self.fidelity.rungs[rung.number], keep_state=rung.number < self.fidelity.top)
            if rung.lower is not None:
                saved = self.folder.read_training_state(self.key(member.hash, rung.number - 1))
                if saved is not None:
                    work.update(initial_epoch=self.fidelity.rungs[rung.number - 1], state=saved)
        if self.config.inherit:
            work["keep_weights"] = True
            parent = self.parent(member) if rung.lower is None else None
            weights = self.folder.read_weights(parent) if parent is not None else None
            if weights is not None:
                work["inherit"] = weights
        return work or None

    @staticmethod
    def parent(member: Member) -> str | None:
        """The genome hash ``member`` inherits weights from: its first parent, for a child of the genetic operators
        (None for a genome of the first generation)."""
        parents = member.lineage["parents"]
        return parents[0] if parents and member.lineage["operator"] not in ("promotion", "reevaluation") else None

    def take_index(self) -> int:
        """The index of the next evaluation (evaluation order, not completion order)."""
        index, self.next_index = self.next_index, self.next_index + 1
        return index

    def record(self, member: Member, index: int, generation: int, outcome: dict, rung: Rung = Rung(),
               continued: bool = False, inherited_from: str | None = None) -> dict:
        """The log record of one evaluation's ``outcome`` at ``rung`` (``continued``: from the training state of
        the rung below, whose learning curve it extends; ``inherited_from``: the genome whose trained weights it
        started from). With weight inheritance, a promotion and a cache hit say what their source inherited."""
        epochs = self.fidelity.rungs[rung.number] if self.fidelity else self.budget.epochs
        curve = outcome.get("curve") or []
        if continued and rung.lower is not None:
            curve = list(rung.lower.get("curve") or []) + list(curve)
        record = {"index": index, "generation": generation, "genome": member.genome, "genome_hash": member.hash,
                  "fitness": None, "metrics": outcome.get("metrics", {}), "status": outcome["status"],
                  "error": outcome.get("error"), "node": outcome.get("node"), "worker": outcome.get("worker"),
                  "started": outcome.get("started"), "finished": outcome.get("finished"),
                  "seconds": outcome.get("seconds"), "rung": rung.number, "epochs": epochs, "curve": curve,
                  "training_seed": training_seed(self.seed, member.hash, self.budget.seeding),
                  **(lineage_of("promotion", [member], member.genome) if rung.lower is not None else member.lineage)}
        if rung.lower is not None:
            record.update(promoted_from=rung.lower["index"], continued=continued)
        if outcome["status"] == "failed":
            record["failure"] = outcome.get("failure", "genome")
        record.update({key: outcome[key] for key in OPTIONAL_KEYS if key in outcome})
        if self.config.inherit:
            source = rung.lower if rung.lower is not None else {"inherited_from": inherited_from, **outcome}
            record.update(inherited_from=source.get("inherited_from"),
                          inherited_layers=source.get("inherited_layers", 0) if source.get("inherited_from") else 0)
        record["fitness"] = self.objectives.recorded(record)
        return record

    @staticmethod
    def cached_outcome(source: dict) -> dict:
        """The outcome of a genome already evaluated in ``source``: served from the log, not trained again."""
        stamp = now()
        return {"status": "cached", "metrics": source["metrics"], "error": source.get("error"), "node": None,
                "worker": None, "started": stamp, "finished": stamp, "seconds": 0.0, "cached_from": source["index"],
                "curve": source.get("curve"),
                **{key: source[key] for key in ("inherited_from", "inherited_layers") if key in source}}

    def log(self, member: Member, record: dict) -> None:
        """Append ``record`` to the log, cache it (unless it is itself a cache hit) and score ``member``."""
        self.folder.append_evaluation(record)
        if record["status"] != "cached":
            self.cache[self.key(member.hash, record.get("rung", 0))] = record
        self.apply(member, record)

    def rank_in_hall(self, member: Member) -> None:
        """Offer ``member`` to the hall of fame, replacing the copy it holds of the same genome (measured at a lower
        rung before a promotion)."""
        def rung(held: Member) -> int:
            return held.record.get("rung", 0) if held.record else 0

        for position, held in enumerate(self.hall):
            if held.hash == member.hash:
                if rung(member) > rung(held):
                    self.hall.remove(position)
                break
        self.hall.update([member])

    # -- generations ---------------------------------------------------------------------------------------------
    def best_record(self) -> dict | None:
        """The record of the best genome so far (several objectives: the front member best on the first)."""
        if not len(self.hall):
            return None
        if self.objectives.multi:
            return max(self.hall, key=lambda m: m.fitness.wvalues[0]).record
        return self.hall[0].record

    def _stats(self, population: list[Member]) -> dict:
        alive = [m.record for m in population if m.record is not None]
        alive = [r for r in alive if r["status"] != "failed" and not r.get("error")]
        stats = {}
        for position, name in enumerate(self.objectives.names):
            values = [self.objectives.values(r)[position] for r in alive]
            stats[name] = ({"min": min(values), "mean": statistics.fmean(values), "max": max(values),
                            "std": statistics.pstdev(values)} if values else None)
        return stats

    def finish_generation(self, generation: int, population: list[Member], counts: dict,
                          pending: Iterable[Member] = ()) -> None:
        """Log the generation record, checkpoint, drop the kept weights no member or ``pending`` child can inherit
        any more, report and call the callbacks."""
        pending = list(pending)
        best = self.best_record()
        record = {
            "generation": generation, "population": [m.hash for m in population], "stats": self._stats(population),
            "best": {k: best[k] for k in ("index", "genome", "genome_hash", "fitness", "metrics")} if best else None,
            "diversity": diversity(population), "evaluations": counts["evaluated"], "cached": counts["cached"],
            "failed": counts["failed"], "resumed": counts["resumed"],
            "elapsed_seconds": round(time.perf_counter() - self.started, 3), "finished": now(),
        }
        if self.budget_spent and not pending:  # the last record of a search that its epoch budget ended
            record["epoch_budget_spent"] = self.epochs_charged
        if self.objectives.multi:
            record["pareto_front"] = [m.hash for m in self.hall]
        if generation not in self.logged_generations:  # a resumed run may redo a generation logged before a crash
            self.folder.append_generation(record)
        self.checkpoint(generation, population)
        if self.config.inherit:
            self.prune_weights(population, pending)
        self.reporter.generation(record, self.generations)
        for callback in self.callbacks:
            callback(record)

    def prune_weights(self, population: Iterable[Member], pending: Iterable[Member]) -> None:
        """Keep the trained weights of the population and of the pending evaluations' parents only; plus, while a
        resumed run replays its log, those of genomes trained later in the log (an uninterrupted run had not written
        them yet at this point), so that a resumed run inherits exactly what the uninterrupted one did."""
        keep = {m.hash for m in population}
        for member in pending:
            keep.update([member.hash, *member.lineage["parents"][:1]])
        keep.update(r["genome_hash"] for i, r in self.logged.items() if i >= self.next_index and r["status"] == "ok")
        self.folder.prune_weights(keep)

    def checkpoint(self, generation: int, population: list[Member]) -> None:
        """Write the state a resume continues from after ``generation``."""
        def dump(members: Iterable[Member]) -> list[dict]:
            return [{"genome": m.genome, "hash": m.hash, "index": m.record["index"] if m.record else None}
                    for m in members]

        version, state, gauss = self.rng.getstate()
        self.folder.write_checkpoint({
            "format": CHECKPOINT_FORMAT, "generation": generation, "next_index": self.next_index,
            "rng_state": [version, list(state), gauss], "population": dump(population), "hall": dump(self.hall),
            "written": now(),
        })

    # -- resume --------------------------------------------------------------------------------------------------
    def read_log(self) -> list[dict]:
        """Every logged evaluation line in the order written, after noting the logged generations and moving the
        clock back by the time the interrupted process had spent."""
        generations = self.folder.read_generations()
        self.logged_generations = {g["generation"] for g in generations}
        if generations:
            self.started -= generations[-1].get("elapsed_seconds") or 0.0
        return [r for r in self.folder.read_evaluations() if "index" in r and "replicate" not in r]

    def restore(self) -> tuple[int, list[Member] | None]:
        """Rebuild the state after the last checkpointed generation; the log serves every finished evaluation.
        Returns the generation to go on with and its population (None: start from the first generation)."""
        records = latest_attempts(self.read_log())
        by_index = {r["index"]: r for r in records}
        for record in records:
            if record["status"] != "cached":
                self.cache.setdefault(self.key(record["genome_hash"], record.get("rung", 0)), record)
        checkpoint = self._usable_checkpoint(by_index)
        if checkpoint is None:  # replay from the start: the log serves what had finished
            self.logged = by_index
            return 0, None
        version, state, gauss = checkpoint["rng_state"]
        self.rng.setstate((version, tuple(state), gauss))
        self.next_index = checkpoint["next_index"]
        self.logged = {i: r for i, r in by_index.items() if i >= self.next_index}
        self.seen = {r["genome_hash"] for i, r in by_index.items() if i < self.next_index}
        population = [self.member(e["genome"], by_index[e["index"]]) for e in checkpoint["population"]]
        # Inserted worst first, so that members of equal fitness keep their order (and the same elites are picked).
        for entry in reversed(checkpoint["hall"]):
            self.hall.insert(self.member(entry["genome"], by_index[entry["index"]]))
        self.hall.update([self.member(r["genome"], r) for r in records if r.get("attempt", 1) > 1])  # retried
        return checkpoint["generation"] + 1, population

    def _usable_checkpoint(self, by_index: dict[int, dict]) -> dict | None:
        checkpoint = self.folder.read_checkpoint()
        if checkpoint is None:
            return None
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{self.folder.path}: checkpoint format {checkpoint.get('format')} is not supported "
                              f"by this version of nas")
        missing = sorted({e["index"] for e in checkpoint["population"] + checkpoint["hall"]} - set(by_index))
        if missing:
            warnings.warn(f"{self.folder.path}: the checkpoint names evaluations {missing} that are not in the "
                          f"evaluation log; replaying the search from its first generation instead (logged "
                          f"evaluations are not trained again)", stacklevel=4)
            return None
        return checkpoint

    def retry_failed(self) -> int:
        """Train again every logged evaluation that failed through the machinery (timeout, lost node, killed
        worker); each new attempt is logged under the same index and replaces the failed one for every reader.
        Cache hits copied from a retried evaluation are logged again from its new result. Returns the number
        retrained."""
        records = latest_attempts(r for r in self.folder.read_evaluations() if "index" in r and "replicate" not in r)
        failed = {r["index"]: r for r in records if machinery_failure(r)}
        first: dict[str, int] = {}  # genome hash -> the index it is retrained under
        for index, record in failed.items():
            first.setdefault(record["genome_hash"], index)
        if not first:
            return 0
        self.reporter.note(f"training again {len(first)} evaluation(s) that failed through the machinery")
        for record in (failed[i] for i in first.values()):  # a higher rung trains from scratch to its epochs
            work = {"epochs": record["epochs"]} if self.fidelity and "epochs" in record else None
            self.executor.submit(record["index"], record["genome"], record["genome_hash"], work)
        retried: dict[str, dict] = {}
        while self.executor.pending:
            index, outcome = self.executor.next_result()
            retried[failed[index]["genome_hash"]] = self._log_attempt(failed[index], outcome)
        for record in records:  # repeats of a retried genome: failed twins and cache hits of a failed record
            source = retried.get(record["genome_hash"])
            if source is not None and record["index"] != source["index"] and (
                    record["index"] in failed or record.get("cached_from") in failed):
                self._log_attempt(record, self.cached_outcome(source))
        return len(first)

    def _log_attempt(self, previous: dict, outcome: dict) -> dict:
        record = self.record(self.member(previous["genome"]), previous["index"], previous["generation"], outcome,
                             Rung(int(previous.get("rung", 0))))  # a higher rung's retry trains from scratch to it
        record.update({key: previous[key] for key in LINEAGE_KEYS if key in previous})
        if "promoted_from" in previous:
            record.update(promoted_from=previous["promoted_from"], continued=False)
        record["attempt"] = previous.get("attempt", 1) + 1
        self.folder.append_evaluation(record)
        if record["status"] != "cached":
            result = f"FAILED {record['error']}" if record["status"] == "failed" else f"fitness {record['fitness']}"
            self.reporter.note(f"evaluation {record['index']} ({record['genome_hash'][:8]}) again: {result}")
        return record
