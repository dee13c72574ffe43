"""Multi-fidelity evaluation: :class:`Fidelity`, the rungs of successive halving.

A genome is first trained for ``min_epochs``; the best ``1/eta`` of a generation continue, from their saved training
state, to ``min_epochs * eta`` epochs, the best ``1/eta`` of those to the next rung, and so on up to ``max_epochs``.
Compute goes to the genomes that earned it, and the genomes a search finally ranks have been trained long enough
for the ranking to mean something.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from .errors import ConfigError, from_fields


@dataclass(frozen=True)
class Fidelity:
    """The rungs of a multi-fidelity search: ``min_epochs``, ``min_epochs * eta``, ... up to ``max_epochs``
    (which must be ``min_epochs`` times a power of ``eta``). ``Fidelity(1, 9, 3)`` trains every genome 1 epoch,
    a third of them 3 epochs and a ninth 9 epochs."""

    min_epochs: int = 1
    max_epochs: int = 9
    eta: int = 3

    def __post_init__(self) -> None:
        for name, least in (("min_epochs", 1), ("max_epochs", 1), ("eta", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"Fidelity.{name} must be an integer >= {least}, got {value!r}")
        if self.max_epochs <= self.min_epochs:
            raise ConfigError(f"Fidelity.max_epochs ({self.max_epochs}) must be more than min_epochs "
                              f"({self.min_epochs}); without fidelity, use Budget(epochs=...)")
        rungs = self._powers()
        if rungs[-1] != self.max_epochs:
            allowed = ", ".join(map(str, [*rungs, rungs[-1] * self.eta]))
            raise ConfigError(f"Fidelity.max_epochs must be min_epochs times a power of eta ({allowed}, ...), got "
                              f"{self.max_epochs}")

    def _powers(self) -> list[int]:
        epochs = [self.min_epochs]
        while epochs[-1] * self.eta <= self.max_epochs:
            epochs.append(epochs[-1] * self.eta)
        return epochs

    @property
    def rungs(self) -> tuple[int, ...]:
        """Epochs of each rung, lowest first."""
        return tuple(self._powers())

    @property
    def top(self) -> int:
        """The highest rung's number (rungs count from 0)."""
        return len(self.rungs) - 1

    def promoted(self, finished: int) -> int:
        """How many of ``finished`` genomes of one rung go on to the next: the best ``1/eta``, at least one."""
        return max(1, finished // self.eta) if finished else 0

    def generation_epochs(self, population: int) -> int:
        """The training epochs one generation of ``population`` new genomes spends under successive halving
        (``algorithm="generational"``): all of them at the first rung, then each promotion's added epochs. With
        it, a search's ``generations`` can be sized to an epoch budget."""
        epochs, kept, below = 0, population, 0
        for rung in self.rungs:
            epochs += kept * (rung - below)
            kept, below = self.promoted(kept), rung
        return epochs

    def samples_from_epoch(self, *samples: int | None) -> tuple[tuple[int, int | None], ...]:
        """``Budget.samples_from_epoch`` for training images that grow with the rungs: ``samples`` gives the images of
        each rung above the first (None for all), whose first epoch starts using them; the first rung trains on
        ``Budget.max_train_samples``. ``Fidelity(1, 9, 3).samples_from_epoch(4000, None)`` is ``((2, 4000), (4,
        None))``: 1 epoch on max_train_samples, 2 more on 4,000 images, 6 more on all."""
        rungs = self.rungs
        if len(samples) != len(rungs) - 1:
            raise ConfigError(f"Fidelity{rungs} has {len(rungs) - 1} rungs above the first; give the training images "
                              f"of each ({len(samples)} given)")
        return tuple((rungs[r] + 1, n) for r, n in enumerate(samples))

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (``config.json``'s ``fidelity``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "Fidelity":
        """The fidelity :meth:`to_dict` wrote; unknown keys raise :class:`ConfigError`."""
        return from_fields(cls, values)

    @classmethod
    def parse(cls, text: str) -> "Fidelity":
        """``"1:9:3"`` -> ``Fidelity(min_epochs=1, max_epochs=9, eta=3)`` (the command line's ``--fidelity``)."""
        parts = str(text).split(":")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 3:
            raise ConfigError(f"--fidelity takes MIN:MAX:ETA epochs, e.g. 1:9:3; got {text!r}")
        return cls(*numbers)


def coerce(fidelity: "Fidelity | str | Mapping | None") -> Fidelity | None:
    """A :class:`Fidelity` from itself, ``"MIN:MAX:ETA"`` or its dict; None stays None."""
    if fidelity is None or isinstance(fidelity, Fidelity):
        return fidelity
    if isinstance(fidelity, str):
        return Fidelity.parse(fidelity)
    if isinstance(fidelity, Mapping):
        return Fidelity.from_dict(fidelity)
    raise ConfigError(f"fidelity must be a nas.Fidelity, 'MIN:MAX:ETA' or None, got {type(fidelity).__name__}")
