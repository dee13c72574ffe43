"""``nas export``: write a run's model as a Keras file or a TFLite flat buffer, and check it against the Keras model.

The export is checked before it is written: it predicts the test split of the run's data and its top-1 class must
agree with the Keras model's on at least 99% of the images for an unquantised export (float16 and int8 exports report
their agreement without a threshold). Size and per-image CPU latency (median over repeated single-image calls, after a
warm-up) are measured for the export and for the Keras model.

Example:
    >>> from nas.export import export                                          # doctest: +SKIP
    >>> figures = export("runs/demo", "tflite", quantize="int8")
    >>> figures["path"], figures["size_bytes"], figures["latency_ms"], figures["agreement"]
"""
from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import ConfigError, NasError
from .files import write_atomic
from .runs.writer import RunFolder

if TYPE_CHECKING:
    import keras

    from .data import Dataset
    from .runs.reader import Run

__all__ = ["FORMATS", "QUANTIZE", "MIN_FLOAT_AGREEMENT", "ExportError", "export", "check_agreement", "to_tflite",
           "tflite_predictor", "latency_ms"]

FORMATS = ("keras", "tflite")
QUANTIZE = ("float16", "int8")
MIN_FLOAT_AGREEMENT = 0.99
LATENCY_REPEATS = 50
REPRESENTATIVE_IMAGES = 200
_BATCH = 64


class ExportError(NasError):
    """The model could not be converted, or the export does not predict what the Keras model predicts."""


def _default_name(format: str, quantize: str | None) -> str:
    stem = "model" if quantize is None else f"model_{quantize}"
    return f"{stem}.{format}"


def _check_options(format: str, quantize: str | None) -> None:
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE)} (or none)")
    if quantize is not None and format != "tflite":
        raise ConfigError(f"quantization ({quantize}) needs --format tflite; a Keras file keeps float32 weights")


def _quiet():
    """Silence what the converter prints to stdout (Keras' SavedModel export) and its deprecation warnings."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def to_tflite(model: "keras.Model", quantize: str | None = None, representative: np.ndarray | None = None) -> bytes:
    """The TFLite flat buffer of a Keras model; inputs and outputs stay float32 ([0, 1] images in, probabilities out).

    Args:
        model: the Keras model.
        quantize: None (float32), "float16" (weights stored as float16) or "int8" (weights and activations in int8,
            calibrated on ``representative``).
        representative: images for int8 calibration (a few hundred of the training split).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative is None or not len(representative):
            raise ConfigError("int8 quantization needs representative images (from the training split)")
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        with _quiet():
            return converter.convert()
    except Exception as error:  # the converter raises many kinds (ConverterError, ValueError, RuntimeError)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"TFLite conversion{f' ({quantize})' if quantize else ''} failed: {first}") from None


def _interpreter(content: bytes):
    import tensorflow as tf

    with _quiet():  # tf.lite.Interpreter warns that it moves to the ai_edge_litert package
        return tf.lite.Interpreter(model_content=content, num_threads=os.cpu_count())


