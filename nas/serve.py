"""The clinician's web page (``nas serve RUN``): upload a lesion photo, get the class, benign or malignant, the
confidence, a Grad-CAM heatmap and a next step; a second tab shows the model card.

:class:`Predictor` is the whole prediction behind the page and needs no browser or Gradio::

    >>> predictor = Predictor.from_run("runs/demo")                            # doctest: +SKIP
    >>> result = predictor.predict("photo.jpg")
    >>> result["top"][0], result["malignant_probability"], result["level"], result["suggestion"]

:func:`build_app` wraps it in a Gradio page (``pip install "nas[ui]"``) and :func:`serve` launches that page on
127.0.0.1. Bad uploads (not an image, empty, a decompression bomb, too large) come back as one clear line on the
page, never as a stack trace, and the server goes on answering.
"""
from __future__ import annotations

import functools
import html
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .augment import Augmentation
from .calibration import apply_temperature, read_calibration
from . import ensemble
from .data import MALIGNANT
from .decision import decide
from .errors import ConfigError, DataError, NasError
from .images import MAX_BYTES, UPLOAD_FORMATS, Source, open_image, to_array
from .model_card import display_name, probability_lines, read_json, report_lines, value_text
from .report import malignant_columns
from .runs.reader import FINAL_MODEL
from .tta import view_names

if TYPE_CHECKING:
    import gradio
    import keras

    from .runs.reader import Run

DISCLAIMER = ("This is a research tool, not a diagnosis. It was trained on a limited data set and can be wrong; only a "
              "doctor who examines the skin can diagnose a lesion. If a spot worries you, changes, bleeds or itches, "
              "see a doctor whatever this page says.")
#: P(malignant) at or above which the page says a malignant lesion is likely. A run's operating point (its referral
#: threshold, :mod:`nas.calibration`) below this sends P(malignant) from the threshold up to a dermatologist too.
MALIGNANT_LIKELY = 0.5
#: Below this top-class probability the model counts as unsure.
CONFIDENT = 0.6
#: From this P(malignant) up to MALIGNANT_LIKELY the page asks for a doctor's look instead of reassuring.
MALIGNANT_POSSIBLE = 0.2
SUGGESTIONS = {
    "malignant": "A malignant lesion is likely. See a dermatologist promptly (within two weeks) and show them this "
                 "spot; do not wait for it to change.",
    "refer": "A malignant lesion cannot be ruled out: the malignant probability is at or above the level this model "
             "was set to refer at, chosen to catch most malignant lesions. See a dermatologist and show them this "
             "spot.",
    "unsure": "The model is unsure about this image. Have a doctor or dermatologist look at the spot; a sharper, "
              "well-lit close-up (or a dermatoscope image) may also give a clearer answer.",
    "benign": "The lesion looks benign to the model. Keep an eye on it: see a doctor if it changes in size, shape or "
              "colour, bleeds, itches, or looks different from your other moles.",
    "confident": "The model is confident about this class.",
}
TOP_CLASSES = 3
DISPLAY_SIDE = 448  # longest side of the photo and heatmap shown on the page
HOSTS_LOCAL = ("127.0.0.1", "localhost", "::1")
#: Uploads and result images are deleted from Gradio's cache at most this many seconds after they were made ...
UPLOAD_LIFETIME = 3600
#: ... by a sweep every CACHE_SWEEP seconds that deletes those older than UPLOAD_LIFETIME - CACHE_SWEEP.
CACHE_SWEEP = 300


def malignant_probability(probabilities: np.ndarray, class_names: Sequence[str]) -> float | None:
    """The benign/malignant roll-up: the summed probability of the malignant classes (mel, bcc, akiec), or None when
    the classes are not HAM10000's (the rule of the test report, :func:`nas.report.malignant_columns`)."""
    columns = malignant_columns(class_names)
    return None if columns is None else float(np.sum(np.asarray(probabilities)[columns]))


