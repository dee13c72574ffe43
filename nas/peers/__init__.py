"""Run the tools researchers already use (Keras Tuner, Optuna, DEHB) on a nas search space.

Each adapter expresses the space's genes in the tool's own terms, and a :class:`Trainer` trains what the tool proposes
exactly as ``nas.evolve`` would (same build, seeding, training subset, class weights and validation score), counting
the epochs each trial really trained:

- :mod:`nas.peers.keras_tuner`: a Keras Tuner ``HyperModel`` (Hyperband, BayesianOptimization, RandomSearch);
- :mod:`nas.peers.optuna`: ``trial.suggest_*`` and an objective that reports each epoch to Optuna's pruners;
- :mod:`nas.peers.dehb`: a ConfigSpace and DEHB's ``f(config, fidelity)`` with epochs as the fidelity.

The tools are an optional extra (``pip install "nas[peers]"``); ``import nas`` and ``import nas.peers`` import none of
them, and an adapter whose tool is missing says how to install it.
"""
from __future__ import annotations

from .core import INSTALL, OBJECTIVES, BudgetSpent, Trainer, genome_from

__all__ = ["Trainer", "BudgetSpent", "genome_from", "OBJECTIVES", "INSTALL"]
