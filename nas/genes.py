"""Genes: the typed, serialisable coordinates of a search space, each of which samples, mutates, checks and
repairs its own values. A genome is a plain ``dict`` of gene names to JSON scalars; :func:`genome_hash` names one.

Example:
    >>> import random
    >>> gene = Int("units", 8, 64, step=8)
    >>> gene.check(gene.sample(random.Random(0))) is None
    True
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import ConfigError, InvalidGenomeError

__all__ = ["Gene", "Int", "Float", "LogFloat", "Choice", "Bool", "genome_hash", "gene_from_config"]

def _significant(value: float, digits: int) -> float:
    if value == 0:
        return 0.0
    return float(f"{value:.{digits - 1}e}")


def _changed(propose: Callable[[], float], value: float) -> float:
    """A proposal that differs from ``value`` if one comes within a few draws (rounding can map a draw back)."""
    for _ in range(8):
        candidate = propose()
        if candidate != value:
            return candidate
    return candidate


def _check_number(value: Any, low: float, high: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if not low <= value <= high:
        return f"{value} is not in [{low}, {high}]"
    return None


@dataclass(frozen=True)
class Gene:
    """One named, typed dimension of a search space. Subclasses implement sampling, mutation and validation."""

    name: str

    kind = "gene"

    def sample(self, rng: random.Random) -> Any:
        """Draw a value of this gene with ``rng``."""
        raise NotImplementedError

    def mutate(self, value: Any, rng: random.Random) -> Any:
        """Return a value near ``value`` (a different one whenever the gene has more than one value)."""
        raise NotImplementedError

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not a value of this gene, or None when it is."""
        raise NotImplementedError

    def nearest(self, value: Any) -> Any:
        """The value of this gene nearest to ``value`` (as another tool proposes it: a float for an integer, a numpy
        scalar for an option); raises :class:`InvalidGenomeError` when nothing is near."""
        raise NotImplementedError

    def to_config(self) -> dict:
        """The gene as a JSON-ready dict: its ``type`` and fields."""
        config = {"type": self.kind}
        config.update(self.__dict__)
        return config


@dataclass(frozen=True)
class Int(Gene):
    """An integer in ``[low, high]`` on a grid of ``step``."""

    low: int = 0
    high: int = 1
    step: int = 1
    kind = "int"

    def __post_init__(self) -> None:
        if self.high < self.low or self.step < 1 or (self.high - self.low) % self.step:
            raise ConfigError(f"gene {self.name!r}: need low <= high and (high - low) divisible by step >= 1, "
                              f"got low={self.low}, high={self.high}, step={self.step}")

    def sample(self, rng: random.Random) -> int:
        """A uniformly drawn grid value in ``[low, high]``."""
        return rng.randrange(self.low, self.high + 1, self.step)

    def mutate(self, value: int, rng: random.Random) -> int:
        """A nearby grid value (a Gaussian number of steps, bouncing off the bounds)."""
        steps = (self.high - self.low) // self.step
        if steps == 0:
            return value
        move = max(1, round(abs(rng.gauss(0.0, max(1.0, steps / 4)))))
        up = rng.random() < 0.5
        candidate = value + (move if up else -move) * self.step
        if candidate > self.high or candidate < self.low:  # bounce off the wall instead of sticking to it
            candidate = value + (-move if up else move) * self.step
        return min(self.high, max(self.low, candidate))

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not an integer on the grid, or None."""
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not an integer"
        if not self.low <= value <= self.high or (value - self.low) % self.step:
            return f"{value} is not in {self.low}..{self.high} (step {self.step})"
        return None

    def nearest(self, value: Any) -> int:
        """The grid value nearest to ``value``, within the bounds."""
        snapped = self.low + round((float(value) - self.low) / self.step) * self.step
        return int(min(self.high, max(self.low, snapped)))


@dataclass(frozen=True)
class Float(Gene):
    """A float in ``[low, high]``, quantised to ``step`` (or to 4 decimals) so that near-identical genomes hash
    alike."""

    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    kind = "float"

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.step is not None and self.step <= 0):
            raise ConfigError(f"gene {self.name!r}: need low < high and step > 0, got {self.low}, {self.high}, "
                              f"{self.step}")

    def _quantise(self, value: float) -> float:
        value = min(self.high, max(self.low, value))
        if self.step:
            value = self.low + round((value - self.low) / self.step) * self.step
            value = min(self.high, value)
        return round(value, 10 if self.step else 4)

    def sample(self, rng: random.Random) -> float:
        """A uniformly drawn, quantised value in ``[low, high]``."""
        return self._quantise(rng.uniform(self.low, self.high))

    def mutate(self, value: float, rng: random.Random) -> float:
        """``value`` plus Gaussian noise (a fifth of the range), clipped and quantised."""
        return _changed(lambda: self._quantise(value + rng.gauss(0.0, 0.2 * (self.high - self.low))), value)

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a number in ``[low, high]``, or None."""
        return _check_number(value, self.low, self.high)

    def nearest(self, value: Any) -> float:
        """``value`` clipped and quantised as sampled values are."""
        return self._quantise(float(value))


