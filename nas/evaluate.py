"""External evaluation: a run's model scored on another labelled data set, with the report ``nas retrain`` writes.

``nas evaluate RUN --data SPEC`` (or :func:`evaluate`) loads the run's final model (``final/model.keras``, else the
search's saved best) or any ``.keras`` file, reads the data set with the training pipeline's reader at the model's
input size, matches its labels to the model's classes by name, predicts (with test-time augmentation if asked,
:mod:`nas.tta`), applies the run's temperature when ``final/calibration.json`` has one (:mod:`nas.calibration`), and
writes ``report.json``, ``report.md`` and ``confusion_matrix.png`` (:func:`nas.report.write_report`) to
``RUN/evaluations/NAME/``. The run's own ``final/`` is never touched.

Which images are scored:

* ``folder:PATH``, ``ham10000:PATH``, ``isic:GROUND_TRUTH.csv[:IMAGES]`` (files on disk): every labelled image
  (:func:`nas.data.external_set`): an external set had no part in training. Missing and unreadable images are counted
  and named in the report. When the spec names the very data the run was trained on (same kind and folder), only its
  test split is scored, with the run's own split, since the rest trained or selected the model.
* any other data (``synthetic``, ``digits``, a spec dict, a :class:`nas.data.Dataset`): its test split.

The report dict is :func:`nas.report.classification_report`'s (of the test-time-augmented predictions when ``tta`` >
1) plus ``evaluation`` (what was scored: data, model, images listed, scored, missing, unreadable),
``temperature_scaling`` (whether the run's temperature was applied, and why), ``calibration`` (where it was: the
expected calibration error before and after and the run's operating point on these images,
:func:`nas.calibration.calibration_report`), ``test_time_augmentation`` (with and without, when ``tta`` > 1) and
``robustness`` (:func:`nas.shifts.robustness`, unless turned off; under the run's recall floors too, ``with_rule``,
when the run's model is scored and its calibration has them).

Example:
    >>> result = nas.evaluate.evaluate("runs/demo", "isic:ISIC2018_Task3_Test_GroundTruth.csv", tta=4)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .errors import ConfigError, DataError

if TYPE_CHECKING:
    import keras

    from .data import Dataset
    from .runs.reader import Run

__all__ = ["EVALUATIONS", "evaluate", "default_name"]

#: Where evaluations go, relative to the run folder: ``RUN/evaluations/NAME/``.
EVALUATIONS = "evaluations"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LISTED = 20  # file names quoted in report.md; report.json holds them all
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L" conversion and nas explain


@dataclass
class _Scored:
    """The images to score, labelled with the model's class indices, and where they came from."""

    x: np.ndarray
    y: np.ndarray
    description: dict = field(default_factory=dict)


def default_name(data: Any) -> str:
    """The evaluation's folder name for ``data``: the spec's kind and the file or folder name, e.g.
    ``isic-ISIC2018_Task3_Test_GroundTruth`` or ``folder-derm7pt``."""
    if isinstance(data, str):
        kind, _, path = data.strip().partition(":")
        stem = Path(re.split(r"(?<=\.csv):", path, flags=re.IGNORECASE)[0].rstrip("/\\")).stem if path else ""
        text = f"{kind}-{stem}" if stem else kind
    elif isinstance(data, Mapping):
        text = str(data.get("kind", "data"))
    else:
        text = str(getattr(data, "name", "data"))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "data"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"evaluation name {name!r}: use letters, digits, '.', '_' and '-' (it names the folder "
                          f"RUN/{EVALUATIONS}/NAME)")
    return name


def _load_model(run: "Run", model: str | os.PathLike | None) -> tuple["keras.Model", Path, bool]:
    """(model, its path, whether it is the run's own final model: the one a stored temperature belongs to)."""
    import keras

    from .calibration import CALIBRATION_FILE

    if model is None:
        path = run.model_path()
        if path is None:
            raise ConfigError(f"{run.path} has no saved model yet: run `nas retrain {run.path}` first, or pass "
                              f"--model FILE.keras")
    else:
        path = Path(model).expanduser()
        if path.suffix != ".keras" or not path.is_file():
            raise ConfigError(f"--model {model}: not a .keras file; pass a model saved by nas (e.g. "
                              f"RUN/final/model.keras)")
    try:
        loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:
        raise ConfigError(f"{path} cannot be loaded ({type(error).__name__}: {error})") from None
    own = path.resolve() == (run.path / CALIBRATION_FILE).parent.joinpath("model.keras").resolve()
    return loaded, path, own


