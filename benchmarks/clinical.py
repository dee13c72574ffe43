"""Issue 14's measurements on HAM10000: the retrain recipe, one change at a time, then what the clinic gets from the
best model: ensemble and test-time augmentation, calibration, an operating point and robustness to camera shifts.

    python benchmarks/clinical.py [--data PATH] [--rows baseline,cosine,...] [--seeds 0] [--epochs 12]
    python benchmarks/clinical.py --analyse          # phase 2 only, from the models phase 1 saved
    python benchmarks/clinical.py --join NAME:WORK,NAME:WORK --work W --output O   # then --analyse on them together
    python benchmarks/clinical.py --members ROW-SEED,ROW-SEED --work W --output O  # one chosen ensemble, shifted

Phase 1 trains one fixed design (--genome, default modern.PLAIN4 with a stride-2 stem) on the lesion-grouped split
with each recipe row (the baseline is ``nas retrain`` before recipes, ``Recipe.plain()``: augmentation, class
weights, a constant learning rate, early stopping on the validation loss; each row changes one thing), the same
epochs, patience and seeds, and scores it once on the test split. Every row's model and its validation and test
probabilities are kept under --work, so phase 2 and a rerun cost no training; a row already there is not trained
again. Figures go to benchmarks/results/clinical.json after every row (``--output NAME``: NAME.json;
clinical_long.json holds the longer schedule, ``--epochs 24 --patience 6 --work runs/clinical-long``;
clinical_patience10.json the default recipe, Shades of Gray, exposure standardisation and milder brightness and
contrast augmentation with a later stop, ``--epochs 20 --patience 10 --work runs/clinical-patience10``;
clinical_96.json the default recipe at 96 px held to the issue's 30 minutes, ``--rows oversample --seeds 0,1
--image-size 96 --max-seconds 1800 --work runs/clinical-96``; clinical_128.json the same at 128 px and
clinical_64.json at 64 px, in the same session, for the time each size costs; clinical_128_patience10.json the
128 px row with ``--epochs 20 --patience 10``, then ``--analyse --ensemble 2`` on its two models;
clinical_128_sog.json the same with Shades of Gray, ``--rows oversample+shades-of-gray --work runs/clinical-128-sog``,
seed 0 only; clinical_128_joined.json those three models analysed together, ``--join
clinical_128_patience10:runs/clinical-128-patience10,clinical_128_sog:runs/clinical-128-sog --work
runs/clinical-128-joined``, then ``--analyse --ensemble 3`` with the same --work and --output);
clinical_camera.json the default recipe and the default recipe with camera jitter (white balance and defocus) in
one session, ``--rows oversample,oversample+camera-jitter --seeds 0 --epochs 20 --patience 10 --work
runs/clinical-camera``; clinical_camera_seed1.json the same with ``--seeds 1``; then, under ``"ensembles"`` in
clinical_camera.json, ``--members`` on sets of those four models, ``--work runs/clinical-camera --output
clinical_camera``; clinical_camera_seeds23.json the same two rows with ``--seeds 2,3``, a later session, and
``--members`` on their models with ``--output clinical_camera_seeds23``).

--data is the HAM10000 folder (default: $NAS_HAM10000, else ../shared/data/ham10000 beside the repository).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402

#: One change to the baseline per row: recipe fields (over nas.recipe.Recipe.plain()), augmentation fields, or a
#: remedy for camera shifts as the model's first step (nas.shifts.with_shades_of_gray, nas.shifts.with_standardisation).
ROWS: dict[str, dict] = {
    "baseline": {},
    "cosine": {"recipe": {"schedule": "cosine"}},
    "oversample": {"recipe": {"balance": "oversample"}},
    "color-jitter": {"augmentation": {"hue": 0.05, "saturation": 0.1, "contrast": 0.1}},
    "shades-of-gray": {"shades_of_gray": True},
    "label-smoothing": {"recipe": {"label_smoothing": 0.1}},
    "mixup": {"recipe": {"mixup": 0.2}},
    "cutmix": {"recipe": {"cutmix": 1.0}},
    "focal": {"recipe": {"focal_gamma": 2.0}},
    "cosine+oversample": {"recipe": {"schedule": "cosine", "balance": "oversample"}},
    "oversample+color-jitter": {"recipe": {"balance": "oversample"},
                                "augmentation": {"hue": 0.05, "saturation": 0.1, "contrast": 0.1}},
    "oversample+standardise": {"recipe": {"balance": "oversample"}, "standardise": True},
    "oversample+shades-of-gray": {"recipe": {"balance": "oversample"}, "shades_of_gray": True},
    "oversample+label-smoothing": {"recipe": {"balance": "oversample", "label_smoothing": 0.1}},
    "oversample+mixup": {"recipe": {"balance": "oversample", "mixup": 0.2}},
    "oversample+cutmix": {"recipe": {"balance": "oversample", "cutmix": 1.0}},
    "oversample+focal": {"recipe": {"balance": "oversample", "focal_gamma": 2.0}},
    "oversample+exposure-standardise": {"recipe": {"balance": "oversample"}, "exposure_standardise": True},
    "oversample+mild-brightness-contrast": {"recipe": {"balance": "oversample"},
                                            "augmentation": {"brightness": 0.15, "contrast": 0.25}},
    "oversample+brightness-contrast": {"recipe": {"balance": "oversample"},
                                       "augmentation": {"brightness": 0.2, "contrast": 0.4, "saturation": 0.2}},
    "oversample+camera-jitter": {"recipe": {"balance": "oversample"},
                                 "augmentation": {"white_balance": 0.15, "blur": 0.025}},
    "oversample+stop-balanced-accuracy": {"recipe": {"balance": "oversample", "stop_on": "balanced_accuracy"}},
    "oversample+brightness-contrast+stop-balanced-accuracy": {
        "recipe": {"balance": "oversample", "stop_on": "balanced_accuracy"},
        "augmentation": {"brightness": 0.2, "contrast": 0.4, "saturation": 0.2}},
}
GENOMES = ("plain4-stride2", "plain4")


def _genome(name: str) -> dict:
    from search_spaces.modern import PLAIN4

    return dict(PLAIN4, stem_stride=2) if name == "plain4-stride2" else dict(PLAIN4)


def _update(name: str, **figures) -> None:
    """Rewrite the results file with these keys changed and the others kept (phase 1 and phase 2 write apart)."""
    path = RESULTS / f"{name}.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    recorded.pop("machine", None)
    save(name, recorded | figures)


def _shifted(result: dict) -> dict:
    """The figures kept of a nas.shifts.robustness result: the ratio, the shifted mean and each shift's balanced
    accuracy."""
    return {"ratio_to_clean": result["ratio_to_clean"],
            "mean_shifted_balanced_accuracy": result["mean_shifted_balanced_accuracy"],
            "shifts": {name: {strength: figures["balanced_accuracy"] for strength, figures in strengths.items()}
                       for name, strengths in result["shifts"].items()}}


def _train_row(row: str, seed: int, data, args: argparse.Namespace, work: Path) -> dict:
    """Train the design with one row's recipe and seed; keep the model and its probabilities; the row's figures."""
    import keras

    from nas.augment import Augmentation
    from nas.recipe import Recipe
    from nas.report import classification_report
    from nas.retrain import fit
    from nas.shifts import robustness, with_shades_of_gray, with_standardisation
    from nas.space import resolve_space
    from nas.training import predict

    space = resolve_space("modern")
    genome = space.repair(_genome(args.genome), data.input_shape)
    keras.utils.set_random_seed(seed)
    settings = ROWS[row]
    model = space.build(genome, data.input_shape, data.num_classes)
    if settings.get("shades_of_gray"):
        model = with_shades_of_gray(model)
    if settings.get("standardise"):
        model = with_standardisation(model)
    if settings.get("exposure_standardise"):
        model = with_standardisation(model, per_channel=False)
    space.compile(model, genome)
    result = fit(model, data, epochs=args.epochs, batch_size=int(genome["batch_size"]), seed=seed,
                 patience=args.patience, label=f"{row} seed {seed}",
                 augmentation=Augmentation(**settings.get("augmentation", {})),
                 recipe=replace(Recipe.plain(), max_seconds=args.max_seconds, **settings.get("recipe", {})))
    model.save(work / f"{row}-{seed}.keras")
    val, test = predict(model, data.x_val), predict(model, data.x_test)
    np.savez(work / f"{row}-{seed}.npz", val=val, test=test)
    report = classification_report(data.y_test, test, data.class_names)
    shifted = robustness(lambda x: predict(model, x), data.x_test, data.y_test, data.class_names)
    return {"row": row, "seed": seed, "settings": settings, "params": int(model.count_params()),
            "epochs_run": result["epochs_run"], "best_epoch": result["best_epoch"], "train_seconds": result["seconds"],
            "stopped_by_time_limit": bool(result.get("stopped_by_time_limit")),
            "test": {"balanced_accuracy": report["balanced_accuracy"], "accuracy": report["accuracy"],
                     "melanoma_recall": report["melanoma_sensitivity"], "macro_f1": report["macro"]["f1"],
                     "ece": report["expected_calibration_error"]},
            "robustness": _shifted(shifted)}


def _summary(trained: list[dict]) -> dict:
    """Mean and standard error of each row's test figures over its seeds."""
    table = {}
    for row in dict.fromkeys(t["row"] for t in trained):
        runs = [t for t in trained if t["row"] == row]
        figures = {}
        for key in ("balanced_accuracy", "accuracy", "melanoma_recall"):
            values = np.array([t["test"][key] for t in runs], dtype=float)
            figures[key] = {"mean": float(values.mean()),
                            "se": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None}
        figures.update(seeds=len(runs), train_seconds=float(np.mean([t["train_seconds"] for t in runs])))
        table[row] = figures
    return table


