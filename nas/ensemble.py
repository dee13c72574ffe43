"""Ensembles: K trained classifiers as one Keras model whose class probabilities are the mean of theirs.

:func:`build` wraps each member in a nested functional model named ``member_1`` ... ``member_K`` (members from one
search space share layer names such as ``conv2d``; nesting keeps every name unique where Keras needs it) and feeds
their softmax outputs to a built-in ``keras.layers.Average``. The result is an ordinary functional model: it saves to
one ``.keras`` file and loads with ``keras.models.load_model(path)`` in safe mode, with no custom objects, so
``nas explain``, ``nas serve`` and ``nas export`` take it like any single model.

:func:`members` recognises an ensemble by its structure (the rule is in its docstring); Grad-CAM
(:mod:`nas.explain.cam`) uses it to average the members' own maps. ``nas retrain --top-k K --ensemble`` builds one from
its K retrained genomes (:func:`nas.retrain.retrain`). TensorFlow and Keras are imported inside the functions.

Example:
    >>> model = nas.ensemble.build([first, second, third])                        # doctest: +SKIP
    >>> nas.ensemble.members(model)                          # the three members, as nested models
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import ConfigError

if TYPE_CHECKING:
    import keras

    from .data import Dataset

__all__ = ["MEMBER_PREFIX", "build", "members", "record", "describe", "markdown"]

MEMBER_PREFIX = "member_"


def _signature(model) -> tuple[tuple, int]:
    """(input shape without the batch axis, number of classes) of a one-input, one-output classifier."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError(f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; an "
                          f"ensemble member must take one image batch and return one vector of class probabilities")
    output = tuple(model.outputs[0].shape)
    if len(output) != 2:
        raise ConfigError(f"model {model.name!r} returns shape {output}; an ensemble member must return (batch, "
                          f"classes) probabilities")
    return tuple(model.inputs[0].shape[1:]), int(output[1])


def build(models: Sequence["keras.Model"], name: str = "ensemble") -> "keras.Model":
    """One functional model averaging the class probabilities of ``models`` (at least two, same input and classes).

    Each member becomes a nested model ``member_<i>`` over the same layers and weights (no copy, no optimizer state);
    the output is ``keras.layers.Average`` of the members' outputs, so the ensemble's probabilities are exactly the
    mean of the members' (the members must end in a softmax, as every model ``nas`` builds does).

    Raises:
        ConfigError: fewer than two models, or models that differ in input shape or number of classes.
    """
    import keras

    models = list(models)
    if len(models) < 2:
        raise ConfigError(f"an ensemble needs at least two models, got {len(models)}")
    signatures = [_signature(model) for model in models]
    if len(set(signatures)) != 1:
        described = "; ".join(f"{m.name}: input {s[0]}, {s[1]} classes" for m, s in zip(models, signatures))
        raise ConfigError(f"ensemble members must share the input shape and the classes; got {described}")
    shape, _ = signatures[0]
    inputs = keras.Input(shape=shape, dtype=models[0].inputs[0].dtype, name="image")
    wrapped = [keras.Model(model.inputs[0], model.outputs[0], name=f"{MEMBER_PREFIX}{i}")
               for i, model in enumerate(models, start=1)]
    outputs = keras.layers.Average(name="mean_probability")([member(inputs) for member in wrapped])
    return keras.Model(inputs, outputs, name=name)


def members(model: "keras.Model") -> list["keras.Model"] | None:
    """The members of an ensemble, or None when ``model`` is not one.

    The rule, structural so that it holds for a model loaded from a file: a functional model is an ensemble when its
    layers are its input, two or more nested models, and one ``keras.layers.Average`` that produces the output, with
    every nested model taking the ensemble's input shape and returning its output shape. :func:`build` makes such
    models; an ensemble assembled by hand the same way is recognised too.
    """
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    nested = [layer for layer in layers if isinstance(layer, keras.Model)]
    others = [layer for layer in layers if not isinstance(layer, keras.Model)]
    if (len(nested) < 2 or len(others) != 1 or not isinstance(others[0], keras.layers.Average)
            or layers[-1] is not others[0] or len(model.inputs) != 1 or len(model.outputs) != 1):
        return None
    expected = (tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:]))
    for member in nested:
        if (len(member.inputs) != 1 or len(member.outputs) != 1
                or (tuple(member.inputs[0].shape[1:]), tuple(member.outputs[0].shape[1:])) != expected):
            return None
    return nested


def record(model: "keras.Model", results: Sequence[Mapping[str, Any]], data: "Dataset") -> dict:
    """What ``final/history.json`` keeps of the ensemble ``model``: ``combination``, its ``validation`` figures
    (:func:`nas.training.score`, as for a single model) and ``members``, one per member in order: its ``member``
    name, ``genome_hash``, ``rank``, ``params`` and ``validation`` figures from ``results`` (what
    :func:`nas.retrain.retrain` recorded while training it) and its ``test`` report on ``data``'s test split
    (:func:`nas.report.evaluate_model`)."""
    from .report import evaluate_model
    from .training import Budget, score

    parts = members(model)
    if parts is None or len(parts) != len(results):
        raise ConfigError(f"model {model.name!r} is not an ensemble of {len(results)} members")
    return {"combination": "mean of the members' class probabilities", "validation": score(model, data, Budget(), 0),
            "members": [{"member": part.name, "genome_hash": result["genome_hash"], "rank": result["rank"],
                         "seed": result.get("seed"), "params": result["params"], "validation": result["validation"],
                         "test": evaluate_model(part, data.x_test, data.y_test, data.class_names,
                                                malignant=data.malignant or None)}
                        for part, result in zip(parts, results)]}


def describe(ensemble: Mapping[str, Any]) -> str:
    """What the :func:`record` ``ensemble`` averages, in words: ``3 retrained genomes (`a`, `b`, `c`)``, or, where
    genomes repeat (``nas retrain --seeds``), ``4 retrained models of 2 genomes (`a`, `b`)``."""
    hashes = [m["genome_hash"] for m in ensemble["members"]]
    distinct = list(dict.fromkeys(hashes))
    named = ", ".join(f"`{h}`" for h in distinct)
    if len(distinct) == len(hashes):
        return f"{len(hashes)} retrained genomes ({named})"
    return f"{len(hashes)} retrained models of {len(distinct)} genome{'s' * (len(distinct) > 1)} ({named})"


def markdown(report: Mapping[str, Any], ensemble: Mapping[str, Any]) -> str:
    """The ``report.md`` section comparing the ensemble's test figures (``report``) with each member's, from the
    :func:`record` ``ensemble``."""
    from .report import _percent

    rows = [("ensemble", "-", ensemble["validation"], report)]
    rows += [(f"{m['member']} (top {m['rank']}" + (f", seed {m['seed']})" if m.get("seed") is not None else ")"),
              f"`{m['genome_hash']}`", m["validation"], m["test"]) for m in ensemble["members"]]
    lines = ["", "## Ensemble members", "",
             f"The model is an ensemble of {describe(ensemble)}: its class probabilities are the mean of theirs. Each "
             f"member alone, on the same splits:", "",
             "| model | genome | validation balanced accuracy | test accuracy | test balanced accuracy |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {genome} | {_percent(validation.get('val_balanced_accuracy'))} | "
              f"{_percent(test['accuracy'])} | {_percent(test['balanced_accuracy'])} |"
              for name, genome, validation, test in rows]
    return "\n".join(lines) + "\n"
