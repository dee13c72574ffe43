"""Small inline SVG charts for the run report: one panel per gene, drawn directly (dozens of matplotlib panels take
seconds to render; these take milliseconds)."""
from __future__ import annotations

import math
from typing import Sequence

from .html import esc

# matplotlib's tab10 and the light half of tab20: up to 20 values per gene get distinct colours
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5")
WIDTH, HEIGHT = 250, 118
LEFT, RIGHT_EDGE, TOP, BOTTOM = 44, 242, 6, 96  # the plot area inside the panel


def _x(position: int, count: int) -> float:
    return LEFT + (RIGHT_EDGE - LEFT) * (position / (count - 1) if count > 1 else 0.5)


def _y(fraction: float) -> float:
    return BOTTOM - (BOTTOM - TOP) * fraction


def _points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def _frame(generations: Sequence[int], low: str, high: str, body: str) -> str:
    first, last = (generations[0] + 1, generations[-1] + 1) if generations else (1, 1)
    return (f'<svg width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="9" font-family="sans-serif">{body}'
            f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT_EDGE - LEFT}" height="{BOTTOM - TOP}" fill="none" '
            f'stroke="#888" stroke-width="0.6"/>'
            f'<text x="{LEFT - 3}" y="{TOP + 7}" text-anchor="end">{esc(high)}</text>'
            f'<text x="{LEFT - 3}" y="{BOTTOM}" text-anchor="end">{esc(low)}</text>'
            f'<text x="{LEFT}" y="{BOTTOM + 11}">{first}</text>'
            f'<text x="{RIGHT_EDGE}" y="{BOTTOM + 11}" text-anchor="end">{last}</text>'
            f'<text x="{(LEFT + RIGHT_EDGE) / 2}" y="{BOTTOM + 20}" text-anchor="middle" fill="#666">generation'
            f'</text></svg>')


def _tick(value: float) -> str:
    """An axis label of at most 7 characters."""
    return f"{value:.1e}" if value and (abs(value) < 0.01 or abs(value) >= 1e5) else f"{value:.3g}"


def stacked(generations: Sequence[int], values: Sequence, table: Sequence[Sequence[float]]) -> str:
    """Shares of each value per generation, stacked to 100%, with a colour legend."""
    count = len(generations)
    xs = [_x(i, count) for i in range(count)]
    below = [0.0] * count
    shapes = []
    for number_, row in enumerate(table):
        above = [b + share for b, share in zip(below, row)]
        outline = _points(xs, [_y(a) for a in above]) + " " + _points(xs[::-1], [_y(b) for b in below[::-1]])
        shapes.append(f'<polygon points="{outline}" fill="{PALETTE[number_ % len(PALETTE)]}" stroke="none"/>')
        below = above
    legend = "".join(f'<span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>{esc(v)} '
                     for i, v in enumerate(values))
    return _frame(generations, "0%", "100%", "".join(shapes)) + f'<div class="legend">{legend}</div>'


def spread(generations: Sequence[int], found: Sequence[tuple[float, float, float] | None], log: bool) -> str:
    """The median (line) and 25-75% band of a numeric gene per generation, on a log scale for a log-float gene."""
    kept = [(i, q) for i, q in enumerate(found) if q is not None]
    if not kept:
        return _frame(generations, "", "", "")
    scale = (lambda v: math.log10(v) if v > 0 else -12.0) if log else (lambda v: v)
    numbers = [scale(v) for _, q in kept for v in q]
    low, high = min(numbers), max(numbers)
    width = (high - low) or 1.0

    def y(value: float) -> float:
        return _y((scale(value) - low) / width)

    count = len(generations)
    xs = [_x(i, count) for i, _ in kept]
    band = _points(xs, [y(q[2]) for _, q in kept]) + " " + _points(xs[::-1], [y(q[0]) for _, q in kept[::-1]])
    body = (f'<polygon points="{band}" fill="#1f77b4" fill-opacity="0.25" stroke="none"/>'
            f'<polyline points="{_points(xs, [y(q[1]) for _, q in kept])}" fill="none" stroke="#1f77b4" '
            f'stroke-width="1.4"/>')
    shown = (10 ** low, 10 ** high) if log else (low, high)
    return (_frame(generations, _tick(shown[0]), _tick(shown[1]), body)
            + '<div class="legend">line: median; band: 25-75%</div>')
