"""Retraining: the search's best genome (or its top K), and the paper's baselines, trained to convergence.

A search scores each genome after a short budget; ``nas retrain`` trains the winner on the whole training split with
augmentation, class weights and early stopping on the validation loss (the best epoch's weights are kept), then judges
it once on the test split. Baselines (``nas.baselines``: the paper's Table-1 CNN, VGG16, ResNet50) go through the very
same :func:`nas.fitting.fit`, split and epoch budget, so the comparison is fair. Everything lands in ``<run>/final/``.
With ``top_k`` of 3 or more, the Kendall rank correlation between the search's and the retrained scores of the top K
(:mod:`nas.ranking`) tells whether the search's short-training fitness could be trusted.

Example:
    >>> summary = nas.retrain.retrain("runs/demo", epochs=30, baselines=("table1",))          # doctest: +SKIP
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .augment import Augmentation
from .calibration import CALIBRATION_FILE, DEFAULT_TARGET_SENSITIVITY, check_target_sensitivity
from .decision import parse_recall_floors
from .errors import ConfigError
from .fitting import fit
from .uncertainty import paired_difference
from .recipe import Recipe
from .runs.writer import RunFolder, default_run_dir

if TYPE_CHECKING:
    import keras

    from .data import Dataset
    from .runs.reader import Run

__all__ = ["BASELINES", "fit", "retrain", "baseline", "train_baseline"]

FINAL = "final"
BASELINES = ("table1", "vgg16", "resnet50")  # the names nas.baselines builds, kept here so the CLI loads no TensorFlow


def _validation(model, data) -> dict:
    from .training import Budget, score

    return score(model, data, Budget(), seed=0)


def _test_report(model, data, robustness: bool = False, calibration: Mapping | None = None) -> dict:
    """The test split's report; with ``robustness``, also under camera-like shifts (:func:`nas.shifts.robustness`),
    and under the recall floors' decision rule where ``calibration`` has one."""
    from .calibration import decision_rule
    from .report import evaluate_model
    from .shifts import robustness as shifted
    from .training import predict

    report = evaluate_model(model, data.x_test, data.y_test, data.class_names, malignant=data.malignant or None)
    if robustness:
        report["robustness"] = shifted(lambda x: predict(model, x), data.x_test, data.y_test, data.class_names,
                                       rule=decision_rule(calibration, data.class_names))
    return report


def _calibrate(model, data, target_sensitivity: float, recall_floors: dict) -> tuple[dict, dict]:
    """The temperature, operating point and recall floors fitted on the validation split (``final/calibration.json``),
    and how they do on the test split (the report's ``calibration`` block): :mod:`nas.calibration`."""
    from .calibration import calibrate, calibration_report
    from .training import predict

    calibration = calibrate(data.y_val, predict(model, data.x_val), data.class_names,
                            malignant=data.malignant or None, target_sensitivity=target_sensitivity,
                            recall_floors=recall_floors)
    return calibration, calibration_report(data.y_test, predict(model, data.x_test), calibration, data.class_names)