def advise(top_probability: float, malignant: float | None, threshold: float | None = None) -> str:
    """What the page suggests: ``"malignant"`` (likely malignant), ``"refer"`` (P(malignant) at or above the run's
    operating point ``threshold``), ``"unsure"`` (low confidence, or a malignant class not unlikely), ``"benign"``
    (benign and confident), or ``"confident"`` for non-lesion classes. The text is in :data:`SUGGESTIONS`.

    The levels are tried in that order, so the threshold only adds referrals: from it up to :data:`MALIGNANT_LIKELY`
    the page sends to a dermatologist; a threshold at or above :data:`MALIGNANT_LIKELY` changes nothing; below the
    threshold, :data:`CONFIDENT` and :data:`MALIGNANT_POSSIBLE` decide as without one.
    """
    if malignant is not None and malignant >= MALIGNANT_LIKELY:
        return "malignant"
    if malignant is not None and threshold is not None and malignant >= threshold:
        return "refer"
    if top_probability < CONFIDENT or (malignant is not None and malignant >= MALIGNANT_POSSIBLE):
        return "unsure"
    return "confident" if malignant is None else "benign"


def _fit(image, side: int) -> np.ndarray:
    """The Pillow ``image`` as floats, scaled so that its longest side is ``side`` pixels (up or down), aspect kept."""
    width, height = image.size
    scale = side / max(height, width)
    return to_array(image, size=(max(1, round(height * scale)), max(1, round(width * scale))))


