"""A run in TensorBoard's HParams dashboard: ``nas tensorboard RUN`` (or the search's ``--tensorboard``) writes event
files under ``RUN/tensorboard/``; view them with ``tensorboard --logdir RUN/tensorboard``.

Layout: ``tensorboard/`` holds the HParams experiment (one hyperparameter per gene, with its domain from the gene's
type, and one metric per numeric metric of the evaluations); ``tensorboard/NNNNN-HASH/`` is one session per
successful evaluation (index NNNNN, genome HASH): its genes as hparams, and its metrics as scalars, at step = the
epochs it trained to, plus the per-epoch values of its learning curve (``curve`` in the record) at their epochs.
Failed evaluations have no session.

Writing is incremental and idempotent: ``tensorboard/written.json`` lists the evaluations already written, so a second
:func:`write` adds only the new ones. The event files are written with ``tf.summary`` writers into the folders
:meth:`nas.runs.RunFolder.tensorboard_dir` gives.

    >>> import nas.tensorboard                                                # doctest: +SKIP
    >>> nas.evolve(..., run_dir="runs/a", callbacks=[nas.tensorboard.TensorBoardCallback("runs/a")])
    >>> nas.tensorboard.write("runs/a")  # what the search logged after its last generation (re-evaluations)
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from .clock import parse
from .runs import Run, RunFolder
from .runs.writer import TENSORBOARD
from .space import Bool, Choice, Float, Gene, Int, LogFloat, gene_from_config

STATE = "written.json"


def session_name(record: Mapping) -> str:
    """The session folder of an evaluation record: ``NNNNN-HASH`` (index, genome hash)."""
    return f"{record['index']:05d}-{record['genome_hash']}"


def _successful(record: Mapping) -> bool:
    return record.get("status") != "failed" and not record.get("error") and bool(record.get("metrics"))


def _numbers(values: Mapping) -> dict[str, float]:
    """The finite numeric entries of ``values`` (bools and None left out) as floats."""
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _value(value: Any) -> bool | int | float | str:
    """A gene value as an HParams value: bools, numbers and strings as they are, anything else as JSON text."""
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _domain(gene: Gene) -> Any:
    """The HParams domain of a gene (None when its options mix types: the hparam is then shown without one)."""
    from tensorboard.plugins.hparams import api as hp

    if isinstance(gene, Bool):
        return hp.Discrete([False, True])
    if isinstance(gene, Int):
        return hp.IntInterval(gene.low, gene.high)
    if isinstance(gene, (Float, LogFloat)):
        return hp.RealInterval(float(gene.low), float(gene.high))
    if isinstance(gene, Choice):
        options = [_value(option) for option in gene.options]
        kinds = {type(option) for option in options}
        if kinds <= {int, float} and float in kinds:
            return hp.Discrete([float(option) for option in options])
        if len(kinds) == 1:
            return hp.Discrete(options)
    return None


def _metric_names(records: Iterable[Mapping]) -> list[str]:
    """The numeric metric and curve names of ``records``, in first-seen order."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(_numbers(record.get("metrics") or {})))
        for point in record.get("curve") or ():
            names.update(dict.fromkeys(k for k in _numbers(point) if k != "epoch"))
    return list(names)


def _read_state(folder: RunFolder) -> dict:
    """What earlier writes recorded (empty when nothing was, or the file is damaged: everything is written again)."""
    path = folder.path / TENSORBOARD / STATE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"sessions": [], "metrics": []}
    return state if isinstance(state, dict) else {"sessions": [], "metrics": []}


def _write_experiment(folder: RunFolder, genes: list[Gene], metrics: list[str]) -> None:
    """The HParams experiment: the genes with their domains and the metrics (validation ones marked so)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams = [hp.HParam(gene.name, _domain(gene)) for gene in genes]
    columns = [hp.Metric(name, dataset_type=hp.Metric.VALIDATION if name.startswith("val_") else None)
               for name in metrics]
    writer = tf.summary.create_file_writer(str(folder.tensorboard_dir(fresh=True)))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=columns)
    writer.close()


def _write_session(folder: RunFolder, record: Mapping, genes: list[Gene]) -> None:
    """One evaluation: its genes as hparams, its curve per epoch and its final metrics as scalars."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    genome = record["genome"]
    values = {gene.name: _value(genome[gene.name]) for gene in genes if gene.name in genome}
    started = parse(record["started"]).timestamp() if record.get("started") else None
    name = session_name(record)
    writer = tf.summary.create_file_writer(str(folder.tensorboard_dir(name, fresh=True)))
    with writer.as_default():
        hp.hparams(values, trial_id=name, start_time_secs=started)
        curved: set[str] = set()
        for point in record.get("curve") or ():
            numbers = _numbers(point)
            step = int(numbers.pop("epoch", 0))
            for metric, value in numbers.items():
                tf.summary.scalar(metric, value, step=step)
                curved.add(metric)
        step = int(record.get("epochs") or (record.get("metrics") or {}).get("epochs") or 0)
        for metric, value in _numbers(record["metrics"]).items():
            if metric not in curved:
                tf.summary.scalar(metric, value, step=step)
    writer.close()


def write(run_dir: str | os.PathLike) -> tuple[int, int]:
    """Write the TensorBoard sessions of the evaluations of ``run_dir`` not written yet (see the module docstring);
    returns (sessions written now, sessions in all)."""
    run = Run(run_dir)
    folder = RunFolder(run.path)
    state = _read_state(folder)
    written = set(state["sessions"])
    successful = [r for r in run.evaluations if _successful(r)]
    new = [r for r in successful if r["index"] not in written]
    if not new:
        return 0, len(written)
    genes = [gene_from_config(gene) for gene in run.config["space"]["genes"]]
    metrics = _metric_names(successful)
    if metrics != state["metrics"]:
        _write_experiment(folder, genes, metrics)
    for record in new:
        _write_session(folder, record, genes)
    written.update(r["index"] for r in new)
    folder.write_json(f"{TENSORBOARD}/{STATE}", {"sessions": sorted(written), "metrics": metrics})
    return len(new), len(written)


class TensorBoardCallback:
    """A search callback (``nas.evolve(..., callbacks=[TensorBoardCallback(run_dir)])``) that writes the TensorBoard
    sessions of the evaluations finished so far after each generation, so that the dashboard fills while the search
    runs. A failed write warns and never stops the search."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)

    def __call__(self, generation: dict) -> None:
        """Write the new evaluations' sessions (``generation`` is the generation record just logged)."""
        try:
            write(self.run_dir)
        except Exception as error:  # noqa: BLE001 - the dashboard must not cost the search
            warnings.warn(f"could not write the TensorBoard files of {self.run_dir}: {error}; try `nas tensorboard "
                          f"{self.run_dir}` later", stacklevel=2)
