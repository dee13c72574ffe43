"""The retrain recipe: how :func:`nas.retrain.fit` trains beyond the model's own optimizer, loss and learning rate.

A :class:`Recipe` names the learning-rate schedule, label smoothing, MixUp and CutMix, the class balancing and the
focal loss. Its default is the row that raised test-split balanced accuracy on HAM10000 most in the ablation of
``benchmarks/clinical.py`` (docs/clinical.md): the rare classes oversampled instead of class weights, the learning rate
constant; :meth:`Recipe.plain` is the retrain before recipes (constant learning rate, inverse-frequency class weights).
The model arrives compiled by its search space or ``nas.baselines``; the optimizer's learning rate is the schedule's
peak, and the loss is swapped for the recipe's only while it trains (:meth:`Recipe.training`), so the model is saved
compiled as it came.

Example:
    >>> recipe = Recipe(schedule="cosine", label_smoothing=0.1, mixup=0.2, balance="oversample")
    >>> nas.retrain.fit(model, data, epochs=30, batch_size=32, seed=0, recipe=recipe)       # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Iterator, Mapping

from .errors import ConfigError, from_fields

if TYPE_CHECKING:
    import keras

__all__ = ["BALANCES", "SCHEDULES", "STOP_ON", "Recipe", "cosine"]

SCHEDULES = ("constant", "cosine")
BALANCES = ("weights", "oversample", "none")
STOP_ON = ("loss", "balanced_accuracy")


def _number(name: str, value: object, low: float, high: float | None = None, *, closed: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number from ``low`` to ``high`` (excluded unless ``closed``;
    None: no upper bound)."""
    if high is None:
        allowed, within = f"a number >= {low:g}", lambda v: v >= low
    else:
        allowed = f"a number in [{low:g}, {high:g}{']' if closed else ')'}"
        within = (lambda v: low <= v <= high) if closed else (lambda v: low <= v < high)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not within(value):
        raise ConfigError(f"Recipe.{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class Recipe:
    """How to train a compiled model in :func:`nas.retrain.fit`; the default oversamples the rare classes (measured
    in ``benchmarks/clinical.py``), :meth:`plain` is the retrain before recipes.

    Args:
        schedule: "constant" (the optimizer's learning rate throughout) or "cosine" (per epoch from the optimizer's
            learning rate, the peak, down towards 0 over ``epochs``; early stopping may end it sooner).
        warmup_epochs: with "cosine", first raise the learning rate linearly to the peak over this many epochs.
        label_smoothing: train on targets ``(1 - s) * one_hot + s / classes``.
        mixup, cutmix: Beta(alpha, alpha) parameters of MixUp and CutMix (0: off; :func:`nas.augment.mix_batch`).
        mix_probability: share of training images mixed when MixUp or CutMix is on.
        balance: "weights" (inverse-frequency class weights on the loss), "oversample" (every epoch draws the
            classes equally often, the rare ones repeated; no class weights) or "none".
        focal_gamma: focal loss ``-(1 - p)^gamma log p`` with this gamma (0: cross-entropy); it down-weights the
            images the model already gets right.
        stop_on: what early stopping watches and which epoch's weights are kept: "loss" (the validation loss) or
            "balanced_accuracy" (the validation split's mean recall over the classes, measured after every epoch and
            logged as ``val_balanced_accuracy``). With oversampling, the validation loss on the imbalanced
            validation split can rise while the rare classes are learnt, and stop training early.
        max_seconds: a time limit for each model trained (None: none): no epoch starts that is expected to end
            past it (:class:`nas.epochtime.TrainingTimeLimit`), and a "cosine" schedule decays over the epochs
            expected to fit, measured by the first epoch. The best epoch's weights are kept as with early stopping.
    """

    schedule: str = "constant"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_probability: float = 1.0
    balance: str = "oversample"
    focal_gamma: float = 0.0
    stop_on: str = "loss"
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Recipe.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.balance not in BALANCES:
            raise ConfigError(f"Recipe.balance must be one of {', '.join(BALANCES)}, got {self.balance!r}")
        if self.stop_on not in STOP_ON:
            raise ConfigError(f"Recipe.stop_on must be one of {', '.join(STOP_ON)}, got {self.stop_on!r}")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ConfigError(f"Recipe.warmup_epochs must be a whole number >= 0, got {self.warmup_epochs!r}")
        if self.warmup_epochs and self.schedule == "constant":
            raise ConfigError("Recipe.warmup_epochs needs schedule='cosine'")
        _number("label_smoothing", self.label_smoothing, 0.0, 1.0)
        _number("mixup", self.mixup, 0.0)
        _number("cutmix", self.cutmix, 0.0)
        _number("mix_probability", self.mix_probability, 0.0, 1.0, closed=True)
        _number("focal_gamma", self.focal_gamma, 0.0)
        seconds = self.max_seconds
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not 0 < seconds < math.inf):
            raise ConfigError(f"Recipe.max_seconds must be a number of seconds above 0 or None, got {seconds!r}")

    @property
    def one_hot(self) -> bool:
        """Whether training needs one-hot labels and a categorical loss (smoothing, mixing or focal loss)."""
        return bool(self.label_smoothing or self.mixup or self.cutmix or self.focal_gamma)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "Recipe":
        """The recipe :meth:`to_dict` wrote; unknown keys raise :class:`ConfigError`."""
        return from_fields(cls, values)

    @classmethod
    def plain(cls) -> "Recipe":
        """The retrain before recipes: constant learning rate, cross-entropy, inverse-frequency class weights."""
        return cls(schedule="constant", balance="weights")

    def with_class_weighted(self, class_weighted: bool) -> "Recipe":
        """This recipe under the older ``class_weighted`` switch: False turns any class balancing off."""
        return self if class_weighted else replace(self, balance="none")

    def loss(self) -> "keras.losses.Loss":
        """The categorical loss for one-hot labels: focal when ``focal_gamma``, with the label smoothing."""
        import keras

        if self.focal_gamma:
            # alpha 1: no constant scale, so that gamma 0 would be the plain cross-entropy
            return keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=float(self.focal_gamma),
                                                             label_smoothing=float(self.label_smoothing))
        return keras.losses.CategoricalCrossentropy(label_smoothing=float(self.label_smoothing))

    def learning_rate(self, epoch: int, epochs: int, peak: float) -> float:
        """The learning rate of 0-based ``epoch`` of ``epochs`` for a peak (the optimizer's own) of ``peak``."""
        if self.schedule == "constant":
            return peak
        return cosine(epoch, epochs, peak, warmup=self.warmup_epochs)

    @property
    def monitor(self) -> tuple[str, str]:
        """The Keras log key early stopping watches and its mode ("min" or "max")."""
        return ("val_loss", "min") if self.stop_on == "loss" else ("val_balanced_accuracy", "max")

    @contextlib.contextmanager
    def training(self, model: "keras.Model", epochs: int) -> Iterator[list]:
        """Within the block ``model`` is compiled for this recipe; yields the callbacks that ``model.fit`` needs (the
        learning-rate schedule, the time limit last). Afterwards the model is compiled again as it came, with its
        peak learning rate (its optimizer keeps what it learned)."""
        import keras

        from .epochtime import TrainingTimeLimit

        optimizer = getattr(model, "optimizer", None)
        if optimizer is None or not getattr(model, "compiled", False):
            raise ConfigError("the model must be compiled (by its search space or nas.baselines.compile) before fit")
        if self.warmup_epochs >= epochs:
            raise ConfigError(f"Recipe.warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({epochs})")
        callbacks: list = []
        limit = (TrainingTimeLimit(self.max_seconds, epochs, plan=self.schedule != "constant")
                 if self.max_seconds is not None else None)
        peak = None
        if self.schedule != "constant":
            if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
                raise ConfigError("the model's optimizer already follows a learning-rate schedule; use "
                                  "schedule='constant'")
            peak = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            callbacks.append(keras.callbacks.LearningRateScheduler(
                lambda epoch, _rate: self.learning_rate(epoch, limit.epochs if limit else epochs, peak)))
        loss, metrics = model.loss, ["accuracy"]
        if self.one_hot:
            model.compile(optimizer=optimizer, loss=self.loss(), metrics=metrics)
        try:
            yield callbacks + ([limit] if limit else [])
        finally:
            if peak is not None:
                optimizer.learning_rate = peak
            if self.one_hot:
                model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def cosine(epoch: int, epochs: int, peak: float, *, warmup: int = 0) -> float:
    """Cosine decay per epoch: ``peak * (epoch + 1) / (warmup + 1)`` during ``warmup`` epochs, then
    ``peak * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 at the first epoch after the warmup towards 1 at
    ``epochs`` (the last epoch still learns)."""
    if epoch < warmup:
        return peak * (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