def _join(specs: str, work: Path, output: str) -> None:
    """``--join NAME:WORK,...``: the models several phase-1 runs kept (results file NAME, models under WORK) linked
    into one --work folder and one --output file, so that --analyse ranks and ensembles them together."""
    trained: list[dict] = []
    keys = ("image_size", "genome", "epochs", "patience", "max_seconds", "split")
    settings: dict = {}
    for spec in specs.split(","):
        name, _, folder = spec.partition(":")
        recorded = json.loads((RESULTS / f"{name}.json").read_text())
        if settings and recorded["image_size"] != settings["image_size"]:
            sys.exit(f"clinical.py --join: {name} was trained at {recorded['image_size']} px, the first at "
                     f"{settings['image_size']} px; join models of one input size")
        settings = settings or {key: recorded[key] for key in keys}
        for t in recorded["trained"]:
            if any(o["row"] == t["row"] and o["seed"] == t["seed"] for o in trained):
                sys.exit(f"clinical.py --join: {t['row']} seed {t['seed']} is in more than one of {specs}")
            for suffix in (".keras", ".npz"):
                target = work / f"{t['row']}-{t['seed']}{suffix}"
                if not target.exists():
                    target.symlink_to((Path(folder) / target.name).resolve())
            trained.append(t)
    _update(output, joined=specs.split(","), trained=trained, rows=_summary(trained), **settings)
    print(f"joined {len(trained)} models from {specs} into {work}", flush=True)