def _input_size(model: "keras.Model", image_size: int | None) -> tuple[int, int, int]:
    """(height, width, channels) the model takes; ``image_size`` only for a model whose size is not fixed."""
    height, width, channels = tuple(model.input_shape[1:4])
    if height is None or width is None:
        if image_size is None:
            raise ConfigError("the model takes images of any size: pass --image-size (the size it was trained at)")
        return int(image_size), int(image_size), int(channels)
    if image_size is not None and (image_size, image_size) != (height, width):
        raise ConfigError(f"--image-size {image_size}: the model takes {height}x{width} images; leave --image-size "
                          f"out to use its size")
    return int(height), int(width), int(channels)


def _model_labels(found: tuple[str, ...], y: np.ndarray, class_names: list[str], source: str) -> np.ndarray:
    """``y`` (indices into ``found``) as indices into the model's ``class_names``, matching names in any case; labels
    of the set that the model does not know raise one :class:`DataError` naming them."""
    index = {name.lower(): i for i, name in enumerate(class_names)}
    used = sorted({found[i] for i in np.unique(y)})
    unknown = [name for name in used if name.lower() not in index]
    if unknown:
        raise DataError(f"{source}: label{'s' * (len(unknown) > 1)} {', '.join(unknown)} not among the model's "
                        f"classes ({', '.join(class_names)}); evaluate on a set whose labels are among them (a subset "
                        f"is fine)")
    return np.array([index[name.lower()] for name in found], np.int64)[y] if len(y) else y


def _own_data(data: str, run_spec: Mapping) -> bool:
    """Whether the file form ``data`` names the data set the run was trained on (same kind and path)."""
    from .data.isic import parse_form

    kind, _, path = data.strip().partition(":")
    kind = {"folder": "image_folder"}.get(kind.lower(), kind.lower())
    recorded = run_spec.get("root", run_spec.get("path"))  # HAM10000's spec names its folder "root"
    if kind != run_spec.get("kind") or recorded is None or not path.strip():
        return False
    path = parse_form(data, path)[0] if kind == "isic" else path.strip()
    return Path(path).expanduser().resolve() == Path(str(recorded)).resolve()


def _from_files(run: "Run", data: str, size: tuple[int, int], workers: int | None) -> _Scored:
    from .data import external_set

    if _own_data(data, run.config.get("data") or {}):
        return _test_split(run, run.dataset(), f"{data} (the run's own data: its test split)")
    found = external_set(data, size, workers=workers)
    y = _model_labels(found.class_names, found.y, list(run.config["class_names"]), data)
    return _Scored(found.x, y, {
        "data": data, "set": found.spec, "images": "all", "listed": found.listed, "scored": len(y),
        "missing": found.missing, "unreadable": found.unreadable, "converted_to_rgb": found.converted})


def _test_split(run: "Run", dataset: "Dataset", source: str) -> _Scored:
    y = _model_labels(dataset.class_names, dataset.y_test, list(run.config["class_names"]), source)
    return _Scored(dataset.x_test, y, {"data": source, "set": dataset.spec, "images": "test split",
                                       "listed": len(y), "scored": len(y), "missing": [], "unreadable": [],
                                       "converted_to_rgb": []})


def _scored_images(run: "Run", data: Any, shape: tuple[int, int, int], workers: int | None) -> _Scored:
    """The images to score and their labels in the model's class order (see the module docstring for which)."""
    from . import data as data_module
    from .data.external import EXTERNAL_FORMS

    height, width, channels = shape
    if isinstance(data, str) and data.strip().partition(":")[0].lower() in EXTERNAL_FORMS:
        scored = _from_files(run, data, (height, width), workers)
    else:
        if isinstance(data, str):
            dataset = data_module.parse(data, image_size=height, seed=(run.config.get("data") or {}).get("seed", 0))
        else:
            dataset = data_module.coerce(data)
        scored = _test_split(run, dataset, data if isinstance(data, str) else dataset.name)
    if scored.x.shape[1:3] != (height, width):
        raise DataError(f"the data's images are {scored.x.shape[1]}x{scored.x.shape[2]} but the model takes "
                        f"{height}x{width}; build the data at the model's size")
    if channels == 1 and scored.x.shape[-1] == 3:
        scored.x = scored.x @ _LUMA[:, None]
    elif channels != scored.x.shape[-1]:
        raise DataError(f"the data's images have {scored.x.shape[-1]} channels but the model takes {channels}")
    return scored


def _augmentation(run: "Run") -> Any:
    """The augmentation the run's final model was trained with (``final/history.json``), else the default."""
    from .augment import Augmentation

    history = run.path / "final" / "history.json"
    try:
        settings = json.loads(history.read_text())["settings"]["augmentation"]
    except (OSError, ValueError, KeyError, TypeError):
        return Augmentation()
    return Augmentation.from_dict(settings)