def tflite_predictor(content: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """A function images -> probabilities that runs the TFLite model ``content`` in batches."""
    interpreter = _interpreter(content)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape = list(source["shape"][1:])
    interpreter.resize_tensor_input(source["index"], [_BATCH, *shape])
    interpreter.allocate_tensors()

    def predict(x: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(x), _BATCH):
            chunk = np.asarray(x[start:start + _BATCH], dtype=np.float32)
            padded = np.zeros((_BATCH, *shape), np.float32)  # the last, short batch is padded and trimmed again
            padded[:len(chunk)] = chunk
            interpreter.set_tensor(source["index"], padded)
            interpreter.invoke()
            outputs.append(np.array(interpreter.get_tensor(target["index"])[:len(chunk)], dtype=np.float64))
        return np.concatenate(outputs)

    return predict


def latency_ms(call: Callable[[], object], repeats: int = LATENCY_REPEATS, warmup: int = 3) -> float:
    """Median wall time of ``call()`` in milliseconds over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        call()
        times.append(time.perf_counter() - clock)
    return 1000 * statistics.median(times)


def _keras_latency(model, image: np.ndarray, repeats: int) -> float:
    import tensorflow as tf

    with tf.device("/CPU:0"):
        return latency_ms(lambda: model.predict_on_batch(image), repeats)


def _tflite_latency(content: bytes, image: np.ndarray, repeats: int) -> float:
    interpreter = _interpreter(content)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def call():
        interpreter.set_tensor(source["index"], image)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return latency_ms(call, repeats)


def check_agreement(agreement: float, count: int, quantize: str | None, path: Path) -> None:
    """Raise :class:`ExportError` when an unquantised export agrees with the Keras model on under 99% of images."""
    if quantize is None and agreement < MIN_FLOAT_AGREEMENT:
        raise ExportError(f"the export agrees with the Keras model on only {agreement:.1%} of {count} test images "
                          f"(an unquantised export must agree on at least {MIN_FLOAT_AGREEMENT:.0%}), so {path} was "
                          f"not written: the conversion changed the model's predictions (try --format keras, or "
                          f"another TensorFlow version)")


def _without_optimizer(model):
    """``model`` itself when uncompiled, else an uncompiled copy: a deployed file needs no optimizer state (Adam's
    two moments would triple its size)."""
    import keras

    if getattr(model, "optimizer", None) is None:
        return model
    # A new functional model over the same layers shares the weights and has no compile state.
    return keras.Model(model.input, model.output, name=model.name)


def _resolve(run_or_model):
    """(model, run or None) from a Run, a run folder path or a keras.Model."""
    import keras

    from .runs.reader import Run

    if isinstance(run_or_model, keras.Model):
        return run_or_model, None
    if isinstance(run_or_model, (str, os.PathLike)):
        run_or_model = Run(run_or_model)
    if isinstance(run_or_model, Run):
        return run_or_model.model(), run_or_model
    raise ConfigError(f"export takes a run folder, a nas.Run or a keras.Model, got {type(run_or_model).__name__}")


def export(run_or_model: "str | os.PathLike | Run | keras.Model", format: str = "keras",
           quantize: str | None = None, out: str | os.PathLike | None = None,
           data: "Dataset | tuple | dict | str | None" = None, *, repeats: int = LATENCY_REPEATS) -> dict:  # noqa: A002 - the CLI's --format
    """Export a run's model (or a given model), check it on the test split, and return its figures.

    Args:
        run_or_model: a run folder path or :class:`nas.Run` (its model is ``Run.model()``: the retrained
            ``final/model.keras`` if there is one, else the search's best genome), or a ``keras.Model``.
        format: "keras" or "tflite".
        quantize: None, "float16" or "int8" (tflite only); int8 calibrates on up to 200 training images.
        out: the file to write; default ``RUN/export/model[_QUANTIZE].FORMAT``. Required for a bare model.
        data: the dataset whose test split checks the export (and whose training split calibrates int8); default
            the run's recorded data. Required for a bare model.
        repeats: single-image calls timed for each latency.

    Returns:
        ``{"path", "format", "quantize", "size_bytes", "latency_ms", "keras_latency_ms", "agreement", "agreeing",
        "test_images", "min_agreement"}``: latencies are per-image CPU medians; ``agreement`` is the fraction of test
        images where the export's top-1 class is the Keras model's; ``min_agreement`` is 0.99 for an unquantised
        export (else None).

    Raises:
        ConfigError: a bad format, quantization, output path, run folder or data.
        ExportError: the conversion failed, or an unquantised export agrees on under 99% of test images (then nothing
            is written).
    """
    from . import data as data_module
    from .training import predict, subset

    _check_options(format, quantize)
    model, run = _resolve(run_or_model)
    if run is None and (out is None or data is None):
        raise ConfigError("exporting a bare keras.Model needs out= (the file to write) and data= (to check it)")
    dataset = run.dataset(data) if run is not None else data_module.coerce(data)
    if tuple(dataset.input_shape) != tuple(int(d) for d in model.input_shape[1:]):
        raise ConfigError(f"the data's images are {dataset.input_shape} but the model takes "
                          f"{tuple(model.input_shape[1:])}; pass the data the model was trained on")
    relative = f"export/{_default_name(format, quantize)}"  # in the run folder, when no out= is given
    path = Path(out) if out is not None else run.path / relative
    if path.suffix != f".{format}":
        raise ConfigError(f"--out {path}: a {format} export must be a .{format} file")

    reference = predict(model, dataset.x_test)
    with tempfile.TemporaryDirectory() as scratch:
        if format == "keras":
            import keras

            saved = Path(scratch) / "model.keras"
            _without_optimizer(model).save(saved)
            content = saved.read_bytes()
            exported = keras.models.load_model(saved, safe_mode=True, compile=False)
            probabilities = predict(exported, dataset.x_test)
        else:
            picked = subset(len(dataset.x_train), REPRESENTATIVE_IMAGES, seed=0)
            representative = dataset.x_train if picked is None else dataset.x_train[picked]
            content = to_tflite(model, quantize, representative if quantize == "int8" else None)
            probabilities = tflite_predictor(content)(dataset.x_test)
    agreeing = int(np.sum(probabilities.argmax(axis=1) == reference.argmax(axis=1)))
    agreement = agreeing / len(reference)
    check_agreement(agreement, len(reference), quantize, path)

    image = dataset.x_test[:1].astype(np.float32)
    latency = (_keras_latency(exported, image, repeats) if format == "keras"
               else _tflite_latency(content, image, repeats))
    figures = {"path": str(path), "format": format, "quantize": quantize, "size_bytes": len(content),
               "latency_ms": latency, "keras_latency_ms": _keras_latency(model, image, repeats),
               "agreement": agreement, "agreeing": agreeing, "test_images": len(reference),
               "min_agreement": MIN_FLOAT_AGREEMENT if quantize is None else None}
    if out is None:
        RunFolder(run.path).write_bytes(relative, content)
    else:  # a file of the user's choosing, maybe outside any run folder
        write_atomic(path, content, parents=True)
    return figures