class Predictor:
    """The prediction behind the page: one model, loaded once, applied to one image at a time.

    Args:
        model: a Keras classifier taking images in [0, 1] and returning class probabilities.
        class_names: one name per output, as the run records them (e.g. ``"mel"``).
        run: the run the model comes from, for the model card (None for a bare model).
        gradcam_layer: the layer Grad-CAM looks at; None lets :func:`nas.explain.gradcam` pick the last conv layer.
        calibration: the run's ``final/calibration.json`` (:func:`nas.calibration.read_calibration`): its
            ``temperature`` scales every probability the page shows, its ``operating_point`` threshold on P(malignant)
            is where the advice starts to refer (:func:`advise`), its ``recall_floors`` (:mod:`nas.decision`) choose
            the class the page names. None: the model's own probabilities, no threshold, the most likely class.
        tta: average the probabilities over this many views of the photo (:func:`nas.tta.predict`; 1: the photo
            alone). Grad-CAM always looks at the photo itself.
        augmentation: the training augmentation whose flips and rotations the views are (None: the retrain's
            default :class:`nas.augment.Augmentation`).
    """

    def __init__(self, model: "keras.Model", class_names: Sequence[str], run: "Run | None" = None,
                 gradcam_layer: str | None = None, *, calibration: dict | None = None, tta: int = 1,
                 augmentation: Augmentation | None = None) -> None:
        self.model = model
        self.class_names = tuple(class_names)
        self.run = run
        self.gradcam_layer = gradcam_layer
        self.calibration = calibration
        self.temperature: float | None = calibration["temperature"] if calibration else None
        point = (calibration or {}).get("operating_point")
        self.threshold: float | None = point["threshold"] if point else None
        floors = (calibration or {}).get("recall_floors")
        self.offsets: dict[str, float] = dict(floors["offsets"]) if floors else {}
        views = view_names(augmentation)
        if isinstance(tta, bool) or not isinstance(tta, int) or not 1 <= tta <= len(views):
            raise ConfigError(f"tta must be 1 to {len(views)} views with this model's training augmentation "
                              f"({', '.join(views)}), got {tta!r}")
        self.tta, self.augmentation = tta, augmentation
        shape = tuple(model.input_shape[1:])
        self.input_size = (int(shape[0]), int(shape[1]))
        self.channels = int(shape[2])
        outputs = int(model.output_shape[-1])
        if outputs != len(self.class_names):
            raise ConfigError(f"the model has {outputs} outputs but {len(self.class_names)} class names were given")

    @classmethod
    def from_run(cls, run: "str | os.PathLike | Run", *, tta: int = 1) -> "Predictor":
        """The model of a run folder (or :class:`nas.Run`): the retrained ``final/model.keras`` in Keras safe mode,
        with its calibration and training augmentation, else the search's best genome, trained once and cached (see
        :meth:`nas.Run.model`), uncalibrated."""
        from .runs.reader import Run

        run = run if isinstance(run, Run) else Run(run)
        model = run.model()
        retrained = run.model_path() == run.path / FINAL_MODEL
        history = read_json(run.path / "final" / "history.json") if retrained else None
        augmentation = Augmentation.from_dict(history["settings"]["augmentation"]) if history else None
        return cls(model, run.config["class_names"], run=run, calibration=read_calibration(run.path) if retrained
                   else None, tta=tta, augmentation=augmentation)

    def predict(self, source: Source) -> dict[str, Any]:
        """Classify one image and explain it.

        Args:
            source: a path, the file's bytes, a file object or an image array: a JPEG or PNG
                (:data:`nas.images.UPLOAD_FORMATS`) of any size up to 40 megapixels and any colour mode, EXIF-rotated
                phone photos included.

        Returns:
            A dict: ``probabilities`` (one per class, summing to 1), ``top`` (the :data:`TOP_CLASSES` most likely
            classes as (display name, probability), best first), ``class_name`` and ``probability`` of the class the
            page names (the most likely one, unless a recall floor names another: then ``named_by_floor`` is True),
            ``malignant_probability`` (None for non-lesion classes), ``verdict`` ("benign"/"malignant"/None),
            ``threshold`` (the operating point, or None), ``level`` and ``suggestion`` (see :func:`advise`),
            ``calibrated`` (whether a temperature was applied), ``disclaimer``, ``image`` (the photo, uint8, longest
            side :data:`DISPLAY_SIDE`), ``heatmap`` (float in [0, 1] at the model's input size) and ``overlay`` (the
            heatmap over ``image``, uint8, the same size).

        Raises:
            DataError: the source is not a readable JPEG or PNG image (one line naming the problem).
        """
        from .explain import gradcam, overlay

        # The photo stays a uint8 Pillow image (a large one already halved as it was decoded); only the model-sized
        # and the display-sized copies become floats. The model's input is nas.read_image(source, size), as in training.
        photo = open_image(source, formats=UPLOAD_FORMATS)
        x = to_array(photo, self.input_size)
        if self.channels == 1:
            x = x.mean(axis=-1, keepdims=True)
        batch = x[None]
        probabilities = self.probabilities(batch)[0]
        order = np.argsort(-probabilities)
        best = int(decide(probabilities[None], self.class_names, self.offsets)[0])
        heatmap = gradcam(self.model, batch, class_index=best, layer=self.gradcam_layer)[0]
        shown = _fit(photo, DISPLAY_SIDE)
        malignant = malignant_probability(probabilities, self.class_names)
        level = advise(float(probabilities[best]), malignant, self.threshold)
        return {
            "probabilities": probabilities,
            "top": [(display_name(self.class_names[i]), float(probabilities[i])) for i in order[:TOP_CLASSES]],
            "class_name": display_name(self.class_names[best]),
            "named_by_floor": best != int(order[0]),
            "probability": float(probabilities[best]),
            "malignant_probability": malignant,
            "verdict": None if malignant is None else ("malignant" if malignant >= MALIGNANT_LIKELY else "benign"),
            "threshold": self.threshold,
            "level": level,
            "calibrated": self.temperature is not None,
            "suggestion": SUGGESTIONS[level],
            "disclaimer": DISCLAIMER,
            "image": np.round(shown * 255).astype(np.uint8),
            "heatmap": heatmap,
            "overlay": overlay(shown, heatmap),
        }

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The class probabilities the page shows for a batch of model-sized images: averaged over the :attr:`tta`
        views, then temperature-scaled when the run is calibrated."""
        from .tta import predict

        probabilities = predict(self.model, x, views=self.tta, augmentation=self.augmentation)
        probabilities /= probabilities.sum(axis=1, keepdims=True)  # float32 softmax sums to 1 only within ~1e-6
        return probabilities if self.temperature is None else apply_temperature(probabilities, self.temperature)

    def warm_up(self) -> None:
        """Run one prediction so that the first visitor does not wait for TensorFlow to trace the model."""
        self.predict(np.full(self.input_size + (3,), 0.5, np.float32))

    # -- the model card ------------------------------------------------------------------------------------------
    def model_card(self) -> str:
        """Markdown: which run and genome, the retrained model's metrics on the test split (or, before ``nas
        retrain``, the search's validation metrics), the data it was trained on, whether the probabilities are
        calibrated and where the referral threshold stands (:func:`nas.model_card.probability_lines`)."""
        if self.run is None:
            return "A model given directly, not from a run folder: there is no record of how it was trained."
        run, config = self.run, self.run.config
        final = run.path / "final"
        history = read_json(final / "history.json") if run.model_path() == run.path / FINAL_MODEL else None
        report = read_json(final / "report.json") if history is not None else None
        best = run.best
        saved = run.model_path()
        assert saved is not None, "the model card of a run whose model was never loaded"  # from_run loads (saves) it
        genome_hash, genome = (history["genome_hash"], history["genome"]) if history else (
            (best.genome_hash, best.genome) if best else (None, None))
        # The page is open to whoever can reach the server: it names the run folder, never a path on the server.
        lines = [f"### Run `{run.path.name}`",
                 f"- search space **{config['space']['name']}**, population {config['population']} x "
                 f"{config['generations']} generations, seed {config['seed']}, objectives {', '.join(run.objectives)}",
                 f"- model `{saved.relative_to(run.path)}`: " + (
                     f"genome `{genome_hash}`, retrained (up to {history['settings']['epochs']} epochs, early "
                     f"stopping on the validation loss)" if history else
                     f"genome `{genome_hash}`, the search's best, trained with the search's short budget "
                     f"(**not retrained yet**: run `nas retrain` on `{run.path.name}`)"),
                 f"- input {'x'.join(map(str, config['input_shape']))}, {len(self.class_names)} classes: "
                 + ", ".join(display_name(c) for c in self.class_names)]
        if history and history.get("ensemble"):
            lines.insert(3, f"- an **ensemble** of {ensemble.describe(history['ensemble'])}: the mean of their "
                            f"probabilities; the heatmap is the mean of theirs; the genome named is its member best "
                            f"on the validation split")
        data = config["data"]
        lines += ["", "### Data it was trained on", f"- data set **{data.get('name') or data.get('kind')}**"]
        sizes = history["settings"]["split_sizes"] if history else self._split_sizes()
        grouped = " (split by lesion: no lesion is in two splits)" if data.get("kind") == "ham10000" else ""
        if sizes:
            lines.append(f"- {sizes['train']} training, {sizes['val']} validation and {sizes['test']} test "
                         f"images{grouped}")
        if report:
            lines += ["", f"### Metrics on the test split ({report['n_samples']} images)"] + report_lines(report)
        else:
            lines += ["", "### Metrics", "No test-split report yet (`nas retrain` writes `final/report.json`). The "
                      "search's validation metrics of this genome:"]
            if best is not None:
                lines += [f"- {k}: {value_text(v)}" for k, v in best.metrics.items()]
        lines += probability_lines(self.calibration, report, view_names(self.augmentation)[:self.tta])
        if genome is not None:
            lines += ["", f"### Genome `{genome_hash}`", "| gene | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in run.space.expressed(genome).items()]
        return "\n".join(lines)

    @functools.cached_property
    def _dataset(self):
        """The run's data set, rebuilt once from the run's record (None when it cannot be: arrays given in Python,
        a data folder that is gone)."""
        try:
            return self.run.dataset() if self.run is not None else None
        except NasError:
            return None

    def _split_sizes(self) -> dict[str, int] | None:
        dataset = self._dataset
        if dataset is None:
            return None
        return {"train": len(dataset.y_train), "val": len(dataset.y_val), "test": len(dataset.y_test)}

    def confusion_matrix_path(self) -> Path | None:
        """The retrained model's confusion matrix image, if ``nas retrain`` wrote one."""
        if self.run is None or self.run.model_path() != self.run.path / FINAL_MODEL:
            return None
        path = self.run.path / "final" / "confusion_matrix.png"
        return path if path.is_file() else None

    def example_images(self, folder: str | os.PathLike, count: int = 7) -> list[Path]:
        """Write up to ``count`` example photos (PNG at the data's own size, one per class, from the run's test split;
        generated lesions when the run's data cannot be rebuilt or is not RGB) into ``folder``; return their paths."""
        from PIL import Image

        from . import data as data_module

        dataset = self._dataset
        if dataset is None or dataset.input_shape[-1] != 3:
            dataset = data_module.synthetic_lesions(n=70, image_size=max(self.input_size), seed=1)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for label in range(dataset.num_classes):
            found = np.flatnonzero(dataset.y_test == label)
            if len(found) == 0:
                continue
            path = folder / f"example_{dataset.class_names[label]}.png"
            Image.fromarray(np.round(dataset.x_test[found[0]] * 255).astype(np.uint8)).save(path)
            paths.append(path)
            if len(paths) == count:
                break
        return paths


