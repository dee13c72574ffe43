"""The run report page: ``report.html``, one self-contained HTML file (figures are inline PNG data URIs; no script,
stylesheet, font or image is fetched from anywhere) that :func:`write_report` writes for ``nas report RUN``.

Each section is drawn on its own: a section whose data the run lacks (an older run folder, a run still going, a run
with no successful evaluation) says what is missing instead, and one that fails to draw says so without costing the
others.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError
from ..files import write_atomic
from ..runs import Run, RunFolder
from .html import Page, esc, missing
from .layers import LayerJob, layer_summaries
from .sections import SECTIONS, summary

REPORT = "report.html"
TOP_K = 10

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#f5f6f8;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:1.55em;margin:0.3em 0 0.1em}h2{font-size:1.2em;margin:0 0 0.5em;border-bottom:1px solid #e3e6eb;
padding-bottom:0.25em}
section{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:14px 18px;margin:16px 0}
nav{font-size:0.9em;margin:6px 0 0}nav a{margin-right:12px;color:#2c5aa0;text-decoration:none}
table{border-collapse:collapse;font-size:0.86em;margin:6px 0}th,td{border-bottom:1px solid #eceef2;padding:3px 9px;
text-align:left;vertical-align:top}th{background:#f0f2f5;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.92em}
.missing{color:#8a5a00;background:#fff7e0;border-left:3px solid #e0a800;padding:6px 10px;margin:6px 0}
.caveat{color:#4a5160;font-size:0.9em;background:#f3f5f9;padding:6px 10px;border-radius:4px}
.notes li{color:#8a5a00}details{margin:2px 0}summary{cursor:pointer}
ul.lineage{list-style:none;padding-left:16px;border-left:2px solid #cdd3dc;margin:4px 0}
ul.lineage li{margin:3px 0}.edge{color:#5b6475;font-size:0.88em}.best{font-weight:600}
.genome{font-size:0.82em;color:#4a5160;max-width:420px}
.genes{display:flex;flex-wrap:wrap;gap:10px 14px}.gene{width:250px;font-size:0.85em}.gene svg{display:block}
.legend{font-size:0.8em;color:#4a5160}.swatch{display:inline-block;width:9px;height:9px;margin:0 2px 0 4px;
vertical-align:middle}
"""



def _guarded(page: Page, title: str, draw: Callable[[Page], str]) -> str:
    try:
        return draw(page)
    except Exception as error:  # a section that cannot be drawn must not cost the page the others
        page.notes.append(f"{title}: could not be drawn ({type(error).__name__}: {error})")
        return missing(f"This section could not be drawn: {type(error).__name__}: {error}")


def render(run: Run, top_k: int = TOP_K, base: Path | None = None, notes: Sequence[str] = (),
           layers: bool | LayerJob = True) -> str:
    """The report page of ``run`` as HTML text; links to the run's files are relative to ``base`` (default: the
    run folder). ``layers``: list the top genomes' layers (built in this process, or by a :class:`LayerJob` already
    started), or leave them out (False)."""
    page = Page(run, top_k, Path(base or run.path), list(notes))
    if isinstance(layers, LayerJob):
        page.layers = layers.result
    elif layers:
        page.layers = lambda: layer_summaries(run, page.top)
    drawn = []
    for anchor, title, draw in SECTIONS:
        body = _guarded(page, title, draw)
        if body:
            drawn.append((anchor, title, body))
    nav = "".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title, _ in drawn)
    sections = "".join(f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>' for anchor, title, body in drawn)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>nas report: {esc(run.path.name)}</title><style>{STYLE}</style></head><body><main>"
            f"<h1>Search report: {esc(run.path.name)}</h1><nav>{nav}</nav>"
            f"<section id=\"summary\">{summary(page)}</section>{sections}</main></body></html>\n")


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, top_k: int = TOP_K,
                 layers: bool = True) -> Path:
    """Write the report page of the run folder ``run_dir`` to ``out`` (default ``RUN/report.html``); return its
    path. ``layers=False`` leaves out the top genomes' layer summaries (which need Keras: most of the time a report
    takes). A folder that is not a run folder raises :class:`~nas.errors.ConfigError`; anything else the run lacks
    is said on the page."""
    if top_k < 1:
        raise ConfigError(f"top_k must be at least 1, got {top_k}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = Run(run_dir)
        except (KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{run_dir}: evaluations.jsonl is not in the run-folder format (a record lacks or "
                              f"mangles {error}); the run folder is damaged") from None
    notes = [str(w.message) for w in caught]
    top = [i.genome_hash for i in run.ranked()[:top_k]]
    job = LayerJob(run.path, top) if layers and top else False  # builds while the figures are drawn
    target = Path(out) if out is not None else run.path / REPORT
    text = render(run, top_k, target.resolve().parent, notes, job)
    if out is None:
        return RunFolder(run.path).write_bytes(REPORT, text.encode("utf-8"))
    return write_atomic(target, text.encode("utf-8"), parents=True)
