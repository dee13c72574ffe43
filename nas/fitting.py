"""Training a compiled model to convergence: the one loop that ``nas retrain``, the baselines and the benchmarks
share, so a searched genome and a baseline are trained alike (augmentation, class balancing, the recipe's schedule
and loss, early stopping that keeps the best epoch's weights).

Example:
    >>> result = fit(model, data, epochs=30, batch_size=32, seed=0)                            # doctest: +SKIP
    >>> result["best_epoch"], result["epochs_run"]
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .augment import Augmentation, pipeline
from .errors import ConfigError
from .recipe import Recipe

if TYPE_CHECKING:
    import keras

    from .data import Dataset

__all__ = ["fit"]


def _epoch_printer(label: str, epochs: int):
    """A Keras callback that prints one line per epoch (Keras' own progress bar is unreadable in logs)."""
    import keras

    started: list[float] = []

    def end(epoch: int, logs: dict | None) -> None:
        values = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items()
                           if k in ("loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy"))
        print(f"{label}: epoch {epoch + 1}/{epochs}  {values}  ({time.perf_counter() - started[-1]:.1f} s)",
              flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: started.append(time.perf_counter()),
                                          on_epoch_end=end)


def fit(model: "keras.Model", data: "Dataset", *, epochs: int, batch_size: int, seed: int,
        augmentation: Augmentation | None = None, class_weighted: bool = True, patience: int = 5,
        label: str = "model", verbose: bool = True, recipe: Recipe | None = None) -> dict:
    """Train a compiled ``model`` on ``data``'s training split until the validation loss (or what the recipe's
    ``stop_on`` names) stops improving.

    Early stopping waits ``patience`` epochs without a better validation loss (or balanced accuracy) and then
    restores the best epoch's weights. ``recipe`` (default :class:`nas.recipe.Recipe`: constant rate, cross-entropy,
    rare classes oversampled) sets the schedule, loss, mixing, class balancing and what early stopping watches;
    ``class_weighted=False`` turns its class balancing off.
    Returns the per-epoch history (with ``learning_rate`` under a schedule) and ``best_epoch`` (1-based),
    ``epochs_run``, ``seconds``; with the recipe's ``max_seconds``, also ``stopped_by_time_limit`` and
    ``epochs_planned`` (the epochs the first one said would fit, which a cosine schedule decays over).
    """
    import keras

    from .epochtime import TrainingTimeLimit

    for name, value in (("epochs", epochs), ("patience", patience), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    recipe = (recipe or Recipe()).with_class_weighted(class_weighted)
    keras.utils.set_random_seed(seed)
    classes = data.num_classes if recipe.one_hot else None
    train = pipeline(data.x_train, data.y_train, batch_size=batch_size, training=True, augmentation=augmentation,
                     seed=seed, num_classes=classes, mixup=recipe.mixup, cutmix=recipe.cutmix,
                     mix_probability=recipe.mix_probability, balanced=recipe.balance == "oversample")
    val = pipeline(data.x_val, data.y_val, batch_size=batch_size, training=False, num_classes=classes)
    monitor, mode = recipe.monitor
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if recipe.stop_on == "balanced_accuracy":
        callbacks.append(_balanced_accuracy_logger(data))
    callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                                   restore_best_weights=True))
    if verbose:
        callbacks.append(_epoch_printer(label, epochs))
    clock = time.perf_counter()
    with recipe.training(model, epochs) as schedule:
        history = model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=callbacks + schedule,
                            shuffle=False,  # the pipeline shuffles
                            class_weight=data.class_weights() if recipe.balance == "weights" else None)
    curves = {k: [float(v) for v in values] for k, values in history.history.items()}
    val_loss = curves.get("val_loss") or [float("nan")]
    if not np.all(np.isfinite(val_loss)):
        raise ConfigError(f"{label}: training diverged (NaN loss); lower the learning rate")
    watched = curves[monitor]
    best = int(np.argmin(watched) if mode == "min" else np.argmax(watched))
    limits = [c for c in schedule if isinstance(c, TrainingTimeLimit)]
    return {"history": curves, "best_epoch": best + 1, "epochs_run": len(val_loss),
            "seconds": round(time.perf_counter() - clock, 2)} | (
        {"stopped_by_time_limit": limits[0].stopped, "epochs_planned": limits[0].epochs} if limits else {})


def _balanced_accuracy_logger(data: "Dataset"):
    """A Keras callback that adds ``val_balanced_accuracy`` (mean recall on the validation split) to each epoch's
    logs, before early stopping reads them."""
    import keras

    from .training import balanced_accuracy, predict

    class BalancedAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is not None:
                predicted = np.argmax(predict(self.model, data.x_val), axis=1)
                logs["val_balanced_accuracy"] = balanced_accuracy(data.y_val, predicted)

    return BalancedAccuracy()
