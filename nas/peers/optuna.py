"""Optuna on a nas search space: ``trial.suggest_*`` for every gene and an objective that trains as nas does.

    >>> import optuna, nas                                                      # doctest: +SKIP
    >>> from nas.peers import Trainer, optuna as nas_optuna
    >>> trainer = Trainer("cnn", nas.data.digits(), nas.Budget(epochs=9))
    >>> study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
    ...                             pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9))
    >>> study.optimize(nas_optuna.objective(trainer), n_trials=30)
    >>> nas_optuna.best_genome(study, trainer)

Each trial trains up to ``Budget.epochs`` epochs and reports the validation objective after each one, so any Optuna
pruner can stop it early (the epochs it did train are what the trainer counts). Dormant genes are suggested like the
others and left out of the model and its hash by the space.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import InvalidGenomeError
from ..space import Bool, Choice, Float, Gene, Int, LogFloat, SearchSpace
from .core import Trainer, missing

try:
    import optuna
except ImportError as error:
    raise missing("Optuna", error) from None

__all__ = ["suggest", "objective", "best_genome"]


def _suggest(trial: Any, gene: Gene) -> Any:
    if isinstance(gene, Int):
        return trial.suggest_int(gene.name, gene.low, gene.high, step=gene.step)
    if isinstance(gene, LogFloat):
        return trial.suggest_float(gene.name, gene.low, gene.high, log=True)
    if isinstance(gene, Float):
        return trial.suggest_float(gene.name, gene.low, gene.high, step=gene.step)
    if isinstance(gene, Bool):
        return trial.suggest_categorical(gene.name, [False, True])
    if isinstance(gene, Choice):
        return trial.suggest_categorical(gene.name, list(gene.options))
    raise InvalidGenomeError(f"gene {gene.name!r}: Optuna has no suggestion for a {type(gene).__name__}")


def suggest(space: SearchSpace, trial: Any) -> dict:
    """The values an ``optuna.Trial`` suggests for every gene of ``space`` (pass them to :meth:`Trainer.genome`)."""
    return {gene.name: _suggest(trial, gene) for gene in space.genes}


def objective(trainer: Trainer) -> Callable[[Any], float]:
    """An Optuna objective (to maximise) that trains the suggested genome with the trainer.

    A genome the space cannot build or that is over ``Budget.max_params`` scores 0.0; a pruned trial raises
    ``optuna.TrialPruned`` after the epochs it trained. Once the trainer's epoch limit is spent the objective raises
    :class:`nas.peers.BudgetSpent`, which ends ``study.optimize`` (the trials before it are kept).
    """

    def run(trial: Any) -> float:
        genome = trainer.admit(suggest(trainer.space, trial))
        if genome is None:
            return 0.0

        def report(epoch: int, metrics: dict) -> bool:
            trial.report(metrics[trainer.objective], epoch)
            return bool(trial.should_prune())

        metrics = trainer.run(genome, on_epoch=report)
        if metrics["status"] == "pruned":
            raise optuna.TrialPruned()
        return float(metrics[trainer.objective])

    return run


def best_genome(study: Any, trainer: Trainer) -> dict:
    """The genome of the study's best trial (its own choice)."""
    return trainer.genome(study.best_trial.params)
