"""Tests of nas.retrain: retraining a run's best genomes, the baselines beside them, and the two commands."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import nas
from nas import cli
from nas import data as D
from nas.augment import Augmentation
from nas.errors import ConfigError
from nas.uncertainty import describe_difference
from nas.ranking import describe, kendall_tau_b
from nas.recipe import Recipe
from nas.retrain import baseline, fit, retrain


def _tiny_search(run_dir: Path, **options) -> nas.Run:
    return nas.evolve("cnn", D.synthetic_lesions(n=140, image_size=16, seed=0), generations=1, executor="inline",
                      run_dir=run_dir, seed=0, verbose=False, **options)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return _tiny_search(tmp_path_factory.mktemp("runs") / "run", population=2)


@pytest.fixture(scope="module")
def loss_run(tmp_path_factory):
    """Three genomes searched on the validation loss, a continuous score: at this size every genome's validation
    accuracy is at chance, the same for all, which would leave the proxy's rank correlation undefined."""
    return _tiny_search(tmp_path_factory.mktemp("runs") / "loss", population=3, objectives="-val_loss")


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return Path(shutil.copytree(tiny_run.path, tmp_path / "run"))


def test_retrain_top_k_writes_the_final_folder(run_copy):
    summary = retrain(run_copy, epochs=2, top_k=2, patience=1, verbose=False)
    final = run_copy / "final"
    for name in ("model.keras", "history.json", "training_curves.png", "report.json", "report.md",
                 "confusion_matrix.png"):
        assert (final / name).is_file() and (final / name).stat().st_size > 0, name
    history = json.loads((final / "history.json").read_text())
    candidates = history["candidates"]
    assert [c["rank"] for c in candidates] == [1, 2] and len({c["genome_hash"] for c in candidates}) == 2
    # the model kept is the candidate best on the validation split (the run's objective), never chosen on test
    best = max(candidates, key=lambda c: (c["validation"]["val_accuracy"], -c["rank"]))
    assert summary["genome_hash"] == history["genome_hash"] == best["genome_hash"]
    for candidate in candidates:
        assert 1 <= candidate["best_epoch"] <= candidate["epochs_run"] <= 2
        assert len(candidate["history"]["val_loss"]) == candidate["epochs_run"]
    assert history["settings"]["augmentation"] == Augmentation().to_dict()
    # the default recipe balances the classes by oversampling, so no class weights
    assert history["settings"]["recipe"] == Recipe().to_dict() and not history["settings"]["class_weighted"]
    assert history["proxy_rank_correlation"] == summary["proxy_rank_correlation"]
    assert summary["proxy_rank_correlation"]["kendall_tau"] is None and summary["proxy_rank_correlation"]["k"] == 2
    # the saved model is the one reported on: its test accuracy is the report's
    run = nas.load_run(run_copy)
    assert run.model_path() == final / "model.keras"
    data = D.from_spec(run.config["data"])
    predicted = nas.training.predict(run.model(), data.x_test).argmax(axis=1)
    report = json.loads((final / "report.json").read_text())
    assert report["accuracy"] == pytest.approx(np.mean(predicted == data.y_test))
    assert report["n_samples"] == len(data.y_test) and "Melanoma (mel)" in (final / "report.md").read_text()