def _calibration(run: "Run", own_model: bool) -> dict:
    from .calibration import read_calibration

    stored = read_calibration(run.path)
    if stored is None:
        return {"applied": False, "temperature": None, "why": "the run stores no temperature (final/calibration.json)"}
    if not own_model:
        return {"applied": False, "temperature": None,
                "why": "the run's temperature belongs to its final/model.keras, not to this model file"}
    return {"applied": True, "temperature": float(stored["temperature"]),
            "why": "temperature scaling fitted on the validation split at retrain (final/calibration.json)"}


def _summary(report: Mapping) -> dict:
    binary = report.get("benign_vs_malignant") or {}
    return {"accuracy": report["accuracy"], "balanced_accuracy": report["balanced_accuracy"],
            "macro_f1": report["macro"]["f1"], "melanoma_sensitivity": report["melanoma_sensitivity"],
            "malignant_sensitivity": binary.get("sensitivity"), "roc_auc_macro": report["roc_auc_macro"],
            "expected_calibration_error": report["expected_calibration_error"]}


def _predictions(model: "keras.Model", x: np.ndarray, views: int, augmentation: Any) -> np.ndarray:
    """The model's own probabilities (rows summing to 1), averaged over ``views`` test-time views."""
    from . import tta

    p = tta.predict(model, x, views=views, augmentation=augmentation)
    return p / p.sum(axis=1, keepdims=True)


def _report(model: "keras.Model", x: np.ndarray, y: np.ndarray, class_names: list[str], views: int,
            augmentation: Any, temperature: float | None, say: Callable[[str], None]) -> tuple[dict, np.ndarray]:
    """:func:`nas.report.classification_report` of the predictions, temperature-scaled when ``temperature`` is given
    (with ``views`` test-time views; above 1, with ``test_time_augmentation`` holding the figures with and without),
    and the model's own probabilities it scored."""
    from .calibration import apply_temperature
    from .report import classification_report
    from .tta import view_names

    def scored(raw: np.ndarray) -> dict:
        return classification_report(y, raw if temperature is None else apply_temperature(raw, temperature),
                                     class_names)

    raw = _predictions(model, x, 1, augmentation)
    report = scored(raw)
    if views == 1:
        return report, raw
    say(f"test-time augmentation: {views} views")
    raw = _predictions(model, x, views, augmentation)
    augmented = scored(raw)
    augmented["test_time_augmentation"] = {"views": views, "view_names": view_names(augmentation)[:views],
                                           "without": _summary(report), "with": _summary(augmented)}
    return augmented, raw


def _names(items: list[str]) -> str:
    from .data.files import _names as listed

    return listed(items, _LISTED) + (" (all in report.json)" if len(items) > _LISTED else "")


def _evaluation_markdown(report: Mapping) -> str:
    what, calibration = report["evaluation"], report["temperature_scaling"]
    lines = ["## Evaluation set", "", f"- data: `{what['data']}` ({what['images']} images)",
             f"- model: `{what['model']}`, input {what['input_size'][0]}x{what['input_size'][1]}"
             + (", Shades of Gray colour constancy applied to every image" if what["colour_constancy"] else ""),
             f"- images listed: {what['listed']}; scored: {what['scored']}; missing: {len(what['missing'])}; "
             f"unreadable: {len(what['unreadable'])}"]
    if what["missing"]:
        lines.append(f"- missing (listed, not found): {_names(what['missing'])}")
    if what["unreadable"]:
        lines.append(f"- unreadable (not scored): {_names(what['unreadable'])}")
    if what["converted_to_rgb"]:
        lines.append(f"- converted to RGB: {_names(what['converted_to_rgb'])}")
    lines.append(f"- probabilities: calibrated with temperature {calibration['temperature']:.3f} ({calibration['why']})"
                 if calibration["applied"] else f"- probabilities: not calibrated ({calibration['why']})")
    absent = report.get("absent_classes") or []
    if absent:
        lines.append(f"- classes of the model absent from this set: {', '.join(absent)}")
    return "\n".join(lines) + "\n\n"


def _tta_markdown(tta: Mapping) -> str:
    rows = [("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"), ("macro F1", "macro_f1"),
            ("melanoma sensitivity", "melanoma_sensitivity"), ("malignant sensitivity", "malignant_sensitivity"),
            ("expected calibration error", "expected_calibration_error")]
    lines = ["## Test-time augmentation", "", f"{tta['views']} views ({', '.join(tta['view_names'])}), probabilities "
             f"averaged; the figures above are with it.", "", "| metric | without | with |", "|---|---|---|"]
    for label, key in rows:
        plain, augmented = tta["without"][key], tta["with"][key]
        if plain is not None:
            lines.append(f"| {label} | {plain:.3f} | {augmented:.3f} |")
    return "\n".join(lines) + "\n"


