"""What every peer adapter shares: genomes from a tool's values, training exactly as a nas evaluation, the ledger.

A :class:`Trainer` is the bridge between a tool's trial and ``nas``: it turns the values the tool proposed into a
genome of the space (each gene's nearest value, then the space's repair for the input shape), admits it under
``Budget.max_params`` and ``Budget.max_flops`` as ``nas.evolve`` does, builds it seeded by (seed, genome hash) and
trains it with :func:`nas.training.fit` on the same training subset, batch size and class weights, and scores it with
:func:`nas.training.score` on the same validation subset. Every training it runs goes in :attr:`Trainer.trials`, so
the epochs a tool really spent are counted, not estimated.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..data import coerce
from ..engine.admission import Admission
from ..errors import ConfigError, InvalidGenomeError, NasError
from ..space import SearchSpace, genome_hash, resolve_space
from ..flops import model_flops
from ..training import Budget, NaNLossError, fit, score
from ..training import build as build_model

if TYPE_CHECKING:
    import keras

    from ..data import Dataset

#: the objectives a peer may maximise (both in [0, 1], so a failed genome scores 0.0, the worst possible value)
OBJECTIVES = ("val_accuracy", "val_balanced_accuracy")

#: the command that installs the peer tools
INSTALL = 'pip install "nas[peers]"'


class BudgetSpent(NasError):
    """The trainer's epoch limit is spent: no new trial starts (the one running when it ran out finishes)."""


def missing(tool: str, error: ImportError) -> ImportError:
    """The one-line ImportError an adapter raises when its tool is not installed: it names the extra."""
    return ImportError(f"{tool} is not installed ({error}); {INSTALL} installs the peer tools")


def genome_from(space: SearchSpace, values: Mapping[str, Any]) -> dict:
    """The genome of ``space`` whose genes take the nearest values to a tool's ``values`` (one per gene, dormant
    genes included); raises :class:`InvalidGenomeError` naming the genes that are missing or have no near value."""
    absent = [gene.name for gene in space.genes if gene.name not in values]
    if absent:
        raise InvalidGenomeError(f"the tool proposed no value for genes {absent} of space {space.name!r}")
    genome = {gene.name: gene.nearest(values[gene.name]) for gene in space.genes}
    space.check(genome)
    return genome


