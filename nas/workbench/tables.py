"""The run report's sections about single genomes and trials: summary, top-K table with layer summaries, learning
curves, failures, per-worker timeline and links to the run's other outputs."""
from __future__ import annotations

from collections import Counter

from . import analysis, figures
from .html import Page, esc, figure, missing, number, table

MAX_FAILURE_ROWS = 100
ERROR_CHARACTERS = 300
LINKED = (("final", "retrained winner (nas retrain)"), ("explain", "Grad-CAM overlays (nas explain)"),
          ("export", "exported models (nas export)"), ("plots", "plots (nas plot)"))


def summary(page: Page) -> str:
    """The run's state, evaluation counts, its best genome and what the run lacks (drawn after the sections, which
    add to the notes)."""
    run = page.run
    records = run.evaluations
    statuses = Counter(r.get("status") for r in records)
    total = int(run.config.get("generations") or 0)
    state = "finished" if run.finished else f"incomplete: {len(run.generations)} of {total} generations recorded"
    best = run.best
    best_line = ("no successful evaluation yet" if best is None else
                 f'<span class="mono">{esc(best.genome_hash)}</span> (evaluation {best.index}, generation '
                 f"{best.generation + 1}): " + ", ".join(f"{esc(o)} {esc(number(v))}"
                                                        for o, v in zip(run.objectives, best.fitness)))
    rows = [("run folder", f'<span class="mono">{esc(run.path)}</span>'), ("state", esc(state)),
            ("evaluations", esc(f"{len(records)} ({statuses.get('ok', 0)} ok, {statuses.get('cached', 0)} cached, "
                                f"{statuses.get('failed', 0)} failed)")),
            ("best", best_line)]
    notes = "".join(f"<li>{esc(n)}</li>" for n in dict.fromkeys(page.notes))
    return (table([], [(f"<b>{esc(k)}</b>", v) for k, v in rows])
            + (f'<p>Missing or skipped:</p><ul class="notes">{notes}</ul>' if notes else ""))


def top_table(page: Page) -> str:
    """The best ``top_k`` genomes: scores, metrics, genes and each one's layers (built with the run's space)."""
    run = page.run
    top = page.top
    if not top:
        return missing("No successful evaluation yet, so there are no top genomes.")
    layers = page.layers() if page.layers else ["layers not listed (--no-layers)"] * len(top)
    scored = {o.lstrip("-") for o in run.objectives}
    metrics = [m for m in ("params", "flops", "train_seconds") if m not in scored and any(m in i.metrics for i in top)]
    headers = ["rank", "genome", "generation", *run.objectives, *metrics, "genes and layers"]
    rows = []
    for rank, (individual, summary_rows) in enumerate(zip(top, layers), 1):
        genome = ", ".join(f"{k}={v}" for k, v in individual.genome.items())
        rows.append((str(rank), f'<span class="mono">{esc(individual.genome_hash)}</span>',
                     str(individual.generation + 1), *(esc(number(v)) for v in individual.fitness),
                     *(esc(number(individual.metrics.get(m))) for m in metrics),
                     f'<div class="genome">{esc(genome)}</div>{_layers(summary_rows)}'))
    numeric = [0, 2, *range(3, 3 + len(run.objectives) + len(metrics))]
    return (f"<p>The {len(top)} best genomes as the run ranks them (best first; <code>--top-k</code> sets how "
            f"many).</p>" + table(headers, rows, numeric=numeric))


def _layers(found: list[tuple[str, str, str, int]] | str) -> str:
    if isinstance(found, str):
        return f'<div class="edge">{esc(found)}</div>'
    rows = [(esc(name), esc(kind), esc(shape), esc(number(params))) for name, kind, shape, params in found]
    total = sum(params for *_, params in found)
    return (f"<details><summary>{len(found)} layers, {number(total)} parameters</summary>"
            f"{table(['layer', 'type', 'output', 'params'], rows, numeric=[3])}</details>")


