"""Search spaces: declared, serialisable genes and the genome operators that always yield valid genomes.

A genome is a plain ``dict`` mapping gene names to JSON scalars. Only genomes cross process or machine boundaries.

Example:
    >>> import random
    >>> space = SearchSpace("toy", [Int("units", 8, 64, step=8), LogFloat("learning_rate", 1e-4, 1e-2)], build=None)
    >>> genome = space.sample(random.Random(0))
    >>> sorted(genome)
    ['learning_rate', 'units']
    >>> len(space.hash(genome))
    16
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .errors import ConfigError, InvalidGenomeError

if TYPE_CHECKING:
    import keras

Genome = dict

__all__ = [
    "Gene", "Int", "Float", "LogFloat", "Choice", "Bool", "SearchSpace", "genome_hash", "gene_from_config",
]


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


class SearchSpace:
    """A declared set of genes plus the code that turns a genome into a Keras model.

    Args:
        name: a short name, recorded in ``config.json``.
        genes: the genes, in a fixed order.
        build: ``build(genome, input_shape, num_classes) -> keras.Model``, an *uncompiled* model ending in a softmax.
        repair: ``repair(genome, input_shape) -> genome``: make a genome buildable at ``input_shape`` (for example
            drop blocks whose feature maps would shrink below 1x1), or raise :class:`InvalidGenomeError`.
        expressed: ``expressed(genome) -> dict``: the genes that shape the model (for example, per-block genes of
            blocks beyond the genome's depth are dormant). Hashing and mutation use only expressed genes, so two
            genomes that differ in dormant genes only are trained once.
        count_params: ``count_params(genome, input_shape, num_classes) -> int`` without building the model; the
            default builds it. Used to reject genomes over ``Budget.max_params`` before training.
        count_flops: ``count_flops(genome, input_shape, num_classes) -> int``, FLOPs of one image's forward pass as
            :func:`nas.flops.model_flops` counts them, without building the model; the default builds it. Used to
            reject genomes over ``Budget.max_flops`` before training.
        compile: ``compile(model, genome)``; the default uses the ``optimizer`` and ``learning_rate`` genes when
            present (Adam and 1e-3 otherwise) with sparse categorical cross-entropy and accuracy.

    Genes named ``batch_size``, ``optimizer`` and ``learning_rate`` are read by the trainer as training settings.
    """

    def __init__(self, name: str, genes: Iterable[Gene], build: Callable | None, *, repair: Callable | None = None,
                 expressed: Callable | None = None, compile: Callable | None = None,
                 count_params: Callable | None = None, count_flops: Callable | None = None,
                 description: str = ""):
        self.name = name
        self.genes: tuple[Gene, ...] = tuple(genes)
        names = [g.name for g in self.genes]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"search space {name!r}: genes must be non-empty with unique names, got {names}")
        self._by_name = {g.name: g for g in self.genes}
        self._build = build
        self._repair = repair
        self._expressed = expressed
        self._compile = compile
        self._count_params = count_params
        self._count_flops = count_flops
        self.description = description

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, {len(self.genes)} genes)"

    # -- genomes -------------------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        """A random genome (not yet repaired for an input size)."""
        return {g.name: g.sample(rng) for g in self.genes}

    def expressed(self, genome: Mapping) -> Genome:
        """The genes of ``genome`` that shape the model."""
        return dict(self._expressed(dict(genome))) if self._expressed else dict(genome)

    def hash(self, genome: Mapping) -> str:
        """Hash of the expressed genes: genomes that build the same model share it."""
        return genome_hash(self.expressed(genome))

    def mutate(self, genome: Mapping, rng: random.Random, rate: float | None = None) -> Genome:
        """Mutate each expressed gene with probability ``rate`` (default 1/number of expressed genes); at least one
        gene always changes."""
        child = dict(genome)
        active = [g for g in self.genes if g.name in self.expressed(genome)]
        rate = 1.0 / len(active) if rate is None else rate
        chosen = [g for g in active if rng.random() < rate] or [rng.choice(active)]
        for gene in chosen:
            child[gene.name] = gene.mutate(child[gene.name], rng)
        return child

    def crossover(self, a: Mapping, b: Mapping, rng: random.Random) -> tuple[Genome, Genome]:
        """Uniform crossover: each gene is swapped between the two children with probability 1/2."""
        left, right = dict(a), dict(b)
        for gene in self.genes:
            if rng.random() < 0.5:
                left[gene.name], right[gene.name] = right[gene.name], left[gene.name]
        return left, right

    def check(self, genome: Mapping) -> None:
        """Raise :class:`InvalidGenomeError` naming every gene of ``genome`` that is missing, unknown or out of
        range."""
        problems = [f"missing gene {name!r}" for name in self._by_name if name not in genome]
        problems += [f"unknown gene {name!r}" for name in genome if name not in self._by_name]
        for name, value in genome.items():
            if name in self._by_name:
                reason = self._by_name[name].check(value)
                if reason:
                    problems.append(f"{name}: {reason}")
        if problems:
            raise InvalidGenomeError(f"genome is not a point of space {self.name!r}: " + "; ".join(problems))

    def repair(self, genome: Mapping, input_shape: Sequence[int]) -> Genome:
        """A copy of ``genome`` that can be built at ``input_shape``; raises :class:`InvalidGenomeError` if none."""
        return dict(self._repair(dict(genome), tuple(input_shape))) if self._repair else dict(genome)

    # -- models --------------------------------------------------------------------------------------------------
    def build(self, genome: Mapping, input_shape: Sequence[int], num_classes: int) -> "keras.Model":
        """An uncompiled ``keras.Model`` for ``genome``."""
        if self._build is None:
            raise ConfigError(f"search space {self.name!r} has no build function")
        return self._build(dict(genome), tuple(input_shape), int(num_classes))

    def compile(self, model: "keras.Model", genome: Mapping) -> None:
        """Compile ``model`` with the genome's training settings."""
        if self._compile is not None:
            self._compile(model, dict(genome))
            return
        import keras

        optimizers = {"adam": keras.optimizers.Adam, "sgd": lambda learning_rate: keras.optimizers.SGD(
            learning_rate=learning_rate, momentum=0.9), "rmsprop": keras.optimizers.RMSprop}
        name = genome.get("optimizer", "adam")
        if name not in optimizers:
            raise InvalidGenomeError(f"unknown optimizer {name!r}; expected one of {sorted(optimizers)}")
        model.compile(optimizer=optimizers[name](learning_rate=float(genome.get("learning_rate", 1e-3))),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def count_params(self, genome: Mapping, input_shape: Sequence[int], num_classes: int) -> int:
        """Number of parameters of the genome's model (unless the space counts them itself, builds the model and
        frees the Keras session)."""
        if self._count_params is not None:
            return int(self._count_params(dict(genome), tuple(input_shape), int(num_classes)))
        import keras

        try:
            return int(self.build(genome, input_shape, num_classes).count_params())
        finally:
            keras.backend.clear_session()

    def count_flops(self, genome: Mapping, input_shape: Sequence[int], num_classes: int) -> int:
        """FLOPs of one image's forward pass through the genome's model, as :func:`nas.flops.model_flops` counts them
        (a multiply-accumulate is 2); unless the space counts them itself, builds the model and frees the Keras
        session."""
        if self._count_flops is not None:
            return int(self._count_flops(dict(genome), tuple(input_shape), int(num_classes)))
        import keras

        from .flops import model_flops

        try:
            return model_flops(self.build(genome, input_shape, num_classes))
        finally:
            keras.backend.clear_session()

    # -- serialisation -------------------------------------------------------------------------------------------
    def to_config(self) -> dict:
        """The declaration of this space as JSON-able data (recorded in ``config.json``)."""
        return {"name": self.name, "genes": [g.to_config() for g in self.genes]}


#: The built-in search spaces: name -> module with a ``space(**options)`` factory. Looked up by name, so ``nas`` has
#: no import of ``search_spaces`` (which imports ``nas``).
BUILTIN_SPACES = {"cnn": "search_spaces.cnn", "resnet50": "search_spaces.resnet50",
                  "modern": "search_spaces.modern"}


def _builtin_module(name: str) -> Any:
    """The module of the built-in search space called ``name``."""
    if name not in BUILTIN_SPACES:
        raise ConfigError(f"unknown search space {name!r}; known spaces: {', '.join(BUILTIN_SPACES)}")
    return importlib.import_module(BUILTIN_SPACES[name])


def builtin_space(name: str, **options: Any) -> SearchSpace:
    """The built-in search space called ``name``, made with ``options`` (e.g. ``builtin_space("resnet50",
    weights=None)``)."""
    factory = _builtin_module(name).space
    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        accepted = list(inspect.signature(factory).parameters)
        raise ConfigError(f"search space {name!r} takes options {accepted or 'none'}, got {sorted(options)}") from None
    return factory(**options)


def builtin_designs(name: str) -> dict[str, dict]:
    """The named genomes of the built-in space ``name`` (its module's ``DESIGNS``; empty where it has none), as
    ``initial=`` and ``nas search --initial NAME`` take them; also ``search_spaces.designs``."""
    return {key: dict(genome) for key, genome in getattr(_builtin_module(name), "DESIGNS", {}).items()}


def space_from_config(recorded: Mapping[str, Any]) -> SearchSpace:
    """The built-in space a run recorded (``config.json``'s ``space``); a custom space cannot be rebuilt."""
    if recorded["name"] not in BUILTIN_SPACES:
        raise ConfigError(f"the run's space {recorded['name']!r} is not a built-in space; pass space= (to load_run, "
                          f"resume or the command's Python equivalent)")
    space = builtin_space(recorded["name"], **{k: v for k, v in recorded.items() if k not in ("name", "genes")})
    if space.to_config() != dict(recorded):
        raise ConfigError(f"the run's space {recorded['name']!r} is not the built-in one of that name; pass space=")
    return space


def resolve_space(space: "SearchSpace | str") -> SearchSpace:
    """A :class:`SearchSpace` from itself or from the name of a built-in space ("cnn", "resnet50", "modern")."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str):
        return builtin_space(space)
    raise ConfigError(f"space must be a nas.SearchSpace or the name of a built-in space, got {type(space).__name__}")
