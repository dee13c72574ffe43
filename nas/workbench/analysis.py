"""The numbers behind the run report, computed from a :class:`~nas.runs.Run` alone: gene values per generation, gene
importance, the best genome's lineage, learning curves and the per-worker timeline. Nothing here draws or writes."""
from __future__ import annotations

import datetime as _dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..runs import Individual, Run

CATEGORICAL_INT_VALUES = 12  # an integer gene with at most this many values is drawn as shares, not as a median
MIN_IMPORTANCE_GENOMES = 10  # fewer successful genomes than this: no importance estimate at all
TREES = 60  # random-forest size for gene importance: stable rankings at a fraction of a second on 2,000 genomes
# operators that re-measure a genome rather than make it: not where a genome comes from
NOT_ORIGINS = ("promotion", "reevaluation")


def gene_values(gene: dict) -> list | None:
    """The values a gene is drawn as shares of (choice, bool, an integer with few values); None for a number drawn
    as a median and quartiles."""
    kind = gene.get("type")
    if kind == "choice":
        return list(gene["options"])
    if kind == "bool":
        return [False, True]
    if kind == "int" and (gene["high"] - gene["low"]) // gene.get("step", 1) < CATEGORICAL_INT_VALUES:
        return list(range(gene["low"], gene["high"] + 1, gene.get("step", 1)))
    return None


def generation_genomes(run: Run) -> tuple[str, list[tuple[int, list[dict]]]]:
    """What the gene-frequency plots count, and (generation, genomes) pairs: each finished generation's population
    (``generations.jsonl``), or, for records without one, the genomes evaluated in each generation."""
    genomes = {r["genome_hash"]: r["genome"] for r in run.evaluations}
    if run.generations and all("population" in g for g in run.generations):
        return "population", [(g["generation"], [genomes[h] for h in g["population"] if h in genomes])
                              for g in run.generations]
    groups: dict[int, list[dict]] = defaultdict(list)
    for record in run.evaluations:
        if "replicate" not in record:
            groups[record.get("generation", 0)].append(record["genome"])
    return "evaluated", sorted(groups.items())


def shares(name: str, values: list, generations: list[tuple[int, list[dict]]]) -> list[list[float]]:
    """For each value, its share of each generation's genomes (value by generation)."""
    table = []
    for value in values:
        row = []
        for _, genomes in generations:
            same = sum(1 for g in genomes if g.get(name) == value and isinstance(g.get(name), bool) == isinstance(
                value, bool))
            row.append(same / len(genomes) if genomes else 0.0)
        table.append(row)
    return table


def quartiles(name: str, generations: list[tuple[int, list[dict]]]) -> list[tuple[float, float, float] | None]:
    """(25th, 50th, 75th percentile) of a numeric gene in each generation (None where no genome has it)."""
    import numpy as np

    found: list[tuple[float, float, float] | None] = []
    for _, genomes in generations:
        numbers = [float(g[name]) for g in genomes if isinstance(g.get(name), (int, float))]
        low, median, high = np.percentile(numbers, [25, 50, 75]) if numbers else (0.0, 0.0, 0.0)
        found.append((float(low), float(median), float(high)) if numbers else None)
    return found


def _columns(gene: dict, genomes: Sequence[dict]) -> list[list[float]]:
    """A gene's encoded columns: one-hot for an unordered choice, the option's position for an ordered one, 0/1 for a
    bool, log10 for a log-float, the value otherwise; -1 where a genome lacks the gene."""
    name, kind = gene["name"], gene.get("type")
    if kind == "choice" and not gene.get("ordered"):
        return [[1.0 if g.get(name) == option else 0.0 for g in genomes] for option in gene["options"]]
    if kind == "choice":
        options = list(gene["options"])
        return [[float(options.index(g[name])) if g.get(name) in options else -1.0 for g in genomes]]
    if kind == "logfloat":
        return [[math.log10(g[name]) if isinstance(g.get(name), (int, float)) and g[name] > 0 else -1.0
                 for g in genomes]]
    return [[float(g[name]) if isinstance(g.get(name), (int, float)) else -1.0 for g in genomes]]


@dataclass
class Importance:
    """A random-forest estimate of how much each gene explains the first objective over the genomes evaluated."""

    genes: dict[str, float]  # gene -> share of the forest's impurity decrease (sums to 1)
    genomes: int  # how many successful genomes it was fitted on
    oob_r2: float | None  # out-of-bag R^2: how well the forest predicts genomes it did not see


