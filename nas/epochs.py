"""Training that can stop after any epoch and continue later as if it had never stopped.

A multi-fidelity search trains a genome for a few epochs, and continues only the promising ones. For the continued
model to be the model an uninterrupted training gives (same seed, same machine), everything an epoch depends on is
either a function of (seed, epoch) or saved with the weights:

- the order of the training images in epoch ``e`` is a permutation seeded by ``(seed, e)`` (:class:`EpochBatches`),
  not by a shuffle whose state lives in a ``tf.data`` iterator;
- the model's variables, random-seed states included (dropout), and the optimizer's variables (moments and the
  iteration count, so a learning-rate schedule continues where it was) travel in a :func:`snapshot`.

A child can also start from its parent's trained weights (weight inheritance): :func:`layer_weights` keeps a trained
model's weights by layer name, and :func:`inherit` copies those whose layer name and shapes match into a new model.
"""
from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING

import keras
import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence


class EpochBatches(keras.utils.PyDataset):
    """The training batches of one genome, epoch after epoch, from ``first_epoch`` on: epoch ``e`` visits the images in
    the order of a permutation seeded by ``(seed, e)``.

    ``balanced=True`` draws every epoch class-balanced instead (oversampling): each class present in ``y`` (integer
    labels) fills ``ceil(len(y) / classes)`` places, its images cycled in an order seeded by ``(seed, e)`` (the rare
    ones repeated, a large class's images partly left out that epoch), and the places are shuffled. An epoch has
    about as many images either way, so it costs about the same.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, first_epoch: int = 0,
                 balanced: bool = False) -> None:
        super().__init__()
        self.x, self.y, self.balanced = x, y, bool(balanced)
        self.batch_size, self.seed, self.epoch = int(batch_size), int(seed), int(first_epoch)
        self.order = self._permutation()

    def _permutation(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if not self.balanced:
            return rng.permutation(len(self.x))
        classes = np.unique(self.y)
        places = math.ceil(len(self.y) / len(classes))
        drawn = []
        for c in classes:
            members = np.flatnonzero(self.y == c)
            cycles = math.ceil(places / len(members))
            drawn.append(np.concatenate([rng.permutation(members) for _ in range(cycles)])[:places])
        return rng.permutation(np.concatenate(drawn))

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, index: int) -> tuple:
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[picked], self.y[picked]

    def on_epoch_end(self) -> None:
        """Move to the next epoch's order."""
        self.epoch += 1
        self.order = self._permutation()


def _state(model: keras.Model) -> list:
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.variables, *model.optimizer.variables]


def snapshot(model: keras.Model) -> bytes:
    """Everything a compiled model's training continues from: its variables (weights, batch-norm statistics,
    random-seed states) and its optimizer's, as the bytes of a ``.npz``."""
    buffer = io.BytesIO()
    np.savez(buffer, *[np.asarray(variable.numpy()) for variable in _state(model)])
    return buffer.getvalue()


def restore(model: keras.Model, saved: bytes) -> None:
    """Put a :func:`snapshot` back into a compiled model of the same genome; raises :class:`ConfigError` if the
    snapshot is of another model."""
    with np.load(io.BytesIO(saved)) as arrays:
        values: Sequence[np.ndarray] = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    variables = _state(model)
    shapes = [tuple(v.shape) for v in variables]
    if shapes != [tuple(a.shape) for a in values]:
        raise ConfigError(f"the saved training state does not fit this model ({len(values)} arrays for "
                          f"{len(variables)} variables): was it saved for another genome?")
    for variable, value in zip(variables, values):
        variable.assign(value)


def layer_weights(model: keras.Model) -> bytes:
    """The weights of every layer of ``model`` that has any, by layer name (``.npz`` bytes): what a child's
    :func:`inherit` takes from its parent. Optimizer state is not included."""
    arrays: dict[str, np.ndarray] = {}
    names = []
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            names.append([layer.name, len(values)])
            for value in values:
                arrays[f"w{len(arrays)}"] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, layers=np.array(json.dumps(names)), **arrays)
    return buffer.getvalue()


def inherit(model: keras.Model, saved: bytes) -> int:
    """Weight inheritance (Real et al. 2017): copy into ``model`` the weights of each layer of the parent's
    :func:`layer_weights` whose name and weight shapes both match one of its layers; other layers keep their fresh
    initialisation. Returns the number of layers copied."""
    parent: dict[str, list[np.ndarray]] = {}
    with np.load(io.BytesIO(saved)) as arrays:
        position = 0
        for name, count in json.loads(str(arrays["layers"])):
            parent[name] = [arrays[f"w{position + i}"] for i in range(count)]
            position += count
    copied = 0
    for layer in model.layers:
        own, values = layer.get_weights(), parent.get(layer.name)
        if own and values is not None and [w.shape for w in own] == [v.shape for v in values]:
            layer.set_weights(values)
            copied += 1
    return copied
