"""A run's evaluations as one pandas DataFrame (:meth:`nas.Run.to_dataframe`).

pandas is an optional dependency (``pip install "nas[workbench]"``): it is imported only when a table is asked for.

Columns, in this order (those in brackets only when some record has them):

* ``index``, ``generation``, ``genome_hash``, ``status``, ``error``
* [``rung``, ``epochs``] of a multi-fidelity or epoch-recording run
* ``replicate`` (0 for an ordinary evaluation, 1, 2, ... for a re-evaluation with another seed) and
  ``replicate_of`` (the index of the evaluation re-trained; missing otherwise)
* ``fitness.NAME`` per objective, named by the objective without its ``-`` sign (the recorded value, not negated)
* every metric by its own name (``val_accuracy``, ``val_loss``, ``params``, ``flops``, ``train_seconds``, ...)
* ``gene.NAME`` per gene of the run's genomes (prefixed, so that a gene never clashes with a metric)
* ``started``, ``finished`` (pandas timestamps, UTC), ``seconds``, ``worker``, ``node``, ``training_seed``
* [``parents``, ``operator``] of a run that records lineage
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..errors import ConfigError

if TYPE_CHECKING:
    import pandas

INSTALL = 'pip install "nas[workbench]"'
HEAD = ("index", "generation", "genome_hash", "status", "error")
OPTIONAL_HEAD = ("rung", "epochs")
TAIL = ("started", "finished", "seconds", "worker", "node", "training_seed")
LINEAGE = ("parents", "operator")


def require_pandas() -> Any:
    """The pandas module, or a :class:`ConfigError` saying how to install it."""
    try:
        import pandas
    except ImportError:
        raise ConfigError(f"a run's table needs pandas, an optional dependency: {INSTALL}") from None
    return pandas


def _ordered_union(dicts: Iterable[dict]) -> list[str]:
    """The keys of ``dicts`` in first-seen order."""
    seen: dict[str, None] = {}
    for value in dicts:
        seen.update(dict.fromkeys(value))
    return list(seen)


def to_dataframe(records: list[dict], objectives: list[str]) -> "pandas.DataFrame":
    """One row per evaluation record (see the module's docstring for the columns)."""
    pandas = require_pandas()
    metric_names = _ordered_union(r.get("metrics") or {} for r in records)
    gene_names = _ordered_union(r.get("genome") or {} for r in records)
    fitness_names = [f"fitness.{name.lstrip('-')}" for name in objectives]
    head = [*HEAD, *(k for k in OPTIONAL_HEAD if any(k in r for r in records)), "replicate", "replicate_of"]
    metric_names = [m for m in metric_names if m not in head]
    lineage = [k for k in LINEAGE if any(k in r for r in records)]
    rows = []
    for record in records:
        row = dict(record.get("metrics") or {})
        row.update((key, record.get(key)) for key in head)
        row["replicate"] = record.get("replicate", 0)
        fitness = record.get("fitness") or []
        row.update((name, fitness[i] if i < len(fitness) else None) for i, name in enumerate(fitness_names))
        row.update((f"gene.{k}", v) for k, v in (record.get("genome") or {}).items())
        row.update((key, record.get(key)) for key in (*TAIL, *lineage))
        rows.append(row)
    columns = [*head, *fitness_names, *metric_names, *(f"gene.{g}" for g in gene_names), *TAIL, *lineage]
    frame = pandas.DataFrame.from_records(rows, columns=columns)
    for key in ("started", "finished"):
        frame[key] = pandas.to_datetime(frame[key], utc=True, format="ISO8601")
    frame["replicate_of"] = frame["replicate_of"].astype("Int64")
    return frame