def gene_importance(genes: list[dict], individuals: Sequence[Individual]) -> Importance | None:
    """Impurity importance of each gene for the first objective, summed over a gene's one-hot columns; None with
    fewer than :data:`MIN_IMPORTANCE_GENOMES` genomes or when every genome scored the same."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    scores = [float(i.fitness[0]) for i in individuals]
    if len(individuals) < MIN_IMPORTANCE_GENOMES or len(set(scores)) < 2:
        return None
    genomes = [i.genome for i in individuals]
    owners, columns = [], []
    for gene in genes:
        for column in _columns(gene, genomes):
            owners.append(gene["name"])
            columns.append(column)
    forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, max_features=0.5, random_state=0,
                                   oob_score=True, n_jobs=1)
    forest.fit(np.array(columns).T, np.array(scores))
    summed: dict[str, float] = defaultdict(float)
    for owner, value in zip(owners, forest.feature_importances_):
        summed[owner] += float(value)
    oob = float(forest.oob_score_) if math.isfinite(forest.oob_score_) else None
    return Importance(dict(sorted(summed.items(), key=lambda item: -item[1])), len(individuals), oob)


@dataclass
class Step:
    """One genome on the best genome's line of descent: its record (None when the log lacks it) and the genomes it
    came from."""

    genome_hash: str
    record: dict | None
    other_parents: list["Lineage"] = field(default_factory=list)


@dataclass
class Lineage:
    """A line of descent through first parents, newest first; ``truncated`` when the node cap cut it short."""

    steps: list[Step]
    truncated: bool = False


def has_lineage(run: Run) -> bool:
    """Whether the run's records carry lineage keys (``parents``, ``operator``)."""
    return any("parents" in r for r in run.evaluations)


def origins(run: Run) -> dict[str, dict]:
    """Genome hash -> the record that made the genome (its earliest one that is not a re-measurement)."""
    found: dict[str, dict] = {}
    for record in sorted(run.evaluations, key=lambda r: r["index"]):
        if "replicate" in record or record.get("operator") in NOT_ORIGINS or "parents" not in record:
            continue
        found.setdefault(record["genome_hash"], record)
    return found


def lineage(genome_hash: str, made: dict[str, dict], seen: set[str] | None = None, budget: list[int] | None = None,
            ) -> Lineage:
    """The line of descent of ``genome_hash`` through first parents, each step with the lines of its other parents;
    every ancestor appears once (``seen``) and at most ``budget[0]`` of them in all."""
    seen = set() if seen is None else seen
    budget = [200] if budget is None else budget
    steps: list[Step] = []
    current: str | None = genome_hash
    while current is not None and current not in seen:
        if budget[0] <= 0:
            return Lineage(steps, truncated=True)
        seen.add(current)
        budget[0] -= 1
        record = made.get(current)
        step = Step(current, record)
        steps.append(step)
        parents = list((record or {}).get("parents") or [])
        for other in parents[1:]:
            if other not in seen:
                step.other_parents.append(lineage(other, made, seen, budget))
        current = parents[0] if parents else None
    return Lineage(steps)


def curve(run: Run, genome_hash: str) -> list[dict]:
    """A genome's learning curve: the per-epoch entries of all its records (a promoted genome's continue its
    lower rung's), by epoch."""
    epochs: dict[int, dict] = {}
    for record in sorted(run.evaluations, key=lambda r: (r.get("rung", 0), r["index"])):
        if record["genome_hash"] != genome_hash or "replicate" in record:
            continue
        for entry in record.get("curve") or []:
            if isinstance(entry, dict) and "epoch" in entry:
                epochs[int(entry["epoch"])] = entry
    return [epochs[e] for e in sorted(epochs)]


def _time(text: Any) -> float | None:
    try:
        return _dt.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


@dataclass
class Timeline:
    """Trials per worker as (start, end, ok) seconds since the first start, and each worker's busy share of the
    whole span."""

    bars: dict[str, list[tuple[float, float, bool]]]
    span: float
    utilisation: dict[str, float]


def timeline(records: Sequence[dict]) -> Timeline | None:
    """The trials of ``records`` that have started/finished times and a worker (cached ones trained nothing); None
    when there are none."""
    trials = []
    for record in records:
        start, end = _time(record.get("started")), _time(record.get("finished"))
        if start is None or end is None or not record.get("worker") or record.get("status") == "cached":
            continue
        worker = f"{record['node']}/{record['worker']}" if record.get("node") else str(record["worker"])
        trials.append((worker, start, max(start, end), record.get("status") != "failed"))
    if not trials:
        return None
    first = min(t[1] for t in trials)
    span = max(t[2] for t in trials) - first
    bars: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for worker, start, end, ok in trials:
        bars[worker].append((start - first, end - first, ok))
    busy = {w: sum(end - start for start, end, _ in spans) for w, spans in bars.items()}
    utilisation = {w: (busy[w] / span if span > 0 else 1.0) for w in bars}
    return Timeline(dict(sorted(bars.items())), span, utilisation)

