"""Keras Tuner on a nas search space: a ``HyperModel`` whose hyperparameters are the space's genes.

    >>> import keras_tuner, nas                                                 # doctest: +SKIP
    >>> from nas.peers import Trainer, keras_tuner as nas_kt
    >>> trainer = nas.peers.Trainer("cnn", nas.data.digits(), nas.Budget(epochs=3))
    >>> tuner = keras_tuner.Hyperband(nas_kt.HyperModel(trainer), objective=nas_kt.objective(trainer),
    ...                               max_epochs=9, factor=3, directory="kt", project_name="digits")
    >>> tuner.search()                      # no arguments: the trainer holds the data
    >>> nas_kt.best_genome(tuner, trainer)

Every gene becomes one hyperparameter of the same name (dormant genes too: Keras Tuner samples them, the space's
``expressed`` leaves them out of the model and its hash). Hyperband's ``epochs``/``initial_epoch`` and its reloading of
the best epoch's weights work as with any Keras model: the trainer scores the validation split after each epoch and
writes the metrics into the Keras logs, where Keras Tuner's checkpoint callback reads them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidGenomeError
from ..space import Bool, Choice, Float, Gene, Int, LogFloat, SearchSpace
from .core import BudgetSpent, Trainer, missing

try:
    import keras_tuner as kt
except ImportError as error:
    raise missing("Keras Tuner", error) from None

if TYPE_CHECKING:
    import keras

__all__ = ["HyperModel", "hyperparameters", "objective", "best_genome", "Spent"]


class Spent(BudgetSpent, kt.errors.FatalError):
    """The trainer's epoch limit is spent; Keras Tuner lets a fatal error end ``tuner.search``."""


def _native(gene: Choice) -> bool:
    """Keras Tuner's Choice needs options of one type among int, float, str and bool."""
    kinds = {type(option) for option in gene.options}
    return len(kinds) == 1 and kinds <= {int, float, str, bool}


def _declare(hp: Any, gene: Gene) -> Any:
    if isinstance(gene, Int):
        return hp.Int(gene.name, gene.low, gene.high, step=gene.step)
    if isinstance(gene, LogFloat):
        return hp.Float(gene.name, gene.low, gene.high, sampling="log")
    if isinstance(gene, Float):
        return hp.Float(gene.name, gene.low, gene.high, step=gene.step)
    if isinstance(gene, Bool):
        return hp.Boolean(gene.name)
    if isinstance(gene, Choice) and _native(gene):
        return hp.Choice(gene.name, list(gene.options), ordered=gene.ordered)
    if isinstance(gene, Choice):  # options of mixed types: Keras Tuner chooses their index
        return gene.options[hp.Choice(gene.name, list(range(len(gene.options))), ordered=gene.ordered)]
    raise InvalidGenomeError(f"gene {gene.name!r}: Keras Tuner has no hyperparameter for a {type(gene).__name__}")


def hyperparameters(space: SearchSpace, hp: Any) -> dict:
    """Declare every gene of ``space`` on the ``keras_tuner.HyperParameters`` ``hp`` and return the values it holds
    (one per gene; pass them to :meth:`Trainer.genome`)."""
    return {gene.name: _declare(hp, gene) for gene in space.genes}


def objective(trainer: Trainer) -> Any:
    """The ``keras_tuner.Objective`` the trainer's metric is: maximised."""
    return kt.Objective(trainer.objective, direction="max")


class HyperModel(kt.HyperModel):
    """A Keras Tuner ``HyperModel`` that builds and trains the trainer's space as ``nas.evolve`` would.

    A genome the space cannot build or that is over ``Budget.max_params`` fails its trial (Keras Tuner's
    ``FailedTrialError``; give the tuner a ``max_consecutive_failed_trials`` that allows for it). Once the trainer's
    epoch limit is spent, the next trial raises :class:`Spent` and ``tuner.search`` ends with it.
    """

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(name=f"nas-{trainer.space.name}")
        self.trainer = trainer

    def build(self, hp: Any) -> "keras.Model":
        """The compiled model of the genome ``hp`` holds."""
        genome = self.trainer.admit(hyperparameters(self.trainer.space, hp))
        try:
            model = None if genome is None else self.trainer.start(genome)
        except BudgetSpent as error:
            raise Spent(str(error)) from None
        if model is None:
            raise kt.errors.FailedTrialError(self.trainer.trials[-1]["error"])
        return model

    def fit(self, hp: Any, model: "keras.Model", *args: Any, epochs: int | None = None, initial_epoch: int = 0,
            callbacks: Any = (), **kwargs: Any) -> dict:
        """Train ``model`` with nas's training (any data Keras Tuner passes is ignored: the trainer holds it) and
        return the validation metrics of its last epoch; Keras Tuner's callbacks see each epoch's metrics."""
        genome = self.trainer.genome(hyperparameters(self.trainer.space, hp))
        metrics = self.trainer.train(model, genome, epochs=epochs, initial_epoch=initial_epoch,
                                     callbacks=list(callbacks or ()))
        return {name: value for name, value in metrics.items() if name != "status"}


def best_genome(tuner: Any, trainer: Trainer) -> dict:
    """The genome of the tuner's best hyperparameters (its own choice)."""
    return trainer.genome(tuner.get_best_hyperparameters(1)[0].values)