def _plot_curves(trained: dict[str, dict], folder: RunFolder, relative: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for (label, result), colour in zip(trained.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4):
        curves = result["history"]
        epochs = np.arange(1, len(curves["loss"]) + 1)
        for axis, metric in zip(axes, ("loss", "accuracy")):
            if metric in curves:
                axis.plot(epochs, curves[metric], "--", color=colour, alpha=0.6, label=f"{label} train")
            if f"val_{metric}" in curves:
                axis.plot(epochs, curves[f"val_{metric}"], "-", color=colour, label=f"{label} validation")
            axis.axvline(result["best_epoch"], color=colour, linestyle=":", alpha=0.5)
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    axes[0].set_title("loss (dotted line: restored epoch)")
    axes[1].set_title("accuracy")
    axes[1].legend(fontsize=7, loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return folder.write_bytes(relative, buffer.getvalue())


def _baseline_names(baselines: str | Sequence[str]) -> list[str]:
    names = [n.strip().lower() for n in (baselines.split(",") if isinstance(baselines, str) else baselines)]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ConfigError(f"unknown baseline {', '.join(unknown)}; choose among {', '.join(BASELINES)}")
    return list(dict.fromkeys(names))


def train_baseline(name: str, data: "Dataset", *, epochs: int, patience: int, seed: int,
                   augmentation: Augmentation | None, class_weighted: bool, weights: str | None = None,
                   verbose: bool = True, recipe: Recipe | None = None) -> tuple["keras.Model", dict]:
    """Build one of the paper's baselines with ``nas.baselines`` and train it with :func:`fit`.

    Returns ``(model, result)``; ``result`` holds the fit history, ``params`` and ``validation`` metrics.
    """
    import keras

    from . import baselines as baselines_module

    keras.utils.set_random_seed(seed)
    model = baselines_module.build(name, data.input_shape, data.num_classes, weights=weights)
    baselines_module.compile(model, name, weights)
    settings = baselines_module.settings(name, weights)
    result = fit(model, data, epochs=epochs, batch_size=int(settings["batch_size"]), seed=seed,
                 augmentation=augmentation, class_weighted=class_weighted, patience=patience, label=name,
                 verbose=verbose, recipe=recipe)
    result.update(params=int(model.count_params()), settings=settings, validation=_validation(model, data))
    return model, result


def _run_baselines(names: list[str], data, folder: RunFolder, *, epochs: int, patience: int, seed: int,
                   augmentation: Augmentation | None, class_weighted: bool, weights: str | None, verbose: bool,
                   save_models: bool, recipe: Recipe | None = None) -> dict[str, dict]:
    import keras

    results: dict[str, dict] = {}
    for name in names:
        model, result = train_baseline(name, data, epochs=epochs, patience=patience, seed=seed,
                                       augmentation=augmentation, class_weighted=class_weighted,
                                       weights=None if name == "table1" else weights,  # backbone weights
                                       verbose=verbose, recipe=recipe)
        result["report"] = _test_report(model, data)
        if save_models:
            folder.save_model(f"{name}/model.keras", model)
        results[name] = result
        del model
        keras.backend.clear_session()
    return results


def _top(run, k: int, ensemble: bool = False, seeds: int = 1) -> list:
    for name, value in (("top_k", k), ("seeds", seeds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if seeds > 1 and not ensemble:
        raise ConfigError(f"seeds (--seeds) {seeds} trains each genome {seeds} times so that an ensemble averages "
                          f"them; add ensemble (--ensemble), or retrain with one seed")
    if ensemble and k * seeds < 2:
        raise ConfigError("an ensemble averages several retrained models; give top_k (--top-k) or seeds (--seeds) 2 "
                          f"or more, got top_k {k} and seeds {seeds}")
    ranked = run.ranked()  # one per genome, best first
    if not ranked:
        raise ConfigError(f"{run.path} has no successful evaluation yet, so there is nothing to retrain")
    if ensemble and seeds == 1 and len(ranked) < 2:
        raise ConfigError(f"{run.path} has only one successfully evaluated genome, too few for an ensemble of one "
                          f"seed each; add seeds (--seeds 2), or search further")
    return ranked[:k]


def _dataset_of(run, data) -> "Dataset":
    """The data to retrain on (default: the run's), refused when its classes are not the run's."""
    dataset = run.dataset(data)
    if list(dataset.class_names) != list(run.config["class_names"]):
        raise ConfigError(f"the data's classes {list(dataset.class_names)} differ from the run's "
                          f"{run.config['class_names']}; retrain on the data the run searched")
    return dataset


def _selection_metric(objective: str, validation: dict) -> tuple[str, int]:
    """The validation metric the top K are chosen on, and its sign (larger signed is better): the run's first
    objective when the validation split measures it, else the loss."""
    name = objective.lstrip("-")
    if name in validation:
        return name, -1 if objective.startswith("-") else 1
    return "val_loss", -1


def _settings(epochs: int, patience: int, augmentation: Augmentation | None, class_weighted: bool, data,
              recipe: Recipe | None = None) -> dict:
    recipe = (recipe or Recipe()).with_class_weighted(class_weighted)
    return {"epochs": epochs, "patience": patience, "class_weighted": recipe.balance == "weights",
            "augmentation": (augmentation or Augmentation.none()).to_dict(), "recipe": recipe.to_dict(),
            "data": data.spec,
            "split_sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)}}


def _retrain_one(run, individual, dataset, label: str, *, epochs: int, patience: int,
                 augmentation: Augmentation | None, class_weighted: bool, verbose: bool,
                 recipe: Recipe | None = None, replicate: int = 0) -> tuple[dict, Any]:
    """Train one of the search's genomes to convergence with the seed the search gave it (``replicate`` > 0: another
    seed, :func:`nas.training.training_seed`); (result, model)."""
    import keras

    from .training import training_seed

    space = run.space
    seed = training_seed(run.config["seed"], individual.genome_hash, replicate=replicate)
    keras.utils.set_random_seed(seed)
    genome = space.repair(individual.genome, dataset.input_shape)
    model = space.build(genome, dataset.input_shape, dataset.num_classes)
    space.compile(model, genome)
    if verbose:
        print(f"retraining {label} ({model.count_params():,} parameters, search "
              f"{run.objectives[0]}={individual.fitness[0]})", flush=True)
    result = fit(model, dataset, epochs=epochs, batch_size=int(genome.get("batch_size", 32)), seed=seed,
                 augmentation=augmentation, class_weighted=class_weighted, patience=patience, label=label,
                 verbose=verbose, recipe=recipe)
    result.update(genome_hash=individual.genome_hash, seed=seed, genome=genome, params=int(model.count_params()),
                  search_fitness=list(individual.fitness), validation=_validation(model, dataset))
    return result, model


def _retrain_top(run, candidates: list, dataset, *, epochs: int, patience: int, augmentation: Augmentation | None,
                 class_weighted: bool, verbose: bool, recipe: Recipe | None = None, ensemble: bool = False,
                 seeds: int = 1) -> tuple[dict[str, dict], dict, Any, dict]:
    """Retrain each candidate ``seeds`` times; (results by label, the one best on validation, its model, the proxy
    rank correlation).

    With ``ensemble``, the model returned is :func:`nas.ensemble.build` of all the retrained models, in rank order.
    The correlation pairs each genome's search value of the selection metric (its recorded first-objective fitness
    when that objective is a validation metric) with its retrained value, the mean over its seeds
    (:func:`nas.ranking.proxy_rank_correlation`).
    """
    from .ranking import proxy_rank_correlation

    trained: dict[str, dict] = {}
    chosen: tuple[float, dict, Any] | None = None
    pairs, kept = [], []
    for rank, individual in enumerate(candidates, start=1):
        values = []
        for replicate in range(seeds):
            label = f"top{rank} {individual.genome_hash}" + (f" seed {replicate + 1}" if seeds > 1 else "")
            result, model = _retrain_one(run, individual, dataset, label, epochs=epochs, patience=patience,
                                         augmentation=augmentation, class_weighted=class_weighted, verbose=verbose,
                                         recipe=recipe, replicate=replicate)
            result["rank"] = rank
            trained[label] = result
            metric, sign = _selection_metric(run.objectives[0], result["validation"])
            values.append(result["validation"][metric])
            if ensemble:
                kept.append(model)
            if chosen is None or sign * values[-1] > chosen[0]:
                chosen = (sign * values[-1], result, model)
            else:
                del model
        pairs.append((individual.metrics[metric], float(np.mean(values))))
    assert chosen is not None  # _top returns at least one candidate
    _, best, model = chosen
    if ensemble:
        from .ensemble import build

        model = build(kept)
    return trained, best, model, proxy_rank_correlation(pairs, metric)


def retrain(run: "str | os.PathLike | Run", *, epochs: int = 30, top_k: int = 1,
            data: "Dataset | tuple | dict | str | None" = None, baselines: str | Sequence[str] = (),
            weights: str | None = None, patience: int = 5, augmentation: Augmentation | None = Augmentation(),
            class_weighted: bool = True, verbose: bool = True, recipe: Recipe | None = None,
            ensemble: bool = False, target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY,
            robustness: bool = True, recall_floors: str | Mapping[str, float] | None = None, seeds: int = 1) -> dict:
    """Retrain a run's best genome (or each of its ``top_k``), calibrate it, report on the test split, write
    ``final/``.

    Args:
        run: a run folder path or a :class:`nas.run.Run`.
        epochs: at most this many epochs per model (early stopping usually ends sooner).
        top_k: retrain the K best genomes of the search; the one best on the validation split (on the run's first
            objective) becomes ``final/model.keras``. The test split is looked at only after that choice.
        data: the dataset (default: the run's, rebuilt from its spec, so the split is the search's).
        baselines: any of "table1", "vgg16", "resnet50", trained with the same pipeline, split, epochs and
            patience; their test reports go to ``final/baselines.json`` and the table of ``final/report.md``.
        weights: weights file for the VGG16/ResNet50 baselines (None: random initialisation).
        patience: epochs without a better validation loss before stopping.
        augmentation: what to change in training images (None: nothing).
        class_weighted: balance the classes as the recipe says (False: no class balancing at all).
        target_sensitivity: the malignant sensitivity the operating point is chosen for on the validation split
            (:func:`nas.calibration.choose_threshold`), in (0, 1].
        recall_floors: ``{class: fraction}`` or ``"mel=0.6"``: a decision rule fitted on the validation split that
            names each of these classes more readily until it finds that share of them there
            (:mod:`nas.decision`); stored in ``final/calibration.json``, scored in the report's ``calibration``
            block. The report's other figures stay those of the plain arg-max.
        robustness: also score the final model on the test split under camera-like shifts (:mod:`nas.shifts`: the
            report's ``robustness`` and a table in ``report.md``).
        verbose: print one line per epoch.
        recipe: schedule, loss, mixing and class balancing (:class:`nas.recipe.Recipe`; default: the rare classes
            oversampled), for the genomes and the baselines alike; recorded in ``final/history.json``'s settings.
        ensemble: keep all ``top_k`` (at least 2) retrained models and make ``final/model.keras`` their ensemble
            (:func:`nas.ensemble.build`: the mean of their class probabilities). ``final/history.json`` then records
            ``ensemble`` (its validation figures and each member's hash, rank, validation and test figures), and
            ``final/report.md`` gets a table of the ensemble's and each member's test figures; ``genome_hash`` and
            ``genome`` stay those of the member best on the validation split.
        seeds: with ``ensemble``, train each of the ``top_k`` genomes this many times, the first with the seed the
            search gave it and the others with seeds derived from it, and average all ``top_k * seeds`` models
            (``top_k=1, seeds=2``: the best genome twice). Each member's ``seed`` is in ``final/history.json``.

    The final model's temperature (:mod:`nas.calibration`) and operating point are fitted on the validation split
    and stored in ``final/calibration.json``; the test report's ``calibration`` block and ``final/reliability.png``
    show how they hold on the test split.

    Returns a summary: ``model`` (path), ``genome_hash``, ``validation`` (the final model's: with ``ensemble``, the
    ensemble's), ``test`` (the report), ``calibration`` (what ``final/calibration.json`` holds), ``candidates`` and
    ``baselines`` (test reports by name), ``proxy_rank_correlation`` (how far the search's ranking of the top K held
    after retraining: :func:`nas.ranking.proxy_rank_correlation`, also in ``final/history.json`` and
    ``final/report.md``), ``ensemble`` (the members' genome hashes in rank order, or None), ``files`` written.
    """
    names = _baseline_names(baselines)
    target_sensitivity = check_target_sensitivity(target_sensitivity)
    import keras

    from . import ensemble as nas_ensemble
    from .report import write_report
    from .runs.reader import Run

    run = run if isinstance(run, Run) else Run(run)
    config = run.config
    floors = parse_recall_floors(recall_floors, config["class_names"])
    candidates = _top(run, top_k, ensemble, seeds)
    dataset = _dataset_of(run, data)
    folder = RunFolder(run.path)
    trained, best, model, correlation = _retrain_top(run, candidates, dataset, epochs=epochs, patience=patience,
                                                     augmentation=augmentation, class_weighted=class_weighted,
                                                     verbose=verbose, recipe=recipe, ensemble=ensemble,
                                                     seeds=seeds)
    calibration, calibration_block = _calibrate(model, dataset, target_sensitivity, floors)
    best["report"] = report = _test_report(model, dataset, robustness, calibration) | {"calibration": calibration_block}
    members = nas_ensemble.record(model, list(trained.values()), dataset) if ensemble else None
    settings = _settings(epochs, patience, augmentation, class_weighted, dataset, recipe) | {"seeds": seeds}
    files = [folder.save_model(f"{FINAL}/model.keras", model), folder.write_json(CALIBRATION_FILE, calibration)]
    del model
    keras.backend.clear_session()
    baseline_results = _run_baselines(names, dataset, folder, epochs=epochs, patience=patience,
                                      seed=config["seed"], augmentation=augmentation, class_weighted=class_weighted,
                                      weights=weights, verbose=verbose, save_models=False, recipe=recipe)
    for result in baseline_results.values():
        result["report"]["versus_searched"] = paired_difference(dataset.y_test, report["predicted"],
                                                                result["report"]["predicted"])
    history = {"genome_hash": best["genome_hash"], "genome": best["genome"], "settings": settings,
               "candidates": [{k: v for k, v in r.items() if k != "report"} for r in trained.values()],
               "baselines": {name: {k: v for k, v in r.items() if k != "report"}
                             for name, r in baseline_results.items()},
               "proxy_rank_correlation": correlation} | ({"ensemble": members} if members else {})
    files.append(folder.write_json(f"{FINAL}/history.json", history))
    files.append(_plot_curves(trained | baseline_results, folder, f"{FINAL}/training_curves.png"))
    what = f"an ensemble of {nas_ensemble.describe(members)}" if members else best["genome_hash"]
    files += write_report(report, folder.path / FINAL,
                          baselines={name: r["report"] for name, r in baseline_results.items()} or None,
                          proxy_correlation=correlation,
                          title=f"{Path(run.path).name}: retrained {what} on {dataset.name}")
    if members:
        text = (folder.path / FINAL / "report.md").read_text(encoding="utf-8")
        folder.write_bytes(f"{FINAL}/report.md", (text + nas_ensemble.markdown(report, members)).encode())
    return {"model": str(files[0]), "genome_hash": best["genome_hash"],
            "validation": (members or best)["validation"], "test": report, "calibration": calibration,
            "candidates": {label: r["validation"] for label, r in trained.items()},
            "baselines": {name: r["report"] for name, r in baseline_results.items()},
            "proxy_rank_correlation": correlation,
            "ensemble": [m["genome_hash"] for m in members["members"]] if members else None,
            "files": [str(f) for f in files]}


def baseline(models: str | Sequence[str], data: "Dataset | tuple | dict | str | None", *,
             run_dir: str | os.PathLike | None = None, epochs: int = 30, patience: int = 5, seed: int = 0,
             weights: str | None = None, augmentation: Augmentation | None = Augmentation(),
             class_weighted: bool = True, verbose: bool = True, recipe: Recipe | None = None) -> dict:
    """Train baselines alone (no search) and write ``<run_dir>/baselines.json``, ``splits.csv`` and per model
    ``<name>/model.keras``, ``report.json``, ``report.md`` and ``confusion_matrix.png``.

    ``run_dir`` may be a search's run folder: ``data`` then defaults to the run's data, so the split is the same.
    """
    from . import data as data_module
    from .report import write_report
    from .runs.writer import read_config

    names = _baseline_names(models)
    if not names:
        raise ConfigError("name at least one baseline: table1, vgg16 or resnet50")
    path = Path(run_dir) if run_dir is not None else default_run_dir("runs/baselines")
    if data is None:
        if run_dir is None or not (path / "config.json").is_file():
            raise ConfigError("give the data (e.g. --data ham10000:PATH), or --run-dir of a search run to use its data")
        data = read_config(path)["data"]
    dataset = data_module.coerce(data)
    folder = RunFolder(path)
    results = _run_baselines(names, dataset, folder, epochs=epochs, patience=patience, seed=seed,
                             augmentation=augmentation, class_weighted=class_weighted, weights=weights,
                             verbose=verbose, save_models=True, recipe=recipe)
    files = [folder.write_json("baselines.json", {"settings": _settings(epochs, patience, augmentation,
                                                                         class_weighted, dataset, recipe),
                                                  "models": results})]
    splits = dataset.splits_csv()
    files += [folder.write_bytes("splits.csv", splits)] if splits is not None else []
    for name, result in results.items():
        files += write_report(result["report"], path / name, title=f"baseline {name} on {dataset.name}")
    files.append(_plot_curves(results, folder, "training_curves.png"))
    return {"run_dir": str(path), "baselines": {n: r["report"] for n, r in results.items()},
            "files": [str(f) for f in files]}