def _figures(y: np.ndarray, p: np.ndarray, class_names) -> dict:
    from nas.report import classification_report

    report = classification_report(y, p, class_names)
    return {"balanced_accuracy": report["balanced_accuracy"], "accuracy": report["accuracy"],
            "melanoma_recall": report["melanoma_sensitivity"], "ece": report["expected_calibration_error"]}


def _variants(models: dict, views: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The best single model and the ensemble, each without and with TTA, as functions from images to
    probabilities."""
    from nas import ensemble, tta

    best = next(iter(models))
    final = {"single": models[best], "ensemble": ensemble.build(list(models.values()))}
    return {name + suffix: (lambda x, m=model, c=count: tta.predict(m, x, c))
            for name, model in final.items() for suffix, count in (("", 1), ("+tta", views))}


def _calibration_per_model(data, trained: list[dict], work: Path, target_sensitivity: float) -> dict:
    """Temperature scaling and the operating point of every single trained model, fitted on its validation
    probabilities and scored on its test ones (what ``nas retrain`` does for its one model)."""
    from nas.calibration import calibrate, calibration_report

    table = {}
    for t in trained:
        name = f"{t['row']}-{t['seed']}"
        kept = np.load(work / f"{name}.npz")
        fitted = calibrate(data.y_val, kept["val"], data.class_names, target_sensitivity=target_sensitivity)
        on_test = calibration_report(data.y_test, kept["test"], fitted, data.class_names)
        point = on_test["operating_point"]
        table[name] = {"temperature": fitted["temperature"], "ece_before": on_test["ece_before"],
                       "ece_after": on_test["ece_after"], "sensitivity": point["sensitivity"],
                       "specificity": point["specificity"]}
    return table


def _analyse(data, trained: list[dict], work: Path, args: argparse.Namespace) -> dict:
    """Phase 2: the rows' models ranked on validation; the best one and an ensemble of the best --ensemble, without
    and with TTA; calibration, the operating point and robustness (``final:NAME``) of the one of those four best on
    validation; robustness of the baseline (the retrain before recipes), of the default recipe (oversampling) and of
    the remedies for camera shifts (colour jitter; Shades of Gray where trained; later rows carry their own, measured
    in _train_row); temperature scaling and the operating point of every single model."""
    import keras

    from nas.calibration import calibrate, calibration_report
    from nas.shifts import robustness
    from nas.training import balanced_accuracy, predict

    ranked = sorted(trained, key=lambda t: -balanced_accuracy(
        data.y_val, np.load(work / f"{t['row']}-{t['seed']}.npz")["val"].argmax(axis=1)))
    chosen = ranked[:args.ensemble]
    models = {f"{t['row']}-{t['seed']}": keras.models.load_model(work / f"{t['row']}-{t['seed']}.keras")
              for t in chosen}
    predictors = _variants(models, args.tta)
    probabilities = {}
    for name, predict_variant in predictors.items():
        print(f"predicting {name}", flush=True)
        probabilities[name] = {"val": predict_variant(data.x_val), "test": predict_variant(data.x_test)}
    variants = {name: {"validation": _figures(data.y_val, p["val"], data.class_names),
                       "test": _figures(data.y_test, p["test"], data.class_names)}
                for name, p in probabilities.items()}
    final = max(variants, key=lambda name: variants[name]["validation"]["balanced_accuracy"])
    calibration = calibrate(data.y_val, probabilities[final]["val"], data.class_names,
                            target_sensitivity=args.target_sensitivity)
    on_test = calibration_report(data.y_test, probabilities[final]["test"], calibration, data.class_names)
    print(f"robustness of the final variant, {final}", flush=True)
    shifted = {f"final:{final}": robustness(predictors[final], data.x_test, data.y_test, data.class_names,
                                            progress=print)}
    for row in ("baseline", "oversample", "color-jitter", "shades-of-gray", "oversample+color-jitter"):
        if (work / f"{row}-0.keras").is_file():
            print(f"robustness of {row}", flush=True)
            model = keras.models.load_model(work / f"{row}-0.keras")
            shifted[row] = robustness(lambda x, m=model: predict(m, x), data.x_test, data.y_test, data.class_names,
                                      progress=print)
    return {"ranked_on_validation": [f"{t['row']}-{t['seed']}" for t in ranked], "members": list(models),
            "tta_views": args.tta, "variants": variants, "final": final,
            "calibration": {"temperature": calibration["temperature"], "validation": calibration["validation"],
                            "test": {k: on_test[k] for k in ("ece_before", "ece_after", "nll_before", "nll_after")},
                            "operating_point": on_test["operating_point"]},
            "calibration_per_model": _calibration_per_model(data, trained, work, args.target_sensitivity),
            "robustness": shifted}


def _members(data, members: list[str], work: Path) -> dict:
    """``--members``: one ensemble of the named kept models (``ROW-SEED``), whatever their validation rank: its clean
    figures and its robustness, beside each member's own (from phase 1), without TTA."""
    import keras

    from nas import ensemble
    from nas.shifts import robustness
    from nas.training import predict

    missing = [name for name in members if not (work / f"{name}.keras").is_file()]
    if missing or len(members) < 2:
        sys.exit(f"clinical.py --members: name at least two kept models of {work}; missing: {missing}")
    model = ensemble.build([keras.models.load_model(work / f"{name}.keras") for name in members])
    print(f"robustness of the ensemble of {', '.join(members)}", flush=True)
    shifted = robustness(lambda x: predict(model, x), data.x_test, data.y_test, data.class_names, progress=print)
    return {"validation": _figures(data.y_val, predict(model, data.x_val), data.class_names),
            "test": _figures(data.y_test, predict(model, data.x_test), data.class_names),
            "robustness": _shifted(shifted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"recipe rows to train (default all: {', '.join(ROWS)})")
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (default 0)")
    parser.add_argument("--genome", default=GENOMES[0], choices=GENOMES)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="time limit of each model's training (Recipe.max_seconds; default none)")
    parser.add_argument("--work", default="runs/clinical-benchmark", help="where models and probabilities are kept")
    parser.add_argument("--output", default="clinical", help="results file name under benchmarks/results/")
    parser.add_argument("--analyse", action="store_true", help="phase 2 only, on the models phase 1 kept")
    parser.add_argument("--join", default=None, metavar="NAME:WORK,...",
                        help="no training: gather the models of these results files and --work folders for --analyse")
    parser.add_argument("--ensemble", type=int, default=3, help="members of the ensemble: the best on validation")
    parser.add_argument("--members", default=None, metavar="ROW-SEED,...",
                        help="instead of --analyse: the ensemble of these kept models, scored clean and shifted")
    parser.add_argument("--tta", type=int, default=8, help="test-time views (nas.tta)")
    parser.add_argument("--target-sensitivity", type=float, default=0.9)
    add_data_option(parser)
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        sys.exit(f"clinical.py: unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    if args.join:
        return _join(args.join, work, args.output)
    start = time.perf_counter()
    data = nas.data.ham10000(data_folder(args), image_size=args.image_size, seed=0)
    print(data.summary(), f"(loaded in {time.perf_counter() - start:.1f} s)", flush=True)
    previous = RESULTS / f"{args.output}.json"
    recorded = json.loads(previous.read_text()) if previous.is_file() else {}
    trained = recorded.get("trained", [])
    if args.members:
        ensembles = recorded.get("ensembles", {})
        ensembles[args.members] = _members(data, args.members.split(","), work)
        _update(args.output, ensembles=ensembles)
        return
    if args.analyse:
        _update(args.output, analysis=_analyse(data, trained, work, args))
        return
    for row in rows:
        for seed in seeds:
            if any(t["row"] == row and t["seed"] == seed for t in trained) and (work / f"{row}-{seed}.npz").is_file():
                continue
            trained.append(_train_row(row, seed, data, args, work))
            _update(args.output, image_size=args.image_size, genome=args.genome, epochs=args.epochs,
                    patience=args.patience, max_seconds=args.max_seconds, trained=trained, rows=_summary(trained),
                    split={"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)})
            latest = trained[-1]
            print(f"{row} seed {seed}: test balanced accuracy {latest['test']['balanced_accuracy']:.4f}, melanoma "
                  f"recall {latest['test']['melanoma_recall']:.3f}, {latest['train_seconds']:.0f} s", flush=True)

if __name__ == "__main__":
    main()
