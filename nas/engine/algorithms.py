"""The built-in strategies by name, as ``evolve(algorithm=...)`` and ``config.json`` name them."""
from __future__ import annotations

from ..errors import ConfigError
from .aging import Aging
from .generational import Generational
from .strategy import Strategy

STRATEGIES: dict[str, type[Strategy]] = {"generational": Generational, "aging": Aging}


def resolve_strategy(algorithm: "str | Strategy") -> Strategy:
    """A strategy object from itself or its name ("generational", "aging")."""
    if isinstance(algorithm, Strategy):
        return algorithm
    if algorithm not in STRATEGIES:
        raise ConfigError(f"algorithm must be one of {', '.join(STRATEGIES)} or a nas.engine.Strategy, got "
                          f"{algorithm!r}")
    return STRATEGIES[algorithm]()
