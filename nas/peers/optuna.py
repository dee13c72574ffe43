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

Several objectives, as ``nas.evolve(objectives=("val_accuracy", "-params"))`` takes them, make a Pareto study (NSGA-II
or any multi-objective sampler; Optuna prunes no multi-objective trial, so each trains ``Budget.epochs``):

    >>> names = ("val_accuracy", "-params")                                     # doctest: +SKIP
    >>> study = optuna.create_study(directions=nas_optuna.directions(names),
    ...                             sampler=optuna.samplers.NSGAIISampler(population_size=8, seed=0))
    >>> study.optimize(nas_optuna.objectives(trainer, names), n_trials=24)
    >>> nas_optuna.pareto_genomes(study, trainer)
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..errors import ConfigError, InvalidGenomeError
from ..objectives import Objectives
from ..space import Bool, Choice, Float, Gene, Int, LogFloat, SearchSpace
from .core import Trainer, missing

try:
    import optuna
except ImportError as error:
    raise missing("Optuna", error) from None

#: the metrics a trial records, which a multi-objective study may optimise
RECORDED = ("val_accuracy", "val_balanced_accuracy", "val_loss", "params", "flops")

__all__ = ["suggest", "objective", "best_genome", "directions", "objectives", "pareto_genomes"]


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


def directions(names: str | Iterable[str]) -> list[str]:
    """Optuna's ``directions`` for nas objective names (``"val_accuracy,-params"``: maximize, minimize)."""
    return ["maximize" if sign > 0 else "minimize" for _, sign in Objectives.parse(names).parsed]


def objectives(trainer: Trainer, names: str | Iterable[str]) -> Callable[[Any], tuple[float, ...]]:
    """A multi-objective Optuna objective: the values of ``names`` (nas objective names, e.g. ``("val_accuracy",
    "-params")``; the metrics of :meth:`Trainer.train`) for the suggested genome, each trained ``Budget.epochs``.

    A genome that is rejected or fails gets the worst value of every objective, as in a nas search (a finite one, so
    NSGA-II's crowding distance stays defined). Create the study with :func:`directions` of the same names. Once the
    trainer's epoch limit is spent the objective raises :class:`nas.peers.BudgetSpent`, which ends
    ``study.optimize``.
    """
    parsed = Objectives.parse(names)
    unknown = [name for name, _ in parsed.parsed if name not in RECORDED]
    if unknown:
        raise ConfigError(f"objectives {unknown}: a peer trial records {', '.join(RECORDED)}")

    def run(trial: Any) -> tuple[float, ...]:
        genome = trainer.admit(suggest(trainer.space, trial))
        if genome is not None:
            trainer.run(genome)
        return parsed.values(trainer.trials[-1])

    return run


def pareto_genomes(study: Any, trainer: Trainer) -> list[dict]:
    """The genomes of the study's Pareto front (``study.best_trials``), in trial order, without repeats."""
    genomes: dict[str, dict] = {}
    for trial in study.best_trials:
        genome = trainer.genome(trial.params)
        genomes.setdefault(trainer.space.hash(genome), genome)
    return list(genomes.values())