def _write(run: "Run", name: str, report: dict, title: str) -> list[Path]:
    from .report import write_report
    from .runs.writer import RunFolder

    out = run.path / EVALUATIONS / name
    paths = write_report(report, out, title=title)
    head, marker, rest = (out / "report.md").read_text().partition("## Metrics")
    if report["evaluation"]["images"] == "all":  # write_report speaks of a test split; here every image is scored
        head = head.replace("Test split:", "Images scored:", 1).replace("of the test split", "of the images scored", 1)
    extra = [_tta_markdown(report["test_time_augmentation"])] if report.get("test_time_augmentation") else []
    text = head + _evaluation_markdown(report) + marker + rest + "".join("\n" + part for part in extra)
    RunFolder(out).write_bytes("report.md", text.encode())
    return paths


def evaluate(run: "str | os.PathLike | Run", data: Any, *, name: str | None = None,
             model: str | os.PathLike | None = None, tta: int = 1, robustness: bool = True,
             colour_constancy: bool = False, image_size: int | None = None, workers: int | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """Score a run's model on ``data`` and write ``RUN/evaluations/NAME/`` (``report.json``, ``report.md``,
    ``confusion_matrix.png``).

    Args:
        run: a run folder path or a :class:`nas.Run`.
        data: a ``--data`` string (``isic:GROUND_TRUTH.csv[:IMAGES]``, ``folder:PATH``, ``ham10000:PATH``, ...), a spec
            dict or a :class:`nas.data.Dataset`; which images are scored: see the module docstring.
        name: the evaluation's folder name (default :func:`default_name` of ``data``).
        model: a ``.keras`` file to score instead of the run's (``final/model.keras``, else ``best/model.keras``).
        tta: test-time views (:func:`nas.tta.predict`, the flips and rotations the run was trained with); above 1 the
            report gives the figures with and without.
        robustness: add :func:`nas.shifts.robustness` (camera-like shifts, without test-time augmentation).
        colour_constancy: apply :func:`nas.shifts.shades_of_gray` to every image (clean and shifted) before the model.
        image_size: the input size for a model whose input size is not fixed.
        workers: threads that decode images.
        progress: called with one line per step (the CLI prints them).

    Returns ``{"name", "report", "out_dir", "files"}``.
    """
    from . import shifts
    from . import tta as tta_module
    from .calibration import calibration_report, decision_rule, read_calibration
    from .runs.reader import Run

    say = progress or (lambda line: None)
    run = run if isinstance(run, Run) else Run(run)
    name = _check_name(name if name is not None else default_name(data))
    augmentation = _augmentation(run)
    views = len(tta_module.view_names(augmentation))
    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or not 1 <= tta <= views:
        raise ConfigError(f"--tta takes 1 to {views} views for this run's augmentation, got {tta!r}")
    loaded, path, own = _load_model(run, model)
    class_names = list(run.config["class_names"])
    if int(loaded.output_shape[-1]) != len(class_names):
        raise ConfigError(f"{path} has {loaded.output_shape[-1]} outputs but the run has {len(class_names)} classes; "
                          f"pass a model of this run")
    shape = _input_size(loaded, image_size)
    say(f"reading {data if isinstance(data, str) else default_name(data)} at {shape[0]}x{shape[1]}")
    scored = _scored_images(run, data, shape, workers)
    prepare = shifts.shades_of_gray if colour_constancy else (lambda images: images)
    x = prepare(scored.x)
    calibration = _calibration(run, own)
    say(f"scoring {len(scored.y)} images with {path}")
    report, raw = _report(loaded, x, scored.y, class_names, tta, augmentation, calibration["temperature"], say)
    report["evaluation"] = {**scored.description, "model": str(path), "input_size": list(shape[:2]),
                            "colour_constancy": colour_constancy}
    report["temperature_scaling"] = calibration
    stored = read_calibration(run.path)
    if calibration["applied"] and stored is not None:  # ECE before and after, and the operating point, on this set
        report["calibration"] = calibration_report(scored.y, raw, stored, class_names)
    if robustness:
        say("robustness to camera-like shifts")
        rule = decision_rule(stored if calibration["applied"] else None, class_names)
        report["robustness"] = shifts.robustness(lambda images: _predictions(loaded, prepare(images), 1, None),
                                                 scored.x, scored.y, class_names, progress=say, rule=rule)
    files = _write(run, name, report, title=f"{run.path.name}: {Path(path).name} on {scored.description['data']}")
    return {"name": name, "report": report, "out_dir": str(run.path / EVALUATIONS / name),
            "files": [str(f) for f in files]}
