"""Objectives and fitness: which metrics a search maximises or minimises, and the DEAP fitness built from a record.

DEAP's ``creator`` is avoided on purpose: its classes are made at run time and break pickling across processes, so
:class:`Fitness` takes its weights per instance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from deap import base

from .errors import ConfigError
from .training import METRICS

#: A failed evaluation scores this far on the wrong side of every objective. Finite, because NSGA-II's crowding
#: distance turns infinities into NaN.
WORST = 1e30


class Fitness(base.Fitness):
    """DEAP fitness whose weights are set per instance, so no class has to be created at run time."""

    def __init__(self, weights: Sequence[float], values: Sequence[float] = ()) -> None:
        self.weights = tuple(weights)
        super().__init__(values)

    def __deepcopy__(self, memo: dict) -> "Fitness":  # DEAP's version calls the class without arguments
        twin = Fitness(self.weights)
        twin.wvalues = self.wvalues
        twin.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("weights", "wvalues")})
        return twin


def parse_objectives(objectives: str | Iterable[str]) -> list[tuple[str, int]]:
    """``("val_accuracy", "-params")`` -> ``[("val_accuracy", 1), ("params", -1)]`` (a leading ``-`` minimises)."""
    if isinstance(objectives, str):
        objectives = objectives.split(",")
    objectives = list(objectives)
    parsed = []
    for text in objectives:
        text = str(text).strip()
        sign = -1 if text.startswith("-") else 1
        name = text.lstrip("+-")
        if name not in METRICS:
            raise ConfigError(f"unknown objective {text!r}; choose among {', '.join(METRICS)} (prefix '-' to "
                              f"minimise, e.g. -params)")
        parsed.append((name, sign))
    if not parsed or len({name for name, _ in parsed}) != len(parsed):
        raise ConfigError(f"objectives must name at least one metric, each once; got {objectives!r}")
    return parsed


@dataclass(frozen=True)
class Objectives:
    """The parsed objectives of a search: names, signs, DEAP weights and the fitness of a record."""

    parsed: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, objectives: str | Iterable[str]) -> "Objectives":
        """Parse names such as ``"val_accuracy,-params"``; see :func:`parse_objectives`."""
        return cls(tuple(parse_objectives(objectives)))

    @property
    def names(self) -> list[str]:
        """The objectives as written in ``config.json`` (``-`` for minimised ones)."""
        return [("-" if sign < 0 else "") + name for name, sign in self.parsed]

    @property
    def weights(self) -> tuple[float, ...]:
        """DEAP weights: +1 maximises, -1 minimises."""
        return tuple(float(sign) for _, sign in self.parsed)

    @property
    def worst(self) -> tuple[float, ...]:
        """The fitness of a failed evaluation."""
        return tuple(-sign * WORST for _, sign in self.parsed)

    @property
    def multi(self) -> bool:
        """Several objectives: a Pareto (NSGA-II) search."""
        return len(self.parsed) > 1

    def values(self, record: Mapping) -> tuple[float, ...]:
        """The fitness values of an evaluation record (the worst for a failed one or a missing metric)."""
        if record["status"] == "failed" or record.get("error"):
            return self.worst
        values = []
        for (name, _), worst in zip(self.parsed, self.worst):
            value = record["metrics"].get(name)
            values.append(float(value) if value is not None and math.isfinite(value) else worst)
        return tuple(values)

    def recorded(self, record: Mapping) -> list[float | None]:
        """The ``fitness`` list written into a record: None where an objective failed."""
        return [None if v == w else v for v, w in zip(self.values(record), self.worst)]

    def fitness(self, record: Mapping | None = None) -> Fitness:
        """A DEAP fitness, valid when ``record`` is given."""
        return Fitness(self.weights, self.values(record) if record is not None else ())