class Trainer:
    """Trains the genomes a peer tool proposes exactly as ``nas.evolve`` trains its own, and records each training.

    Args:
        space: a :class:`nas.SearchSpace` or the name of a built-in one.
        data: what ``nas.evolve`` takes as data: a :class:`nas.data.Dataset`, an ``(x, y)`` pair, a spec dict or a
            name such as "digits" (the same split and subsets as a search on it).
        budget: ``epochs`` is the training length of a trial whose tool does not choose one; ``max_train_samples``,
            ``max_val_samples``, ``max_params``, ``max_flops`` and ``class_weighted`` apply as in a search.
        seed: the search seed; training is seeded by (seed, genome hash) and the subsets by ``seed``, as in nas.
        objective: ``val_accuracy`` or ``val_balanced_accuracy`` (maximised; a failed genome scores 0.0).
        max_epochs: stop starting trials once this many epochs were trained in all (None: no limit). A trial started
            within the limit finishes, so the total can pass it by at most one trial.
        tool: the name recorded with each trial.
    """

    def __init__(self, space: SearchSpace | str, data: "Dataset | tuple | dict | str", budget: Budget = Budget(), *,
                 seed: int = 0, objective: str = "val_accuracy", max_epochs: int | None = None,
                 tool: str = "peer") -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective {objective!r}: a peer maximises one of {', '.join(OBJECTIVES)}")
        if max_epochs is not None and max_epochs < 1:
            raise ConfigError(f"max_epochs must be a positive number of epochs or None, got {max_epochs!r}")
        self.space = resolve_space(space)
        self.data = coerce(data)
        self.budget = budget.for_data(self.data)
        self.seed, self.objective, self.max_epochs, self.tool = seed, objective, max_epochs, tool
        self.admission = Admission(self.space, self.data.input_shape, self.data.num_classes, self.budget)
        self.trials: list[dict] = []

    @property
    def epochs(self) -> int:
        """Epochs trained in all trials so far (continuations count only their own epochs)."""
        return sum(trial["epochs"] for trial in self.trials)

    @property
    def spent(self) -> bool:
        """Whether the epoch limit is reached."""
        return self.max_epochs is not None and self.epochs >= self.max_epochs

    def genome(self, values: Mapping[str, Any]) -> dict:
        """The genome a tool's ``values`` stand for, repaired for the data's input shape (see :func:`genome_from`)."""
        return self.space.repair(genome_from(self.space, values), self.data.input_shape)

    def admit(self, values: Mapping[str, Any]) -> dict | None:
        """The genome a tool's ``values`` stand for (see :meth:`genome`), or None when the space cannot make one:
        then the rejection is recorded, and the tool should get the worst score, 0.0."""
        try:
            return self.genome(values)
        except InvalidGenomeError as error:
            self.trials.append(self._record(values, 0, 0, {}, "rejected", str(error), time.perf_counter(),
                                            key=genome_hash(dict(values))))
            return None

    def start(self, genome: Mapping) -> "keras.Model | None":
        """The compiled model a trial of ``genome`` trains, or None when the genome is rejected (over
        ``max_params`` or ``max_flops``) or fails to build (both recorded, with no epoch spent). Raises
        :class:`BudgetSpent` once the epoch limit is reached."""
        if self.spent:
            raise BudgetSpent(f"{self.tool}: the limit of {self.max_epochs} training epochs is spent")
        problem = self.admission.problem(dict(genome))
        if problem is not None:
            self.trials.append(self._record(genome, 0, 0, {}, "rejected", problem, time.perf_counter()))
            return None
        clock = time.perf_counter()
        try:
            return build_model(genome, space=self.space, data=self.data, budget=self.budget, seed=self.seed)
        except Exception as failure:  # noqa: BLE001 - a genome that fails to build scores 0.0, as in a nas search
            self.trials.append(self._record(genome, 0, 0, {}, "failed", f"{type(failure).__name__}: {failure}"[:500],
                                            clock))
            return None

    def train(self, model: "keras.Model", genome: Mapping, *, epochs: int | None = None, initial_epoch: int = 0,
              on_epoch: Callable[[int, dict], bool] | None = None, callbacks: Sequence = ()) -> dict:
        """Train ``model`` from ``initial_epoch`` to ``epochs`` (default ``budget.epochs``), score it and record the
        trial; never raises for a failure of training or scoring (the score is then 0.0 and the status "failed").

        ``on_epoch(epoch, metrics)`` (if given) sees the validation metrics after each epoch (also written into the
        Keras logs, where Keras Tuner's checkpointing reads them) and returns True to stop training there (a pruned
        trial). ``callbacks`` are Keras callbacks run after the scoring. Returns the metrics of the last epoch
        trained (with the model's ``params`` and ``flops``, for a tool that minimises them too), with ``status``
        ("ok", "failed" or "pruned").
        """
        import keras

        clock, epochs = time.perf_counter(), self.budget.epochs if epochs is None else epochs
        state: dict[str, Any] = {"metrics": {self.objective: 0.0}, "pruned": False}

        class Score(keras.callbacks.Callback):
            def on_epoch_end(inner, epoch: int, logs: dict | None = None) -> None:  # noqa: N805 - closes over self
                state["metrics"] = score(inner.model, self.data, self.budget, self.seed)
                (logs if logs is not None else {}).update(state["metrics"])
                if on_epoch is not None and on_epoch(epoch + 1, state["metrics"]):
                    state["pruned"] = inner.model.stop_training = True

        info: dict = {}
        status, error = "ok", None
        try:
            fit(model, genome, data=self.data, budget=self.budget, seed=self.seed, epochs=epochs,
                initial_epoch=initial_epoch, callbacks=[Score(), *callbacks], info=info)
        except Exception as failure:  # noqa: BLE001 - as in a nas evaluation, a genome's failure only scores it 0.0
            message = str(failure) if isinstance(failure, NaNLossError) else f"{type(failure).__name__}: {failure}"
            status, error, state["metrics"] = "failed", message[:500], {self.objective: 0.0}
        status = "pruned" if state["pruned"] and status == "ok" else status
        state["metrics"].update(params=int(model.count_params()), flops=model_flops(model))
        self.trials.append(self._record(genome, info.get("epochs", 0), initial_epoch + info.get("epochs", 0),
                                        state["metrics"], status, error, clock))
        return {**state["metrics"], "status": status}

    def _record(self, genome: Mapping, epochs: int, fidelity: int, metrics: dict, status: str, error: str | None,
                clock: float, key: str | None = None) -> dict:
        return {"tool": self.tool, "genome_hash": key or self.space.hash(genome), "genome": dict(genome),
                "epochs": epochs, "fidelity": fidelity, "score": float(metrics.get(self.objective, 0.0)),
                "metrics": dict(metrics), "status": status, "error": error,
                "seconds": round(time.perf_counter() - clock, 3)}

    def run(self, genome: Mapping, epochs: int | None = None,
            on_epoch: Callable[[int, dict], bool] | None = None) -> dict:
        """One whole trial of ``genome`` from scratch: :meth:`start`, :meth:`train` (``epochs``, ``on_epoch``) and
        free the model. Returns the metrics with ``status``; a genome that was rejected or failed to build gives
        ``{objective: 0.0, "status": "rejected" or "failed"}``. Raises :class:`BudgetSpent` once the epoch limit is
        reached."""
        import keras

        model = self.start(genome)
        if model is None:
            return {self.objective: 0.0, "status": self.trials[-1]["status"]}
        try:
            return self.train(model, genome, epochs=epochs, on_epoch=on_epoch)
        finally:
            del model
            keras.backend.clear_session()
