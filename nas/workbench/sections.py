"""The run report's sections about the search as a whole: configuration, progress, Pareto front, gene frequencies,
gene importance and the best genome's lineage. Each takes the :class:`~nas.workbench.html.Page` and returns HTML
("" leaves the section out)."""
from __future__ import annotations

import json
from typing import Callable

from . import analysis, figures, svg
from .html import Page, esc, figure, missing, number, table
from .tables import curves, failures, files, summary, timeline, top_table

__all__ = ["SECTIONS", "summary"]


def configuration(page: Page) -> str:
    """The settings the run recorded: space, data, objectives, budget, algorithm, seed, executor, versions."""
    config = page.run.config
    space = config.get("space") or {}
    genes = space.get("genes") or []
    rows = [("space", f"{esc(space.get('name', '?'))} ({len(genes)} genes)"),
            ("data", _json(config.get("data"))),
            ("input", esc(" x ".join(map(str, config.get("input_shape") or [])) or "-")
             + f", {len(config.get('class_names') or [])} classes"),
            ("objectives", esc(", ".join(page.run.objectives))),
            ("budget", _json(config.get("budget"))),
            ("population x generations", esc(f"{config.get('population', '?')} x {config.get('generations', '?')}")),
            ("algorithm", esc(config.get("algorithm", "generational (not recorded)"))
             + (f"; operators {_json(config['operators'])}" if config.get("operators") else "")),
            ("fidelity", _json(config.get("fidelity")) if config.get("fidelity") else "none"),
            ("seed", esc(config.get("seed", "-"))),
            ("executor", _json(config.get("executor"))),
            ("created", esc(config.get("created", "-"))),
            ("versions", esc(", ".join(f"{k} {v}" for k, v in (config.get("versions") or {}).items())
                             or f"nas {config.get('nas_version', '?')} (other versions not recorded)"))]
    gene_rows = [(esc(g.get("name")), esc(g.get("type")), _json({k: v for k, v in g.items() if k not in
                                                                ("name", "type")})) for g in genes]
    return (table([], [(f"<b>{esc(k)}</b>", v) for k, v in rows])
            + f"<details><summary>the {len(genes)} genes</summary>{table(['gene', 'type', 'range'], gene_rows)}"
              "</details>")


def _json(value: object) -> str:
    return f'<span class="mono">{esc(json.dumps(value, separators=(", ", ": ")))}</span>'


def progress(page: Page) -> str:
    """Best so far and the population's spread per generation (:func:`nas.plots.fitness_figure`)."""
    from ..plots import fitness_figure

    run = page.run
    if not run.generations:
        page.notes.append("no generation has finished yet: no progress plot")
        return missing("No generation has finished yet (generations.jsonl is empty), so there is no progress to "
                       "plot.")
    rows = [(str(g["generation"] + 1), *(number((g.get("stats") or {}).get(o, {}).get(k)) for o in run.objectives
                                         for k in ("min", "mean", "max")),
             number(g.get("evaluations")), number(g.get("failed"))) for g in run.generations]
    headers = ["generation", *(f"{o} {k}" for o in run.objectives for k in ("min", "mean", "max")), "evaluated",
               "failed"]
    return (figure(figures.data_uri(fitness_figure(run)), "fitness per generation")
            + f"<details><summary>per-generation statistics</summary>"
              f"{table(headers, rows, numeric=range(len(headers)))}</details>")


def pareto(page: Page) -> str:
    """The Pareto front on the first two objectives (left out for a single objective)."""
    from ..plots import pareto_figure

    run = page.run
    if len(run.objectives) < 2:
        return ""
    front = run.pareto_front
    if not front:
        return missing("No successful evaluation yet, so there is no Pareto front.")
    rows = [(f'<span class="mono">{esc(i.genome_hash)}</span>', *(number(v) for v in i.fitness)) for i in front]
    extra = (f"<p>Plotted on the first two objectives; the front is computed on all {len(run.objectives)}.</p>"
             if len(run.objectives) > 2 else "")
    return (figure(figures.data_uri(pareto_figure(run)), "Pareto front") + extra
            + f"<details><summary>the {len(front)} genomes of the front</summary>"
              f"{table(['genome', *run.objectives], rows, numeric=range(1, len(run.objectives) + 1))}</details>")


def genes(page: Page) -> str:
    """Which gene values took over: shares per generation, or the median and quartiles of numeric genes."""
    genes = (page.run.config.get("space") or {}).get("genes") or []
    counted, generations = analysis.generation_genomes(page.run)
    generations = [(g, genomes) for g, genomes in generations if genomes]
    if not genes or not generations:
        return missing("No genomes recorded yet, so there are no gene frequencies.")
    what = ("each finished generation's population" if counted == "population"
            else "the genomes evaluated in each generation (the records name no population)")
    numbers = [g for g, _ in generations]
    panels = []
    for gene in genes:
        values = analysis.gene_values(gene)
        if values is not None:
            chart = svg.stacked(numbers, values, analysis.shares(gene["name"], values, generations))
        else:
            chart = svg.spread(numbers, analysis.quartiles(gene["name"], generations), gene.get("type") == "logfloat")
        panels.append(f'<div class="gene"><b>{esc(gene["name"])}</b>{chart}</div>')
    return (f"<p>Counted over {esc(what)}. Choice, bool and small integer genes: share of each value (stacked); "
            f'other numbers: median and 25-75% band.</p><div class="genes">{"".join(panels)}</div>')


