"""Plots of a run, written to ``<run>/plots/``: fitness per generation, and the Pareto front of a multi-objective
run. The figures are also returned as matplotlib objects (:func:`fitness_figure`, :func:`pareto_figure`) for the run
report (:mod:`nas.workbench`)."""
from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import ConfigError
from .runs import Run
from .runs import RunFolder

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def png_bytes(figure: "Figure", dpi: int = 110) -> bytes:
    """``figure`` as PNG bytes (the figure is closed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return buffer.getvalue()


def _save(figure: "Figure", folder: RunFolder, name: str) -> Path:
    return folder.write_bytes(f"plots/{name}", png_bytes(figure))


def _rungs(axis, run: Run, position: int, fidelity: dict) -> None:
    """Every evaluation of a multi-fidelity run as a point beside its generation, one colour per rung."""
    from .fidelity import Fidelity

    rungs = Fidelity.from_dict(fidelity).rungs
    for number, epochs in enumerate(rungs):
        points = [(r["generation"] + 1 + 0.12 * (number - (len(rungs) - 1) / 2), r["fitness"][position])
                  for r in run.evaluations if r.get("rung", 0) == number and "replicate" not in r
                  and r.get("fitness") and r["fitness"][position] is not None]
        if points:
            axis.scatter(*zip(*points), s=12, alpha=0.7, label=f"rung {number} ({epochs} epochs)")


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fitness_figure(run: Run) -> "Figure":
    """Each objective per generation: the population's min-max band and mean, and the best so far (a matplotlib
    figure; the run needs at least one finished generation)."""
    plt = pyplot()
    objectives = run.objectives
    figure, axes = plt.subplots(1, len(objectives), figsize=(5.5 * len(objectives), 3.8), squeeze=False)
    for axis, objective in zip(axes[0], objectives):
        rows = [(g["generation"] + 1, g["stats"].get(objective)) for g in run.generations]
        rows = [(x, s) for x, s in rows if s]
        xs = [x for x, _ in rows]
        axis.fill_between(xs, [s["min"] for _, s in rows], [s["max"] for _, s in rows], alpha=0.2,
                          label="population min-max")
        axis.plot(xs, [s["mean"] for _, s in rows], "o-", label="population mean")
        best = "max" if not objective.startswith("-") else "min"
        so_far, running = [], None
        for _, stats in rows:
            value = stats[best]
            running = value if running is None else (max(running, value) if best == "max" else min(running, value))
            so_far.append(running)
        axis.plot(xs, so_far, "s--", label="best so far")
        if run.config.get("fidelity"):
            _rungs(axis, run, objectives.index(objective), run.config["fidelity"])
        axis.set_xlabel("generation")
        axis.set_ylabel(objective.lstrip("-") + (" (minimised)" if best == "min" else ""))
        if len(xs) <= 20:
            axis.set_xticks(xs)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"{run.path.name}: {run.config['space']['name']} space, population {run.config['population']}")
    return figure


def pareto_figure(run: Run) -> "Figure":
    """Every successful evaluation on the first two objectives, with the Pareto front (a matplotlib figure)."""
    plt = pyplot()
    objectives = run.objectives
    scored = [r for r in run.evaluations if r.get("status") == "ok" and None not in (r.get("fitness") or [None])]
    front = run.pareto_front
    figure, axis = plt.subplots(figsize=(5.5, 4.2))
    axis.scatter([r["fitness"][1] for r in scored], [r["fitness"][0] for r in scored], s=14, alpha=0.5,
                 label="evaluated")
    ordered = sorted(front, key=lambda i: i.fitness[1])
    axis.plot([i.fitness[1] for i in ordered], [i.fitness[0] for i in ordered], "o-", color="C3",
              label="Pareto front")
    axis.set_xlabel(objectives[1].lstrip("-"))
    axis.set_ylabel(objectives[0].lstrip("-"))
    if objectives[1].lstrip("-") in ("params", "flops"):
        axis.set_xscale("log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


def plot_run(run: Run) -> list[Path]:
    """Write ``plots/fitness.png`` (and ``plots/pareto.png`` for several objectives); return the paths."""
    if not run.generations:
        raise ConfigError(f"{run.path} has no finished generation yet; nothing to plot")
    folder = RunFolder(run.path)
    paths = [_save(fitness_figure(run), folder, "fitness.png")]
    if len(run.objectives) >= 2:
        paths.append(_save(pareto_figure(run), folder, "pareto.png"))
    return paths