# -- the Gradio page ---------------------------------------------------------------------------------------------------
def _import_gradio():
    # No usage statistics and no version check go out from the server; and no run history, which would keep the
    # photos and results of earlier visitors in the browser and offer to copy them to a Hugging Face bucket.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_RUN_HISTORY"] = "False"
    try:
        import gradio
    except ImportError:
        raise ConfigError('the web page needs Gradio, an optional dependency: pip install "nas[ui]"') from None
    return gradio


def result_markdown(result: dict[str, Any]) -> str:
    """The verdict block of the page for one :meth:`Predictor.predict` result."""
    lines = [f"## {html.escape(result['class_name'])}: {result['probability']:.0%}"]
    if result.get("named_by_floor"):
        name, probability = result["top"][0]
        lines.append(f"Named by this model's recall floor, which names {html.escape(result['class_name'])} more "
                     f"readily so as to miss fewer of them; the most likely class is {html.escape(name)} "
                     f"({probability:.0%}).")
    if result["malignant_probability"] is not None:
        malignant = result["malignant_probability"]
        verdict = "Malignant" if result["verdict"] == "malignant" else "Benign"
        shown = malignant if result["verdict"] == "malignant" else 1 - malignant
        lines.append(f"**{verdict}** with probability {shown:.0%} (malignant: "
                     f"{', '.join(display_name(c) for c in MALIGNANT)})")
        if result["level"] == "refer":
            lines.append(f"P(malignant) {malignant:.0%} is at or above this model's referral threshold "
                         f"{result['threshold']:.0%}.")
    lines += ["", f"**Next step:** {result['suggestion']}", "", f"*{result['disclaimer']}*"]
    return "\n".join(lines)


