"""The run report's figures (matplotlib, Agg), each returned as a ``data:image/png;base64`` URI so that the page
needs no other file."""
from __future__ import annotations

import base64
from typing import Any, Sequence

from ..plots import png_bytes, pyplot
from .analysis import Importance, Timeline

DPI = 90
MAX_TIMELINE_WORKERS = 48


def data_uri(figure: Any) -> str:
    """``figure`` as a PNG data URI (the figure is closed)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure, dpi=DPI)).decode("ascii")


def importance_figure(importance: Importance) -> str:
    """A horizontal bar per gene, most important on top."""
    plt = pyplot()
    names = list(importance.genes)[::-1]
    figure, axis = plt.subplots(figsize=(6.5, 0.25 * len(names) + 0.9))
    axis.barh(names, [importance.genes[n] for n in names], color="C0")
    axis.set_xlabel("share of the forest's impurity decrease")
    axis.tick_params(labelsize=8)
    axis.grid(alpha=0.3, axis="x")
    return data_uri(figure)


def curves_figure(curves: Sequence[tuple[str, list[dict]]], metric: str) -> str:
    """Loss and ``metric`` per epoch of each (label, curve): validation solid, training dashed where recorded."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for number, (label, entries) in enumerate(curves):
        colour = f"C{number % 10}"
        epochs = [e["epoch"] for e in entries]
        for axis, name in zip(axes, ("loss", metric)):
            for key, style, suffix in ((f"val_{name}", "-", ""), (name, "--", " (train)")):
                points = [(x, e[key]) for x, e in zip(epochs, entries) if isinstance(e.get(key), (int, float))]
                if points:
                    axis.plot(*zip(*points), style, marker="o", markersize=3, color=colour,
                              label=label if name == metric and not suffix else None)
    epochs = sorted({e["epoch"] for _, entries in curves for e in entries})
    for axis, name in zip(axes, ("loss", metric)):
        if len(epochs) <= 20:
            axis.set_xticks(epochs)
            axis.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        else:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    figure.tight_layout()
    return data_uri(figure)


def timeline_figure(found: Timeline) -> str:
    """A row per worker, a bar per trial from its start to its finish (failed trials in red)."""
    plt = pyplot()
    workers = list(found.bars)[:MAX_TIMELINE_WORKERS]
    figure, axis = plt.subplots(figsize=(11, 0.32 * len(workers) + 1.2))
    for row, worker in enumerate(workers):
        spans = found.bars[worker]
        for ok, colour in ((True, "C0"), (False, "C3")):
            chosen = [(start, max(end - start, found.span / 2000)) for start, end, good in spans if good == ok]
            if chosen:
                axis.broken_barh(chosen, (row - 0.4, 0.8), color=colour, edgecolor="white", linewidth=0.3)
    axis.set_yticks(range(len(workers)))
    axis.set_yticklabels(workers, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("seconds since the first trial started (red: failed)")
    axis.grid(alpha=0.3, axis="x")
    return data_uri(figure)
