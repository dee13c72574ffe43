"""DEHB on a nas search space: a ConfigSpace of the space's genes and a DEHB objective whose fidelity is epochs.

    >>> import nas                                                              # doctest: +SKIP
    >>> from nas.peers import Trainer, dehb as nas_dehb
    >>> trainer = Trainer("cnn", nas.data.digits(), max_epochs=120)
    >>> optimizer = nas_dehb.search(trainer, min_epochs=1, max_epochs=9, eta=3, seed=0, output_path="dehb")
    >>> nas_dehb.best_genome(optimizer, trainer)

DEHB minimises, so the objective hands it the negated validation score. Each DEHB job trains its genome from scratch
for ``round(fidelity)`` epochs (DEHB's own protocol: it does not continue training across fidelities). Dormant genes
are dimensions like any other; the space leaves them out of the model and its hash.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, InvalidGenomeError
from ..space import Bool, Choice, Float, Gene, Int, LogFloat, SearchSpace
from .core import BudgetSpent, Trainer, missing

try:
    import ConfigSpace
    import dehb as _dehb
except ImportError as error:
    raise missing("DEHB", error) from None

__all__ = ["configspace", "objective", "search", "best_genome"]


def _hyperparameter(gene: Gene) -> Any:
    if isinstance(gene, Int) and gene.step == 1:
        return ConfigSpace.UniformIntegerHyperparameter(gene.name, gene.low, gene.high)
    if isinstance(gene, Int):  # ConfigSpace has no integer step: the grid values, in order
        return ConfigSpace.OrdinalHyperparameter(gene.name, list(range(gene.low, gene.high + 1, gene.step)))
    if isinstance(gene, LogFloat):
        return ConfigSpace.UniformFloatHyperparameter(gene.name, gene.low, gene.high, log=True)
    if isinstance(gene, Float):  # a step is applied by the gene's nearest value
        return ConfigSpace.UniformFloatHyperparameter(gene.name, gene.low, gene.high)
    if isinstance(gene, Bool):
        return ConfigSpace.CategoricalHyperparameter(gene.name, [False, True])
    if isinstance(gene, Choice) and gene.ordered:
        return ConfigSpace.OrdinalHyperparameter(gene.name, list(gene.options))
    if isinstance(gene, Choice):
        return ConfigSpace.CategoricalHyperparameter(gene.name, list(gene.options))
    raise InvalidGenomeError(f"gene {gene.name!r}: ConfigSpace has no hyperparameter for a {type(gene).__name__}")


def configspace(space: SearchSpace, seed: int | None = None) -> Any:
    """A ``ConfigSpace.ConfigurationSpace`` with one hyperparameter per gene of ``space`` (ordered choices and
    integer grids as ordinals)."""
    configurations = ConfigSpace.ConfigurationSpace(name=space.name, seed=seed)
    configurations.add([_hyperparameter(gene) for gene in space.genes])
    return configurations


def objective(trainer: Trainer) -> Callable[..., dict]:
    """DEHB's ``f(config, fidelity)``: train the configuration's genome for ``round(fidelity)`` epochs and return
    ``{"fitness": -score, "cost": seconds, "info": {...}}`` (a rejected genome gets fitness 0.0, the worst). Raises
    :class:`nas.peers.BudgetSpent` once the trainer's epoch limit is spent."""

    def run(config: Any, fidelity: float, **_: Any) -> dict:
        genome = trainer.admit(dict(config))
        metrics: dict[str, Any] = {trainer.objective: 0.0, "status": "rejected"} if genome is None else trainer.run(
            genome, epochs=max(1, round(float(fidelity))))
        last = trainer.trials[-1]
        return {"fitness": -float(metrics[trainer.objective]), "cost": last["seconds"],
                "info": {"genome_hash": last["genome_hash"], "status": metrics["status"], "epochs": last["epochs"]}}

    return run


def search(trainer: Trainer, *, min_epochs: int = 1, max_epochs: int = 9, eta: int = 3, seed: int = 0,
           output_path: str | Path = "dehb", fevals: int | None = None) -> Any:
    """Run DEHB with ask and tell until the trainer's epoch limit is spent (or ``fevals`` jobs ran); returns the
    ``dehb.DEHB`` optimiser (for :func:`best_genome`). One worker, in this process."""
    if trainer.max_epochs is None and fevals is None:
        raise ConfigError("give the trainer a max_epochs limit or pass fevals, else DEHB runs forever")
    optimizer = _dehb.DEHB(cs=configspace(trainer.space, seed), dimensions=len(trainer.space.genes),
                           min_fidelity=min_epochs, max_fidelity=max_epochs, eta=eta, n_workers=1, seed=seed,
                           output_path=str(output_path), log_level="WARNING", save_freq="end")
    run = objective(trainer)
    jobs = 0
    while fevals is None or jobs < fevals:
        job = optimizer.ask()
        try:
            result = run(job["config"], job["fidelity"])
        except BudgetSpent:
            break
        optimizer.tell(job, result)
        jobs += 1
    return optimizer


def best_genome(optimizer: Any, trainer: Trainer) -> dict:
    """The genome of DEHB's incumbent (its own choice: the best score at any fidelity)."""
    config, _ = optimizer.get_incumbents()
    return trainer.genome(dict(config))