def build_app(predictor: Predictor, examples: Sequence[str | os.PathLike] = ()) -> "gradio.Blocks":
    """The Gradio page for ``predictor``: a "Check a lesion" tab and a "Model card" tab."""
    gr = _import_gradio()

    def analyse(path):
        if path is None:
            return "", None, None, None
        try:
            result = predictor.predict(path)
        except DataError as error:
            # Gradio's temporary path means nothing to the visitor; the file name they chose does.
            message = str(error).replace(str(path), Path(path).name)
            return f"### Cannot use this file\n{message}", None, None, None
        except Exception as error:  # noqa: BLE001 - the visitor gets one line, the server log the traceback
            traceback.print_exc()
            return (f"### Something went wrong\nThe image could not be analysed ({type(error).__name__}). Try "
                    f"another photo; the details are in the server's log."), None, None, None
        return (result_markdown(result), dict(result["top"]), result["image"], result["overlay"])

    # Uploads and result images land in Gradio's cache folder. Gradio's delete_cache=(frequency, age) deletes, every
    # `frequency` seconds, the files older than `age`: a file lives up to frequency + age seconds, so that sum is the
    # hour the page promises, and patients' photos do not pile up on the server.
    delete_cache = (CACHE_SWEEP, UPLOAD_LIFETIME - CACHE_SWEEP)
    with gr.Blocks(title="nas: skin lesion classifier", analytics_enabled=False, delete_cache=delete_cache) as app:
        gr.Markdown("# Skin lesion check\n*A research tool, not a diagnosis.*")
        with gr.Tab("Check a lesion"):
            with gr.Row():
                with gr.Column():
                    upload = gr.File(label="Photo of the lesion (JPEG or PNG)", type="filepath", elem_id="upload")
                    if examples:
                        gr.Examples([[str(p)] for p in examples], inputs=[upload], label="Or try an example")
                with gr.Column():
                    verdict = gr.Markdown(elem_id="verdict")
                    classes = gr.Label(num_top_classes=TOP_CLASSES, label="Most likely classes", show_heading=False,
                                       elem_id="classes")
            with gr.Row():
                photo = gr.Image(label="Photo", type="numpy", interactive=False, buttons=["fullscreen"],
                                 elem_id="photo")
                heatmap = gr.Image(label="Grad-CAM: where the model looked", type="numpy", interactive=False,
                                   buttons=["download", "fullscreen"], elem_id="heatmap")
            upload.change(analyse, inputs=[upload], outputs=[verdict, classes, photo, heatmap], api_name="analyse")
        with gr.Tab("Model card"):
            gr.Markdown(predictor.model_card(), elem_id="model-card")
            matrix = predictor.confusion_matrix_path()
            if matrix is not None:
                gr.Image(str(matrix), label="Confusion matrix on the test split", interactive=False)
    return app


