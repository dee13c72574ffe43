"""Re-evaluation: after the last generation, the top genomes are trained again with other seeds and ranked on the
mean, so that the answer of a search is not the genome that drew the luckiest seed.

Each extra training is an evaluation record (``replicate``: 1, 2, ...; ``replicate_of``: the index of the record
it repeats) at the rung and epochs of the genome's best record. ``reevaluation.json`` then holds, per genome, the
scores, their mean and standard error, and the measured evaluation noise (the pooled standard deviation between
seeds). The ranking compares (rung, mean), as selection compares (rung, score): a genome measured at a higher rung
ranks above one measured only at lower ones whatever the means, which were measured with different epochs. A
resumed run trains only the replicates that are not in the log yet.
"""
from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from ..clock import now
from ..runs.reader import REEVALUATION
from ..training import training_seed
from .operators import lineage

if TYPE_CHECKING:
    from .state import SearchState


def ranking(result: dict, sign: float) -> list[str]:
    """The genomes of ``result["genomes"]`` best first: the higher rung first, then the better mean (``sign`` 1 to
    maximise, -1 to minimise)."""
    genomes = result["genomes"]
    return sorted(genomes, key=lambda h: (-genomes[h]["rung"], -sign * genomes[h]["mean"]))


def summary(scores: dict[str, list[float]]) -> dict:
    """Mean and standard error per genome, and the pooled standard deviation between seeds (evaluation noise)."""
    rows = {h: {"scores": s, "mean": statistics.fmean(s),
                "standard_error": statistics.stdev(s) / math.sqrt(len(s)) if len(s) > 1 else None}
            for h, s in scores.items()}
    variances = [statistics.variance(s) for s in scores.values() if len(s) > 1]
    return {"genomes": rows, "noise_std": math.sqrt(statistics.fmean(variances)) if variances else None}


def reevaluate(state: "SearchState", top: int, seeds: int) -> dict:
    """Train the ``top`` genomes again with ``seeds`` other seeds each; write and return ``reevaluation.json``'s
    content (ranked on the rung, then the mean of the first objective, best first)."""
    chosen = state.top_records(state.read_log(), top)
    logged = {(r["replicate_of"], r["replicate"]): r for r in state.folder.read_evaluations() if "replicate" in r}
    generation = state.generations - 1
    wanted = [(r, k) for r in chosen for k in range(1, seeds + 1)]
    base, state.next_index = state.next_index, state.next_index + len(wanted)  # a resume gives the same indices
    missing = [(base + i, r, k) for i, (r, k) in enumerate(wanted) if (r["index"], k) not in logged]
    if missing:
        state.reporter.phase(f"re-evaluating the top {len(chosen)} genome(s) with {seeds} other seed(s) each "
                            f"({len(missing)} trainings)", len(missing))
    tasks: dict[int, tuple[dict, int]] = {}
    for index, record, replicate in missing:
        tasks[index] = (record, replicate)
        work = {"replicate": replicate, **({"epochs": record["epochs"]} if state.fidelity else {})}
        state.executor.submit(index, record["genome"], record["genome_hash"], work)
    while state.executor.pending:
        index, outcome = state.executor.next_result()
        record, replicate = tasks[index]
        outcome.pop("state", None)
        member = state.member(record["genome"])
        again = state.record(member, index, generation, outcome)
        again.update(rung=record.get("rung", 0), epochs=record.get("epochs"), replicate=replicate,
                     replicate_of=record["index"],
                     training_seed=training_seed(state.seed, record["genome_hash"], state.budget.seeding, replicate),
                     **lineage("reevaluation", [member], member.genome))
        state.folder.append_evaluation(again)
        state.reporter.evaluation(again, state.objectives.parsed)
        logged[record["index"], replicate] = again
    scores = {r["genome_hash"]: [r["fitness"][0]] + [logged[r["index"], k]["fitness"][0] for k in range(1, seeds + 1)
                                                     if logged[r["index"], k]["fitness"][0] is not None]
              for r in chosen}
    result = summary(scores)
    for record in chosen:
        result["genomes"][record["genome_hash"]].update(index=record["index"], rung=record.get("rung", 0))
    result.update(objective=state.objectives.names[0], seeds=seeds + 1, finished=now(),
                  ranking=ranking(result, state.objectives.parsed[0][1]))
    state.folder.write_json(REEVALUATION, result)
    return result
