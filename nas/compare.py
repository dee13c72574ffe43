"""Several runs side by side (``nas runs compare``): one summary row per run, and their best-so-far curves against
evaluations and against wall time in one figure.

Each run is compared on its own first objective (the one its search ranks on); when the runs' first objectives differ,
:func:`objective_note` says so.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from .clock import parse
from .errors import ConfigError
from .files import write_atomic
from .runs import Run

COLUMNS = ("run", "algorithm", "objective", "evaluations", "failures", "best", "best genome", "wall time")


@dataclass(frozen=True)
class Curve:
    """A run's best score so far after each scored evaluation (in finishing order), with the evaluation's number
    (1-based, every evaluation counted, failures too) and its finishing time in seconds since the run's first
    evaluation started."""

    evaluations: list[int]
    seconds: list[float]
    best: list[float]


def first_objective(run: Run) -> tuple[str, bool]:
    """The run's first objective without its sign, and whether it is maximised."""
    objective = run.objectives[0]
    return objective.lstrip("-"), not objective.startswith("-")


def wall_seconds(run: Run) -> float | None:
    """Seconds from the first evaluation's start to the last one's end (a resumed run's pauses included); None
    without evaluations."""
    records = [r for r in run.evaluations if r.get("started") and r.get("finished")]
    if not records:
        return None
    start = min(parse(r["started"]) for r in records)
    return (max(parse(r["finished"]) for r in records) - start).total_seconds()


def best_so_far(run: Run) -> Curve:
    """The run's :class:`Curve` on its first objective (re-evaluations with another seed left out)."""
    _, maximised = first_objective(run)
    records = sorted((r for r in run.evaluations if "replicate" not in r and r.get("finished")),
                     key=lambda r: (r["finished"], r["index"]))
    start = min((parse(r["started"]) for r in records if r.get("started")), default=None)
    curve = Curve([], [], [])
    best: float | None = None
    for number, record in enumerate(records, 1):
        score = (record.get("fitness") or [None])[0]
        if record.get("status") == "failed" or score is None or start is None:
            continue
        best = score if best is None else (max(best, score) if maximised else min(best, score))
        curve.evaluations.append(number)
        curve.seconds.append((parse(record["finished"]) - start).total_seconds())
        curve.best.append(best)
    return curve


def summary(run: Run) -> dict:
    """The compare table's row of ``run`` (keys: :data:`COLUMNS`; None where there is nothing yet)."""
    best = run.best
    seconds = wall_seconds(run)
    wall = None if seconds is None else f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"
    return {"run": run.path.name, "algorithm": run.config.get("algorithm", "generational"),
            "objective": run.objectives[0], "evaluations": len(run.evaluations), "failures": len(run.failures),
            "best": best.fitness[0] if best else None, "best genome": best.genome_hash if best else None,
            "wall time": wall}


def objective_note(runs: list[Run]) -> str | None:
    """A line saying the runs are compared on different first objectives, or None when they share one."""
    objectives = [run.objectives[0] for run in runs]
    if len(set(objectives)) == 1:
        return None
    return ("note: the runs have different first objectives, so each is compared on its own: "
            + ", ".join(f"{run.path.name} on {objective}" for run, objective in zip(runs, objectives)))


def load_runs(paths: list[str]) -> list[Run]:
    """The runs to compare (at least two run folders), or a :class:`ConfigError` naming the problem."""
    if len(paths) < 2:
        raise ConfigError(f"compare needs at least two run folders, got {len(paths)}")
    return [Run(path) for path in paths]


def plot_compare(runs: list[Run], out: str | Path) -> Path:
    """Write the best-so-far curves of ``runs`` (against evaluations, and against wall time) to the PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_count, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        curve = best_so_far(run)
        label = f"{run.path.name} ({run.objectives[0]})"
        by_count.step(curve.evaluations, curve.best, where="post", label=label)
        by_time.step(curve.seconds, curve.best, where="post", label=label)
    names = {first_objective(run)[0] for run in runs}
    ylabel = f"best {names.pop() if len(names) == 1 else 'first objective'} so far"
    for axis, xlabel in ((by_count, "evaluations"), (by_time, "wall time (s)")):
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return write_atomic(Path(out), buffer.getvalue(), parents=True)
