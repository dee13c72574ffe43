"""The frozen description of a search: what ``nas.evolve`` records in ``config.json`` and ``nas.resume`` reloads whole.

Everything that decides which genomes are evaluated and how they score is here; a resume compares the given
configuration with the recorded one field by field and refuses a difference outside :data:`RESUMABLE_DIFFERENCES`.
"""
from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from ..errors import ConfigError
from ..runs.writer import config_differences

#: Config fields that may differ on resume: they do not change which genomes are evaluated or how they score.
RESUMABLE_DIFFERENCES = ("versions", "created", "executor", "nas_version")
#: Config fields written to ``config.json`` only where they are set (older runs lack them).
OPTIONAL = ("in_flight", "fidelity", "reevaluate", "inherit", "epoch_budget")
#: The crossovers :class:`Settings` knows: a coin per gene, or per group of genes the space links.
CROSSOVERS = ("uniform", "linked")


@dataclass(frozen=True)
class Settings:
    """Genetic-operator settings of a search (recorded in ``config.json`` as ``operators``)."""

    crossover_prob: float = 0.5
    mutation_prob: float = 0.5
    tournament_size: int = 3
    elitism: int = 1
    #: share of the genomes bred after the first generation that are fresh random ones instead of children
    immigrants: float = 0.0
    #: "uniform" (a coin per gene) or "linked" (a coin per group of the space's ``linkage``)
    crossover: str = "uniform"

    def check(self, population: int) -> None:
        """Raise :class:`ConfigError` for a setting outside its range (elitism must leave room for children)."""
        for name in ("crossover_prob", "mutation_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if isinstance(self.immigrants, bool) or not isinstance(self.immigrants, (int, float)) \
                or not 0.0 <= self.immigrants < 1.0:
            raise ConfigError(f"immigrants must be in [0, 1): the share of new genomes sampled at random instead of "
                              f"bred (e.g. 0.25), got {self.immigrants}")
        if self.crossover not in CROSSOVERS:
            raise ConfigError(f"crossover must be one of {', '.join(CROSSOVERS)}, got {self.crossover!r}")
        if self.tournament_size < 1:
            raise ConfigError(f"tournament_size must be >= 1, got {self.tournament_size}")
        if not 0 <= self.elitism < population:
            raise ConfigError(f"elitism must be in 0..population-1 ({population - 1}), got {self.elitism}")

    @property
    def linked(self) -> bool:
        """Whether crossover passes the space's linked groups of genes whole."""
        return self.crossover == "linked"

    def to_dict(self) -> dict[str, Any]:
        """``config.json``'s ``operators`` (``immigrants`` only where it is on and ``crossover`` only where it is not
        uniform, so older runs resume unchanged)."""
        values = asdict(self)
        if not self.immigrants:
            del values["immigrants"]
        if self.crossover == "uniform":
            del values["crossover"]
        return values


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages that decide a search's results."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "deap", "ray", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


@dataclass(frozen=True)
class SearchConfig:
    """One search, as recorded in ``config.json`` (the field order is the file's key order)."""

    nas_version: str
    created: str
    versions: dict
    space: dict
    data: dict
    input_shape: list
    class_names: list
    objectives: list
    budget: dict
    population: int
    generations: int
    seed: int
    algorithm: str
    operators: dict
    initial: list
    executor: dict
    #: aging only: the evaluations kept in flight decide which parents a child sees, so they are part of the run
    in_flight: int | None = None
    #: multi-fidelity runs only: the rungs (:class:`nas.Fidelity` as a dict)
    fidelity: dict | None = None
    #: runs that re-evaluate their best genomes only: ``{"top": K, "seeds": S}``
    reevaluate: dict | None = None
    #: weight inheritance (children start from their first parent's trained weights); omitted from the file when off
    inherit: bool = False
    #: aging only: the training epochs the whole search may spend (the search ends before one that would not fit)
    epoch_budget: int | None = None
    extra: dict = field(default_factory=dict)  # keys of a newer version's config, kept as they were

    @property
    def settings(self) -> Settings:
        """The genetic-operator settings."""
        return Settings(**self.operators)

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` content (``in_flight`` only for aging runs, ``fidelity`` only for multi-fidelity
        ones, ``reevaluate``, ``inherit`` and ``epoch_budget`` only where they are on)."""
        values = asdict(self)
        extra = values.pop("extra")
        for optional in OPTIONAL:
            if values[optional] is None or values[optional] is False:
                del values[optional]
        return {**values, **extra}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SearchConfig":
        """The config of a recorded run (older runs lack ``algorithm`` and ``initial``: their defaults apply)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        given = {"algorithm": "generational", "initial": [], **{k: v for k, v in values.items() if k in known}}
        missing = sorted(known - set(given) - set(OPTIONAL))
        if missing:
            raise ConfigError(f"config.json lacks {', '.join(missing)}: not a run folder of this version of nas")
        return cls(**given, extra={k: v for k, v in values.items() if k not in known})

    def differences(self, recorded: "SearchConfig") -> list[str]:
        """The fields in which this config differs from ``recorded``, ignoring those a resume may change."""
        return config_differences(recorded.to_dict(), self.to_dict(), ignore=RESUMABLE_DIFFERENCES)

    def replace(self, **changes: Any) -> "SearchConfig":
        """A copy with ``changes``."""
        return replace(self, **changes)