def test_early_stopping_keeps_the_best_epoch(capsys):
    import keras
    from search_spaces import cnn

    data = D.synthetic_lesions(n=140, image_size=16, seed=1)
    genome = cnn.SPACE.repair({**cnn.TABLE1, "filters_1": 8, "filters_2": 8, "dense_units": 32,
                               "learning_rate": 0.01}, data.input_shape)
    model = cnn.SPACE.build(genome, data.input_shape, data.num_classes)
    cnn.SPACE.compile(model, genome)
    result = fit(model, data, epochs=6, batch_size=16, seed=0, patience=2, label="small")
    val_loss = result["history"]["val_loss"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == result["epochs_run"] and lines[0].startswith("small: epoch 1/6  ") and "val_loss" in lines[0]
    assert result["best_epoch"] == int(np.argmin(val_loss)) + 1 and result["epochs_run"] == len(val_loss) <= 6
    assert result["epochs_run"] == 6 or result["epochs_run"] == result["best_epoch"] + 2
    # the weights kept are those of the best epoch, not of the last one
    assert nas.training.score(model, data, nas.Budget(), 0)["val_loss"] == pytest.approx(min(val_loss), rel=1e-3)
    keras.backend.clear_session()
    with pytest.raises(ConfigError, match="patience"):
        fit(model, data, epochs=1, batch_size=16, seed=0, patience=0)


def test_retrain_and_table1_baseline_on_a_ham10000_folder(generated_ham, tmp_path):
    data = D.ham10000(generated_ham.root, image_size=32, seed=0)
    assert data.class_weighted  # HAM10000 asks for a class-weighted loss ...
    # ... and a search the way a user writes it, with a budget that does not say, gets one
    run = nas.evolve("cnn", data=data, population=2, generations=1, executor="inline", run_dir=tmp_path / "ham",
                     seed=0, budget=nas.Budget(epochs=1, max_params=200_000), verbose=False)
    config = json.loads((run.path / "config.json").read_text())
    assert config["budget"]["class_weighted"] is True, config["budget"]
    with open(run.path / "splits.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(y) for y in (data.y_train, data.y_val, data.y_test))
    splits_of: dict[str, set] = {}
    for row in rows:
        splits_of.setdefault(row["lesion_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    summary = retrain(run, epochs=1, baselines="table1", verbose=False)  # data rebuilt from the run's spec
    final = run.path / "final"
    baselines = json.loads((final / "baselines.json").read_text())
    assert set(baselines) == {"table1"} and baselines["table1"]["n_samples"] == len(data.y_test)
    assert summary["test"]["n_samples"] == len(data.y_test)
    assert summary["test"]["benign_vs_malignant"]["malignant_classes"] == ["akiec", "bcc", "mel"]
    markdown = (final / "report.md").read_text()
    assert "Traditional CNN (Table 1)" in markdown and "Searched CNN" in markdown
    versus = baselines["table1"]["versus_searched"]["balanced_accuracy"]
    assert versus["difference"] == pytest.approx(summary["test"]["balanced_accuracy"]
                                                 - baselines["table1"]["balanced_accuracy"])
    assert f"| {describe_difference(versus)} |" in markdown
    history = json.loads((final / "history.json").read_text())
    assert history["baselines"]["table1"]["settings"]["learning_rate"] == 1e-3


def test_retrain_command_at_another_image_size_keeps_the_split(generated_ham, tmp_path, capsys):
    """A search at a small size hands its genome to a retrain at a larger one on the run's own data and split."""
    import keras

    data = D.ham10000(generated_ham.root, image_size=16, seed=3)
    run = nas.evolve("cnn", data=data, population=2, generations=1, executor="inline", run_dir=tmp_path / "small",
                     seed=0, budget=nas.Budget(epochs=1, max_params=200_000), verbose=False)
    assert cli.main(["retrain", str(run.path), "--image-size", "24", "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert nas.load_run(run.path).model().input_shape == (None, 24, 24, 3)
    report = json.loads((run.path / "final" / "report.json").read_text())
    larger = D.ham10000(generated_ham.root, image_size=24, splits_file=run.path / "splits.csv")
    assert report["n_samples"] == len(data.y_test) == len(larger.y_test)
    for split in ("train", "val", "test"):  # the same images in each split: the split is the run's
        assert sorted(getattr(larger, f"image_ids_{split}")) == sorted(getattr(data, f"image_ids_{split}"))
    x, y = D.synthetic_lesions(n=60, image_size=8, seed=0).x_train, D.synthetic_lesions(n=60, image_size=8).y_train
    own = nas.evolve("cnn", data=(x, y), population=2, generations=1, executor="inline", run_dir=tmp_path / "own",
                     seed=0, budget=nas.Budget(epochs=1), verbose=False)
    assert cli.main(["retrain", str(own.path), "--image-size", "16", "--epochs", "1"]) == 2
    assert "--image-size: the run's data (arrays) has no input size to change; give --data" in capsys.readouterr().err
    # nas baseline beside the run, at the retrain's size, on the same split
    assert cli.main(["baseline", "--model", "table1", "--run-dir", str(run.path), "--image-size", "24", "--epochs",
                     "1", "--quiet"]) == 0
    results = json.loads((run.path / "baselines.json").read_text())["models"]["table1"]
    assert results["report"]["n_samples"] == len(data.y_test)
    assert keras.models.load_model(run.path / "table1" / "model.keras").input_shape == (None, 24, 24, 3)
    assert cli.main(["baseline", "--model", "table1", "--image-size", "24"]) == 2
    assert "--image-size needs --data, or --run-dir of a search run" in capsys.readouterr().err


def test_retrain_command_and_its_errors(run_copy, capsys):
    assert cli.main(["retrain", str(run_copy), "--epochs", "1", "--no-augment", "--quiet",
                     "--baselines", "table1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "balanced accuracy" in out and "final/model.keras" in out
    versus = json.loads((run_copy / "final" / "baselines.json").read_text())["table1"]["versus_searched"]
    assert (f"searched - this {versus['balanced_accuracy']['difference']:+.4f} ± "
            f"{versus['balanced_accuracy']['standard_error']:.4f} (paired)") in out
    assert "Proxy-to-final rank correlation over the top 1: undefined (1 genome retrained;" in out
    history = json.loads((run_copy / "final" / "history.json").read_text())
    assert history["settings"]["augmentation"] == Augmentation.none().to_dict()
    assert cli.main(["retrain", str(run_copy), "--baselines", "vgg19"]) == 2
    assert "unknown baseline vgg19" in capsys.readouterr().err
    assert cli.main(["retrain", str(run_copy.parent / "absent")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_retrain_records_and_prints_the_proxy_rank_correlation(loss_run, capsys):
    assert cli.main(["retrain", str(loss_run.path), "--top-k", "3", "--epochs", "1", "--patience", "1",
                     "--no-augment", "--quiet"]) == 0
    out = capsys.readouterr().out
    final = loss_run.path / "final"
    history = json.loads((final / "history.json").read_text())
    correlation, candidates = history["proxy_rank_correlation"], history["candidates"]
    assert correlation["k"] == len(candidates) == 3 and correlation["metric"] == "val_loss"
    # one pair per genome of the top 3, in rank order: the search's recorded fitness, the retrained validation loss
    assert correlation["pairs"] == [[c["search_fitness"][0], c["validation"]["val_loss"]] for c in candidates]
    tau = kendall_tau_b(*zip(*correlation["pairs"]))
    assert tau is not None and correlation["kendall_tau"] == pytest.approx(tau)
    line = describe(correlation)
    assert f"Kendall tau-b = {tau:.2f} on val_loss" in line
    assert line in out.splitlines() and line in (final / "report.md").read_text().splitlines()
    # the objective is minimised: the model kept is the one with the lowest retrained validation loss
    assert history["genome_hash"] == min(candidates, key=lambda c: c["validation"]["val_loss"])["genome_hash"]


def test_baseline_command(tmp_path, capsys):
    out_dir = tmp_path / "baselines"
    assert cli.main(["baseline", "--model", "table1", "--data", "synthetic:140", "--image-size", "16", "--epochs", "1",
                     "--run-dir", str(out_dir), "--quiet"]) == 0
    assert "table1" in capsys.readouterr().out
    results = json.loads((out_dir / "baselines.json").read_text())
    assert results["models"]["table1"]["report"]["n_samples"] == 28
    for name in ("model.keras", "report.json", "report.md", "confusion_matrix.png"):
        assert (out_dir / "table1" / name).is_file(), name
    assert not (out_dir / "splits.csv").exists()  # generated images have no ids to audit
    with pytest.raises(ConfigError, match="give the data"):
        baseline("table1", None, run_dir=tmp_path / "empty")
    assert cli.main(["baseline", "--model", "alexnet", "--data", "synthetic"]) == 2
