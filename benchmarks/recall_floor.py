"""A melanoma recall floor (nas.decision), fitted on the validation split, on the models benchmarks/clinical.py kept.

    python benchmarks/recall_floor.py [--work runs/clinical-benchmark,runs/clinical-long] [--floors 0.6,0.7]
        [--ensemble] [--output recall_floor]

benchmarks/clinical.py keeps every model it trains with its validation and test probabilities (``WORK/ROW-SEED.npz``).
For each of them and each floor this script does what ``nas retrain --recall-floor mel=FLOOR`` does after training:
``nas.calibration.calibrate`` on the validation probabilities (temperature, then the smallest offset on the
melanoma log-probability that finds FLOOR of the validation melanomas), then ``calibration_report`` on the test
split. It writes the test balanced accuracy and melanoma recall without and with the rule to
benchmarks/results/recall_floor.json (``--output NAME``: NAME.json; recall_floor_patience10.json holds the models
of ``clinical.py --work runs/clinical-patience10``; recall_floor_128_joined.json ``--work runs/clinical-128-joined
--ensemble``, the three 128 px models alone and averaged as clinical.py --analyse's ensemble without TTA). It
trains nothing, so it takes seconds, but it needs clinical.py's folders (``runs/`` is not committed) and the
HAM10000 split they were made on (seed 0; the input size does not change the split). ``--robustness`` also loads
the kept models (``WORK/ROW-SEED.keras``) and scores each, and each folder's ensemble with ``--ensemble``, under the
camera-like shifts of ``nas.shifts.robustness`` with and without the rule (``with_rule``, as ``nas retrain`` reports
it), on the test split read at ``--image-size`` (the models' input size), each model predicting every shifted copy
once for all floors; that takes minutes. recall_floor_128_joined_robustness.json holds ``--work
runs/clinical-128-joined --ensemble --robustness --image-size 128``.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
from nas.calibration import calibrate, calibration_report, decision_rule  # noqa: E402


def probabilities(path: Path, data) -> dict:
    """One kept model's validation and test probabilities, checked against the split."""
    kept = np.load(path)
    if len(kept["val"]) != len(data.y_val) or len(kept["test"]) != len(data.y_test):
        sys.exit(f"{path} was not made on this split ({len(kept['val'])} validation images, not {len(data.y_val)})")
    return {"val": kept["val"], "test": kept["test"]}


def one_model(name: str, kept: dict, data, floor: float) -> dict:
    """The rule fitted on one model's validation probabilities and scored on its test probabilities."""
    calibration = calibrate(data.y_val, kept["val"], data.class_names, recall_floors={"mel": floor})
    block = calibration_report(data.y_test, kept["test"], calibration, data.class_names)["recall_floors"]
    return {"model": name, "floor": floor, "offset": block["offsets"]["mel"],
            "validation_recall": block["validation_recall"]["mel"],
            "test_balanced_accuracy_before": block["balanced_accuracy_before"],
            "test_balanced_accuracy_after": block["balanced_accuracy_after"],
            "test_melanoma_recall_before": block["recall_before"]["mel"],
            "test_melanoma_recall_after": block["recall_after"]["mel"],
            "balanced_accuracy_change": block["balanced_accuracy_after"] - block["balanced_accuracy_before"],
            "melanoma_recall_change": block["recall_after"]["mel"] - block["recall_before"]["mel"]}