def importance(page: Page) -> str:
    """A random forest's estimate of which genes explain the first objective, with its caveats."""
    run = page.run
    genes = (run.config.get("space") or {}).get("genes") or []
    ranked = page.ranked
    objective = run.objectives[0].lstrip("-")
    found = analysis.gene_importance(genes, ranked)
    if found is None:
        page.notes.append(f"gene importance needs {analysis.MIN_IMPORTANCE_GENOMES} successful genomes with "
                          f"different scores; the run has {len(ranked)}")
        return missing(f"Gene importance needs at least {analysis.MIN_IMPORTANCE_GENOMES} successful genomes with "
                       f"different {objective} values; this run has {len(ranked)}.")
    fit = (f"out-of-bag R² {found.oob_r2:.2f} (how well the forest predicts genomes it was not fitted on; near 0 or "
           f"below means the estimate explains little)" if found.oob_r2 is not None else "no out-of-bag estimate")
    caveat = (f"A random forest ({analysis.TREES} trees) fitted to predict {esc(objective)} from the genes of the "
              f"{found.genomes} successful genomes; {esc(fit)}. This is correlational: it says which genes the score "
              f"varied with among the genomes the search happened to sample (a search that converged early sampled "
              f"some genes little), not what changing a gene would do. Impurity importance favours genes with many "
              f"distinct values, and with few evaluations (under a few hundred) it is unreliable.")
    return f'<p class="caveat">{caveat}</p>' + figure(figures.importance_figure(found), "gene importance")


def lineage(page: Page) -> str:
    """The best genome's ancestry through ``parents``, with the operator and changed genes on each edge."""
    run = page.run
    best = run.best
    if best is None:
        return missing("No successful evaluation yet, so there is no best genome to trace.")
    if not analysis.has_lineage(run):
        page.notes.append("this run predates lineage records (no parents/operator keys): no lineage tree")
        return missing("This run predates lineage records: its evaluations have no parents/operator keys, so the "
                       "best genome's ancestry cannot be traced.")
    made = analysis.origins(run)
    tree = analysis.lineage(best.genome_hash, made)
    return ("<p>First parents down the line (newest first), other parents folded under the genome they were "
            "crossed into. Each line: generation, genome, first objective, then how it was made from its first "
            "parent.</p>" + _line(tree, run.objectives[0], best.genome_hash))


def _line(found: analysis.Lineage, objective: str, best: str) -> str:
    items = []
    for step in found.steps:
        record = step.record or {}
        score = (record.get("fitness") or [None])[0]
        head = (f'<span class="{"best" if step.genome_hash == best else ""}">generation '
                f'{esc(record.get("generation", -1) + 1) if record else "?"} <span class="mono">'
                f'{esc(step.genome_hash)}</span> {esc(objective)} {esc(number(score))}</span>')
        items.append(f"<li>{head} {_edge(record)}" + "".join(
            f"<details><summary>other parent <span class=\"mono\">{esc(other.steps[0].genome_hash)}</span>"
            f"</summary>{_line(other, objective, best)}</details>" for other in step.other_parents if other.steps)
            + "</li>")
    if found.truncated:
        items.append("<li class=\"edge\">... further ancestors not shown</li>")
    return f'<ul class="lineage">{"".join(items)}</ul>'


def _edge(record: dict) -> str:
    if not record:
        return '<span class="edge">(no record of how this genome was made)</span>'
    operator = record.get("operator", "?")
    changed = record.get("changed") or {}
    shown = ", ".join(f"{esc(gene)}: {esc(number(values[0]))} → {esc(number(values[1]))}"
                      for gene, values in changed.items() if isinstance(values, (list, tuple)) and len(values) == 2)
    return f'<span class="edge">← {esc(operator)}{": " + shown if shown else ""}</span>'


SECTIONS: list[tuple[str, str, Callable[[Page], str]]] = [
    ("configuration", "Configuration", configuration),
    ("progress", "Progress per generation", progress),
    ("pareto", "Pareto front", pareto),
    ("genes", "Gene frequencies per generation", genes),
    ("importance", "Gene importance", importance),
    ("lineage", "Lineage of the best genome", lineage),
    ("top", "Top genomes", top_table),
    ("curves", "Learning curves", curves),
    ("failures", "Failures", failures),
    ("timeline", "Trials per worker", timeline),
    ("files", "Other outputs", files),
]