@dataclass(frozen=True)
class LogFloat(Gene):
    """A positive float in ``[low, high]`` sampled and mutated on a log scale, kept to 3 significant digits."""

    low: float = 1e-4
    high: float = 1e-1
    kind = "logfloat"

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ConfigError(f"gene {self.name!r}: need 0 < low < high, got {self.low}, {self.high}")

    def _clip(self, value: float) -> float:
        return min(self.high, max(self.low, _significant(value, 3)))

    def sample(self, rng: random.Random) -> float:
        """A value drawn uniformly on a log scale in ``[low, high]``."""
        return self._clip(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def mutate(self, value: float, rng: random.Random) -> float:
        """``value`` moved by Gaussian noise on a log scale (a fifth of the range), clipped."""
        width = math.log(self.high) - math.log(self.low)
        return _changed(lambda: self._clip(math.exp(math.log(value) + rng.gauss(0.0, 0.2 * width))), value)

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a number in ``[low, high]``, or None."""
        return _check_number(value, self.low, self.high)

    def nearest(self, value: Any) -> float:
        """``value`` clipped and kept to 3 significant digits, as sampled values are."""
        return self._clip(float(value))


@dataclass(frozen=True)
class Choice(Gene):
    """One of ``options`` (JSON scalars). ``ordered=True`` makes mutation move to a neighbouring option."""

    options: tuple = ()
    ordered: bool = False
    kind = "choice"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options or len(set(self.options)) != len(self.options):
            raise ConfigError(f"gene {self.name!r}: options must be a non-empty list of distinct values")

    def sample(self, rng: random.Random) -> Any:
        """One of the options, drawn uniformly."""
        return rng.choice(self.options)

    def mutate(self, value: Any, rng: random.Random) -> Any:
        """Another option: a neighbouring one when ``ordered``, else any other."""
        if len(self.options) == 1:
            return value
        index = self.options.index(value)
        if self.ordered:
            step = 1 if rng.random() < 0.8 else 2
            candidates = [i for i in (index - step, index + step) if 0 <= i < len(self.options)]
            return self.options[rng.choice(candidates or [index - 1 if index else index + 1])]
        return rng.choice([o for o in self.options if o != value])

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not one of the options (bools and numbers kept apart), or None."""
        if not any(o == value and isinstance(o, bool) == isinstance(value, bool) for o in self.options):
            return f"{value!r} is not one of {list(self.options)}"
        return None

    def nearest(self, value: Any) -> Any:
        """The option equal to ``value`` (a numpy scalar counts as its Python value)."""
        value = value.item() if hasattr(value, "item") else value
        if self.check(value) is not None:
            raise InvalidGenomeError(f"gene {self.name!r}: {value!r} is not one of {list(self.options)}")
        return self.options[[o == value and isinstance(o, bool) == isinstance(value, bool)
                             for o in self.options].index(True)]

    def to_config(self) -> dict:
        """The gene as a JSON-ready dict, its options as a list."""
        config = super().to_config()
        config["options"] = list(self.options)
        return config


@dataclass(frozen=True)
class Bool(Gene):
    """True or False."""

    kind = "bool"

    def sample(self, rng: random.Random) -> bool:
        """True or False with equal chance."""
        return rng.random() < 0.5

    def mutate(self, value: bool, rng: random.Random) -> bool:
        """The other value."""
        return not value

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a bool, or None."""
        return None if isinstance(value, bool) else f"{value!r} is not a bool"

    def nearest(self, value: Any) -> bool:
        """``value`` as a bool (True, False, 1, 0 or their numpy and string forms)."""
        value = value.item() if hasattr(value, "item") else value
        if value in (True, False, "True", "False", "true", "false"):
            return value in (True, "True", "true")
        raise InvalidGenomeError(f"gene {self.name!r}: {value!r} is not a bool")


_GENE_TYPES = {cls.kind: cls for cls in (Int, Float, LogFloat, Choice, Bool)}


def gene_from_config(config: Mapping) -> Gene:
    """Rebuild a gene from :meth:`Gene.to_config` output."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in _GENE_TYPES:
        raise ConfigError(f"unknown gene type {kind!r}; expected one of {sorted(_GENE_TYPES)}")
    return _GENE_TYPES[kind](**config)


def genome_hash(genome: Mapping) -> str:
    """A stable 16-hex-digit hash of a genome: the same values give the same hash in any process or Python version."""
    text = json.dumps(dict(genome), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