def remembered(predict):
    """``predict`` with its answers kept by the images' bytes: the shifts are deterministic, so each model predicts
    each shifted copy once whatever the number of floors, and an ensemble averages its members' kept answers."""
    answers: dict[bytes, np.ndarray] = {}

    def predicted(x: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(np.ascontiguousarray(x).tobytes()).digest()
        if key not in answers:
            answers[key] = predict(x)
        return answers[key]
    return predicted


def robustness_rows(names: list[str], models: dict, data, args, floors: list[float]) -> list[dict]:
    """Each model (and ensemble) under the shifts without a rule and with each floor's rule, fitted as above."""
    import keras

    from nas.shifts import robustness
    from nas.training import predict

    images = nas.data.ham10000(data_folder(args), image_size=args.image_size, seed=0)
    if len(images.y_test) != len(data.y_test) or np.any(images.y_test != data.y_test):
        sys.exit(f"--image-size {args.image_size} read another test split than the kept probabilities' one")
    predictors = {}
    for name in names:
        if name.endswith("/ensemble"):
            members = [predictors[m] for m in predictors if m.startswith(name.split("/")[0] + "/")]
            predictors[name] = lambda x, members=members: np.mean([member(x) for member in members], axis=0)
            continue
        folder, stem = name.split("/")
        model = keras.models.load_model(next(Path(f) for f in args.work.split(",") if Path(f).name == folder)
                                        / f"{stem}.keras")
        predictors[name] = remembered(lambda x, model=model: predict(model, x))
    rows = []
    for floor in floors:
        for name in names:
            rule = decision_rule(calibrate(data.y_val, models[name]["val"], data.class_names,
                                           recall_floors={"mel": floor}), data.class_names)
            result = robustness(predictors[name], images.x_test, images.y_test, images.class_names, rule=rule)
            rows.append({"model": name, "floor": floor, **{key: result[key] for key in (
                "clean", "mean_shifted_balanced_accuracy", "ratio_to_clean")}, "with_rule": result["with_rule"]})
            print(f"{name:<60} floor {floor}: mean under the shifts {result['mean_shifted_balanced_accuracy']:.4f} "
                  f"(ratio {result['ratio_to_clean']:.4f}); with the rule "
                  f"{result['with_rule']['mean_shifted_balanced_accuracy']:.4f} "
                  f"(ratio {result['with_rule']['ratio_to_clean']:.4f})", flush=True)
    return rows


def summary(rows: list[dict], floor: float) -> dict:
    """Means over the models, and how many reach the floor on the test split without and with the rule."""
    mine = [r for r in rows if r["floor"] == floor]
    return {"models": len(mine),
            **{f"mean_{key}": statistics.fmean(r[key] for r in mine) for key in (
                "test_balanced_accuracy_before", "test_balanced_accuracy_after", "test_melanoma_recall_before",
                "test_melanoma_recall_after")},
            "mean_balanced_accuracy_change": statistics.fmean(r["balanced_accuracy_change"] for r in mine),
            "mean_melanoma_recall_change": statistics.fmean(r["melanoma_recall_change"] for r in mine),
            "reach_floor_before": sum(r["test_melanoma_recall_before"] >= floor for r in mine),
            "reach_floor_after": sum(r["test_melanoma_recall_after"] >= floor for r in mine)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="runs/clinical-benchmark,runs/clinical-long",
                        help="clinical.py --work folders, comma-separated")
    parser.add_argument("--floors", default="0.6,0.7", help="melanoma recall floors, comma-separated")
    parser.add_argument("--ensemble", action="store_true",
                        help="also each folder's models as one ensemble (their probabilities averaged)")
    parser.add_argument("--robustness", action="store_true",
                        help="also score the kept models under camera-like shifts, without and with each rule")
    parser.add_argument("--image-size", type=int, default=64, help="the kept models' input size (--robustness)")
    parser.add_argument("--output", default="recall_floor", help="results file name under benchmarks/results/")
    add_data_option(parser)
    args = parser.parse_args()
    kept = sorted(path for folder in args.work.split(",") for path in Path(folder).glob("*.npz"))
    if not kept:
        sys.exit(f"no kept models (*.npz) in {args.work}: run benchmarks/clinical.py first")
    data = nas.data.ham10000(data_folder(args), image_size=64, seed=0)
    floors = [float(f) for f in args.floors.split(",")]
    models = {f"{path.parent.name}/{path.stem}": probabilities(path, data) for path in kept}
    if args.ensemble:  # what nas.ensemble.build predicts: the mean of the members' probabilities
        for folder in args.work.split(","):
            members = [m for name, m in models.items() if name.startswith(f"{Path(folder).name}/")]
            if len(members) < 2:
                sys.exit(f"recall_floor.py --ensemble: {folder} holds {len(members)} kept model(s); an ensemble "
                         "needs 2 or more")
            models[f"{Path(folder).name}/ensemble"] = {split: np.mean([m[split] for m in members], axis=0)
                                                      for split in ("val", "test")}
    rows = [one_model(name, scores, data, floor) for floor in floors for name, scores in models.items()]
    for row in rows:
        print(f"{row['model']:<60} floor {row['floor']}: offset {row['offset']:.2f}; test balanced accuracy "
              f"{row['test_balanced_accuracy_before']:.4f} -> {row['test_balanced_accuracy_after']:.4f}, melanoma "
              f"recall {row['test_melanoma_recall_before']:.3f} -> {row['test_melanoma_recall_after']:.3f}")
    figures = {"work": args.work, "rows": rows, "summary": {str(floor): summary(rows, floor) for floor in floors}}
    if args.robustness:
        figures["robustness"] = robustness_rows(list(models), models, data, args, floors)
    print(f"written to {save(args.output, figures)}")
    for floor, table in figures["summary"].items():
        print(f"floor {floor}: {table}")


if __name__ == "__main__":
    main()
