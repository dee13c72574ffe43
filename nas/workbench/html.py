"""HTML building blocks of the run report: the :class:`Page` the sections share, escaping, tables, figures and
"missing" notes."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from ..runs import Individual, Run

@dataclass
class Page:
    """What the sections share: the run, the top-K individuals, where links start from, and the notes on what the
    run lacks (shown at the top)."""

    run: Run
    top_k: int
    base: Path  # the folder report.html is written to; links to the run's files are relative to it
    notes: list[str] = field(default_factory=list)
    layers: Callable[[], list] | None = None  # gives the top genomes' layer summaries; None: leave them out

    @cached_property
    def ranked(self) -> list[Individual]:
        """Every successful genome once, best first (:meth:`Run.ranked`, read once per page)."""
        return self.run.ranked()

    @property
    def top(self) -> list[Individual]:
        """The best ``top_k`` genomes, best first."""
        return self.ranked[: self.top_k]

    def link(self, relative: str) -> str:
        """An ``<a>`` to the run's file ``relative``, relative to the page."""
        target = os.path.relpath(self.run.path / relative, self.base)
        return f'<a href="{esc(Path(target).as_posix())}">{esc(relative)}</a>'


def esc(value: Any) -> str:
    """``value`` as HTML text."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """A short, readable form of a metric or setting."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; cells are HTML already (escape text with :func:`esc`), columns ``numeric`` right-aligned; no
    header row when ``headers`` is empty."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    head = f"<thead><tr>{head}</tr></thead>" if head else ""
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def missing(text: str) -> str:
    """A highlighted line saying what the run lacks for a section."""
    return f'<p class="missing">{esc(text)}</p>'


def figure(uri: str, alt: str) -> str:
    """An inline image."""
    return f'<img src="{uri}" alt="{esc(alt)}">'
