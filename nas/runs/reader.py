"""Reading a run folder back: :func:`load_run` and the :class:`Run` / :class:`Individual` records it returns.

Everything is computed from the files, so a run that is still going, finished or crashed reads the same way.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import ConfigError
from ..objectives import Fitness, Objectives
from ..space import space_from_config
from .writer import RunFolder, latest_attempts, read_config

if TYPE_CHECKING:
    import keras
    import pandas

    from ..data import Dataset
    from ..space import SearchSpace

REEVALUATION = "reevaluation.json"  # written by a search with reevaluate=K
FINAL_MODEL = "final/model.keras"  # written by ``nas retrain``
BEST_MODEL = "best/model.keras"  # the search's best genome, saved on first use by Run.model()


@dataclass(frozen=True)
class Individual:
    """One evaluated genome: its genes, fitness (objective order; None for a failed objective) and metrics, as
    measured at ``rung`` after ``epochs`` epochs of training (a multi-fidelity run's highest rung for it), and its
    lineage: the ``parents``' genome hashes (first parent first), the ``operator`` that made it and the genes
    ``changed`` from the first parent (``{gene: [parent's value, value]}``). Runs written before nas recorded
    lineage read as ``()``, None and ``{}``."""

    genome: dict
    genome_hash: str
    fitness: tuple
    metrics: dict
    status: str
    index: int
    generation: int
    rung: int = 0
    epochs: int | None = None
    parents: tuple = ()
    operator: str | None = None
    changed: dict = field(default_factory=dict)
    run: "Run | None" = field(default=None, repr=False, compare=False)

    def build(self, input_shape: Sequence[int] | None = None, num_classes: int | None = None,
              space: "SearchSpace | None" = None) -> "keras.Model":
        """A fresh, uncompiled ``keras.Model`` for this genome (input shape and classes default to the run's)."""
        if self.run is None and (space is None or input_shape is None or num_classes is None):
            raise ConfigError("this individual is not attached to a run: pass space, input_shape and num_classes")
        space = space or self.run.space
        input_shape = tuple(input_shape or self.run.config["input_shape"])
        num_classes = num_classes or len(self.run.config["class_names"])
        return space.build(self.genome, input_shape, num_classes)

    def train(self, data: "Dataset | tuple | dict | str | None" = None, space: "SearchSpace | None" = None) -> "keras.Model":
        """Train this genome as the search did (same data subset, budget, seed and epochs): on the same machine this
        gives back the very model the search scored. ``data`` defaults to the run's recorded dataset."""
        from ..training import Budget, train

        if self.run is None:
            raise ConfigError("this individual is not attached to a run; use nas.training.train() instead")
        config = self.run.config
        data = self.run.dataset(data)
        return train(self.genome, space=space or self.run.space, data=data, budget=Budget.from_dict(config["budget"]),
                     seed=config["seed"], genome_hash=self.genome_hash, epochs=self.epochs)


class Run:
    """A run folder, read back. ``evolve`` returns one; ``nas.load_run(path)`` gives the same for any folder."""

    def __init__(self, path: str | os.PathLike, space: "SearchSpace | None" = None) -> None:
        self.path = Path(path)
        self.config = read_config(self.path)
        self._space = space
        self.refresh()

    def refresh(self) -> "Run":
        """Re-read the logs (for a run that is still going)."""
        folder = RunFolder(self.path)
        self.evaluations: list[dict] = latest_attempts(folder.read_evaluations())
        self.generations: list[dict] = folder.read_generations()
        self.checkpoint: dict | None = folder.read_checkpoint()
        return self

    def __repr__(self) -> str:
        best = self.best
        return (f"Run({str(self.path)!r}, {len(self.evaluations)} evaluations, {len(self.generations)}/"
                f"{self.config.get('generations')} generations, best={best.fitness if best else None})")

    @property
    def run_dir(self) -> Path:
        """The run folder (same as ``path``)."""
        return self.path

    @property
    def objectives(self) -> list[str]:
        """The objectives as recorded (``-`` for minimised ones)."""
        return list(self.config["objectives"])

    @property
    def finished(self) -> bool:
        """Every configured generation has been recorded, or the run's epoch budget ended the search."""
        generations = self.generations
        return len(generations) >= int(self.config.get("generations", 0)) or \
            bool(generations and "epoch_budget_spent" in generations[-1])

    @property
    def complete(self) -> bool:
        """The search is over: :attr:`finished`, and a run that re-evaluates its best genomes has written that too."""
        return self.finished and (not self.config.get("reevaluate") or self.reevaluation is not None)

    def dataset(self, data: "Dataset | tuple | dict | str | None" = None) -> "Dataset":
        """The run's data set: ``data`` coerced (see :func:`nas.data.coerce`) when given, else the recorded one
        rebuilt from ``config.json`` (:func:`nas.data.from_spec`)."""
        from .. import data as data_module

        return data_module.coerce(data) if data is not None else data_module.from_spec(self.config["data"])

    @property
    def space(self) -> "SearchSpace":
        """The run's search space: the one given to ``evolve``, else the built-in space of that name."""
        if self._space is None:
            self._space = space_from_config(self.config["space"])
        return self._space

    def _individual(self, record: dict) -> Individual:
        return Individual(record["genome"], record["genome_hash"], tuple(record["fitness"]), record["metrics"],
                          record["status"], record["index"], record["generation"], record.get("rung", 0),
                          record.get("epochs"), tuple(record.get("parents") or ()), record.get("operator"),
                          dict(record.get("changed") or {}), run=self)

    def _scored(self) -> list[tuple[tuple, dict]]:
        """(signed fitness, record) of every successful evaluation, one per genome: its highest rung's (the first
        such record)."""
        signs = [sign for _, sign in Objectives.parse(self.objectives).parsed]
        top: dict[str, dict] = {}
        for record in self.evaluations:
            fitness = record.get("fitness") or []
            if record.get("status") == "failed" or record.get("error") or None in fitness or not fitness \
                    or "replicate" in record:
                continue
            known = top.get(record["genome_hash"])
            if known is None or record.get("rung", 0) > known.get("rung", 0):
                top[record["genome_hash"]] = record
        return [(tuple(s * v for s, v in zip(signs, r["fitness"])), r) for r in top.values()]

    @property
    def best(self) -> Individual | None:
        """The best evaluated individual (on the first objective for a multi-objective run; earliest on ties). In a
        multi-fidelity run, genomes measured at a higher rung rank above those measured only at lower ones; in a
        run that re-evaluated its top genomes, the best mean over seeds wins (see :attr:`reevaluation`)."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[Individual]:
        """Every successfully evaluated genome once, best first as the search ranks them: the higher rung first (a
        multi-fidelity run), then the first objective, then the earlier evaluation. In a run that re-evaluated its
        top genomes, those come first, in the order of their mean over seeds (:attr:`reevaluation`), so that
        :attr:`best`, ``nas retrain`` (its top K) and the workbench agree on the search's answer."""
        scored = sorted(self._scored(), key=lambda item: (item[1].get("rung", 0), item[0][:1], -item[1]["index"]),
                        reverse=True)
        ranked = [self._individual(record) for _, record in scored]
        reevaluation = self.reevaluation
        if reevaluation:
            genomes = reevaluation["genomes"]
            place = {genomes[h]["index"]: n for n, h in enumerate(reevaluation["ranking"])}
            ranked.sort(key=lambda individual: place.get(individual.index, len(place)))  # stable: the rest keep order
        return ranked

    @property
    def reevaluation(self) -> dict | None:
        """``reevaluation.json``: the top genomes' scores over several seeds (``genomes``: hash -> scores, mean,
        standard_error, index), their ``ranking`` on the mean, and ``noise_std``, the evaluation noise measured as the
        pooled standard deviation between seeds; None when the run did not re-evaluate (or has not yet)."""
        path = self.path / REEVALUATION
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    @property
    def pareto_front(self) -> list[Individual]:
        """Non-dominated evaluated individuals, sorted by the first objective (best first)."""
        scored = self._scored()
        # The fitness is signed already, so every objective is maximised: DEAP's dominance with weights of +1.
        fitness = [Fitness((1.0,) * len(f), f) for f, _ in scored]
        front = [(f, r) for (f, r), own in zip(scored, fitness) if not any(other.dominates(own) for other in fitness)]
        front.sort(key=lambda item: item[0], reverse=True)
        return [self._individual(r) for _, r in front]

    @property
    def population(self) -> list[Individual]:
        """The population of the last checkpointed generation."""
        if not self.checkpoint:
            return []
        by_index = {r.get("index"): r for r in self.evaluations}
        return [self._individual(by_index[m["index"]]) for m in self.checkpoint["population"] if m["index"] in by_index]

    @property
    def failures(self) -> list[dict]:
        """The failed evaluation records."""
        return [r for r in self.evaluations if r.get("status") == "failed"]

    def model_path(self) -> Path | None:
        """The saved model :meth:`model` would load: ``final/model.keras`` (the retrained winner) if it exists, else
        ``best/model.keras`` (the search's best genome, saved by an earlier :meth:`model` call), else None."""
        for relative in (FINAL_MODEL, BEST_MODEL):
            if (self.path / relative).is_file():
                return self.path / relative
        return None

    def model(self) -> "keras.Model":
        """A ``keras.Model`` to predict with, for ``nas explain`` and ``nas serve``.

        The retrained winner (``final/model.keras``) when there is one; otherwise the search's best genome, trained as
        the search trained it and saved to ``best/model.keras`` so the next call only loads it. Saved models are
        loaded in Keras safe mode (no arbitrary code from the file).
        """
        import keras

        path = self.model_path()
        if path is not None:
            try:
                return keras.models.load_model(path, safe_mode=True, compile=False)
            except Exception as error:
                raise ConfigError(f"{path} cannot be loaded ({type(error).__name__}: {error}); delete it to fall "
                                  f"back to the search's best genome, or retrain") from None
        if self.best is None:
            raise ConfigError(f"{self.path} has no successful evaluation yet, so there is no model to use")
        model = self.best.train()
        RunFolder(self.path).save_model(BEST_MODEL, model)
        return model

    def to_dataframe(self) -> "pandas.DataFrame":
        """Every evaluation as one row of a pandas DataFrame (each index's latest attempt; re-evaluations with another
        seed included, with ``replicate`` > 0): genes as ``gene.NAME``, metrics by name, fitness as
        ``fitness.OBJECTIVE``, ``started``/``finished`` as timestamps; see :mod:`nas.runs.table` for every column.
        Needs pandas (``pip install "nas[workbench]"``).

        Example:
            >>> frame = nas.load_run("runs/demo").to_dataframe()                    # doctest: +SKIP
            >>> frame.groupby("gene.optimizer")["val_accuracy"].max()
        """
        from .table import to_dataframe

        return to_dataframe(self.evaluations, self.objectives)

    def genome_sequence(self) -> list[str]:
        """Genome hashes of every evaluation in evaluation order (what reproducibility is judged on)."""
        return [r["genome_hash"] for r in sorted(self.evaluations, key=lambda r: r["index"])]


def load_run(path: str | os.PathLike, space: "SearchSpace | None" = None) -> Run:
    """Read a finished, running or crashed run folder.

    Example:
        >>> run = nas.load_run("runs/demo")                                    # doctest: +SKIP
        >>> run.best.genome, run.best.metrics["val_accuracy"], len(run.evaluations)
    """
    return Run(path, space=space)