def serve(run: "str | os.PathLike | Run", host: str = "127.0.0.1", port: int = 7860, *, tta: int = 1,
          block: bool = True) -> "gradio.Blocks":
    """Load the run's model and serve the page at ``http://host:port``.

    Args:
        run: a run folder or :class:`nas.Run`.
        host: the address to listen on; anything but 127.0.0.1/localhost exposes the page (no login) to the network,
            and a warning is printed.
        port: the TCP port.
        tta: test-time views to average per photo (:class:`Predictor`; 1: the photo alone).
        block: wait until interrupted (Ctrl-C), then stop; False returns the running app at once (notebooks).

    Returns:
        The Gradio app (call ``.close()`` to stop it).
    """
    _import_gradio()  # fail before the slow model load when Gradio is missing
    if host not in HOSTS_LOCAL:
        print(f"nas: warning: serving on {host}: anyone who can reach this machine on port {port} can use the page "
              f"(there is no login); use --host 127.0.0.1 to keep it local", file=sys.stderr)
    predictor = Predictor.from_run(run, tta=tta)
    predictor.warm_up()
    folder = tempfile.mkdtemp(prefix="nas-serve-")
    examples = predictor.example_images(folder)
    app = build_app(predictor, examples)
    try:
        app.queue().launch(server_name=host, server_port=port, share=False, max_file_size=MAX_BYTES,
                           show_error=False, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                           allowed_paths=[folder])
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ConfigError(f"cannot listen on {host}:{port} ({error}); choose another --port or --host") from None
    assert predictor.run is not None  # from_run always records the run
    print(f"nas serve: {predictor.run.path} at http://{host}:{port}  (Ctrl-C stops)", flush=True)
    if not block:
        return app
    try:
        app.block_thread()
    finally:
        app.close()
        shutil.rmtree(folder, ignore_errors=True)
    return app
