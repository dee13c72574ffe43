"""nas: genetic-algorithm neural architecture search of image classifiers (TensorFlow/Keras, DEAP, Ray).

    >>> import nas                                                             # doctest: +SKIP
    >>> run = nas.evolve("cnn", nas.data.synthetic_lesions(n=600, image_size=32), population=8, generations=4,
    ...                  budget=nas.Budget(epochs=1), run_dir="runs/quickstart")
    >>> run.best.genome, run.best.metrics
    >>> nas.load_run("runs/quickstart").generations[-1]["stats"]

``import nas`` never imports Ray and does not import TensorFlow until a model is built.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import data
from .errors import ConfigError, DataError, InvalidGenomeError, NasError
from .engine import evolve, resume
from .executors import Executor, InlineExecutor, LocalExecutor, RayExecutor  # Ray: imported when one starts
from .runs import Individual, Run, load_run
from .space import Bool, Choice, Float, Gene, Int, LogFloat, SearchSpace, genome_hash
from .fidelity import Fidelity
from .training import Budget

__all__ = [
    "evolve", "resume", "load_run", "Run", "Individual", "Budget", "Fidelity", "SearchSpace", "Gene", "Int", "Float",
    "LogFloat",
    "Choice", "Bool", "genome_hash", "data", "Executor", "LocalExecutor", "InlineExecutor", "RayExecutor",
    "ConfigError", "DataError", "InvalidGenomeError", "NasError",
]
