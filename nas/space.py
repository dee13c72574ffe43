"""Search spaces: declared genes (:mod:`nas.genes`) and the genome operators that always yield valid genomes.

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

import importlib
import inspect
import random
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from .errors import ConfigError, InvalidGenomeError
from .genes import Bool, Choice, Float, Gene, Int, LogFloat, gene_from_config, genome_hash

if TYPE_CHECKING:
    import keras

Genome = dict

__all__ = [
    "Gene", "Int", "Float", "LogFloat", "Choice", "Bool", "SearchSpace", "genome_hash", "gene_from_config",
]


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
        linkage: groups of gene names that work together (one block's filters, kernel and dropout; the optimizer
            and its learning rate): :meth:`crossover` with ``linked=True`` passes each group to a child whole, from
            one parent. A gene in no group is its own. Not recorded in ``config.json``: it decides how children are
            bred, not which genomes exist.

    Genes named ``batch_size``, ``optimizer`` and ``learning_rate`` are read by the trainer as training settings.
    """

    def __init__(self, name: str, genes: Iterable[Gene], build: Callable | None, *, repair: Callable | None = None,
                 expressed: Callable | None = None, compile: Callable | None = None,
                 count_params: Callable | None = None, count_flops: Callable | None = None,
                 linkage: Iterable[Iterable[str]] = (), description: str = ""):
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
        self.linkage = self._units(linkage)
        self.description = description

    def _units(self, linkage: Iterable[Iterable[str]]) -> tuple[tuple[str, ...], ...]:
        """Every gene in exactly one unit of crossover: the ``linkage`` groups, each at its first gene's place in
        the gene order, and each other gene alone."""
        groups = [tuple(group) for group in linkage]
        named = [gene for group in groups for gene in group]
        unknown = sorted(set(named) - set(self._by_name))
        twice = sorted({gene for gene in named if named.count(gene) > 1})
        if unknown or twice or not all(groups):
            raise ConfigError(f"search space {self.name!r}: linkage groups must be non-empty and name each gene of "
                              f"the space at most once; unknown genes {unknown}, genes in two groups {twice}")
        group_of = {gene: group for group in groups for gene in group}
        units = [group_of.get(gene.name, (gene.name,)) for gene in self.genes]
        return tuple(dict.fromkeys(units))

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

    def crossover(self, a: Mapping, b: Mapping, rng: random.Random, linked: bool = False) -> tuple[Genome, Genome]:
        """Uniform crossover: each gene is swapped between the two children with probability 1/2; with ``linked``,
        each group of the space's ``linkage`` is swapped whole (a gene in no group alone)."""
        left, right = dict(a), dict(b)
        for unit in self.linkage if linked else [(gene.name,) for gene in self.genes]:
            if rng.random() < 0.5:
                for name in unit:
                    left[name], right[name] = right[name], left[name]
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