def curves(page: Page) -> str:
    """Per-epoch validation (and, where recorded, training) loss and metric of the top genomes."""
    run = page.run
    found = [(f"#{rank} {i.genome_hash[:8]}", analysis.curve(run, i.genome_hash)) for rank, i in enumerate(page.top, 1)]
    found = [(label, entries) for label, entries in found if entries]
    if not found:
        page.notes.append("no learning curves: the records have no per-epoch curve")
        return missing("The top genomes' records have no per-epoch curve (the run predates curves, or has no "
                       "successful evaluation), so there are no learning curves.")
    objective = run.objectives[0].lstrip("-")
    metric = objective[4:] if objective.startswith("val_") else "accuracy"
    trained = any("loss" in e or metric in e for _, entries in found for e in entries)
    note = "" if trained else " The curves hold validation metrics only (this run predates training metrics)."
    if max(len(entries) for _, entries in found) == 1:
        note += " Each genome was trained for one epoch, so each curve is a single point."
    if not trained:
        page.notes.append("learning curves show validation only: the curves have no training loss/accuracy")
    return (f"<p>Solid: validation; dashed: training.{esc(note)}</p>"
            + figure(figures.curves_figure(found, metric), "learning curves"))


def failures(page: Page) -> str:
    """Failed evaluations with their errors, the most common errors first."""
    failed = page.run.failures
    if not failed:
        return "<p>No evaluation failed.</p>"
    counts = Counter(_short(r.get("error")) for r in failed)
    common = table(["failures", "error"], [(str(n), f'<span class="mono">{esc(e)}</span>')
                                           for e, n in counts.most_common(10)], numeric=[0])
    rows = [(str(r.get("index")), str(r.get("generation", -1) + 1), f'<span class="mono">{esc(r.get("genome_hash"))}'
             f'</span>', f'<span class="mono">{esc(_short(r.get("error")))}</span>')
            for r in failed[:MAX_FAILURE_ROWS]]
    more = f" (the first {MAX_FAILURE_ROWS} shown)" if len(failed) > MAX_FAILURE_ROWS else ""
    return (f"<p>{len(failed)} evaluation(s) failed; the most common errors:</p>{common}"
            f"<details><summary>every failure{more}</summary>"
            f"{table(['evaluation', 'generation', 'genome', 'error'], rows, numeric=[0, 1])}</details>")


def _short(error: object) -> str:
    text = str(error or "(no error recorded)").strip()
    return text if len(text) <= ERROR_CHARACTERS else text[:ERROR_CHARACTERS] + "..."


def timeline(page: Page) -> str:
    """A bar per trial from its start to its finish, a row per worker, and each worker's utilisation."""
    found = analysis.timeline(page.run.evaluations)
    if found is None:
        page.notes.append("no trial timeline: the records have no started/finished times or worker")
        return missing("The records have no started/finished times and worker, so there is no trial timeline.")
    rows = [(esc(worker), str(len(found.bars[worker])), number(sum(e - s for s, e, _ in found.bars[worker])),
             f"{found.utilisation[worker]:.0%}") for worker in found.bars]
    shown = (f" (the first {figures.MAX_TIMELINE_WORKERS} workers drawn)"
             if len(found.bars) > figures.MAX_TIMELINE_WORKERS else "")
    return (f"<p>{len(found.bars)} worker(s) over {number(found.span)} s{esc(shown)}. Utilisation: the worker's "
            f"busy time over the whole span, from the first trial's start to the last one's finish.</p>"
            + figure(figures.timeline_figure(found), "trials per worker")
            + table(["worker", "trials", "busy seconds", "utilisation"], rows, numeric=[1, 2, 3]))


def files(page: Page) -> str:
    """Links (relative) to what other commands wrote into the run folder: retrain report, Grad-CAM overlays,
    exported models, plots."""
    items = []
    for folder, what in LINKED:
        path = page.run.path / folder
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        found = [p for p in found if p.suffix in (".md", ".json", ".png", ".keras", ".tflite", ".csv")][:40]
        if found:
            links = ", ".join(page.link(p.relative_to(page.run.path).as_posix()) for p in found)
            items.append(f"<li><b>{esc(what)}</b>: {links}</li>")
    if not items:
        return ("<p>None yet: <code>nas retrain</code>, <code>nas explain</code>, <code>nas export</code> and "
                "<code>nas plot</code> write theirs into the run folder.</p>")
    return f"<ul>{''.join(items)}</ul>"
