"""``nas export`` on a real tiny run: Keras and TFLite round trips, quantization, agreement figures and bad input."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import nas
from nas import cli
from nas.errors import ConfigError
from nas.export import ExportError, check_agreement, export, tflite_predictor
from nas.training import predict


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = nas.data.synthetic_lesions(n=140, image_size=16, seed=0)
    return nas.evolve("cnn", data, population=2, generations=1, executor="inline",
                      run_dir=tmp_path_factory.mktemp("export") / "run", seed=0, verbose=False)


@pytest.fixture(scope="module")
def reference(run):
    """The run's Keras model and its test-split probabilities."""
    model = run.model()
    data = nas.data.from_spec(run.config["data"])
    return model, data, predict(model, data.x_test)


def test_keras_export_round_trip(run, reference):
    model, data, probabilities = reference
    figures = export(run, "keras", repeats=3)
    path = Path(figures["path"])
    assert path == run.path / "export" / "model.keras" and path.stat().st_size == figures["size_bytes"]
    assert figures["agreement"] == 1.0 and figures["agreeing"] == figures["test_images"] == len(data.y_test)
    assert figures["min_agreement"] == 0.99 and figures["latency_ms"] > 0 and figures["keras_latency_ms"] > 0
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(predict(loaded, data.x_test), probabilities, atol=1e-6)


def test_tflite_float_export_predicts_what_keras_predicts(run, reference):
    _, data, probabilities = reference
    figures = export(str(run.path), "tflite", repeats=3)
    content = Path(figures["path"]).read_bytes()
    assert Path(figures["path"]).name == "model.tflite" and len(content) == figures["size_bytes"]
    np.testing.assert_allclose(tflite_predictor(content)(data.x_test), probabilities, atol=1e-4)
    assert figures["agreement"] >= 0.99


def test_quantized_exports_are_smaller_and_report_their_agreement(run, tmp_path):
    sizes = {}
    for quantize in (None, "float16", "int8"):
        figures = export(run, "tflite", quantize, out=tmp_path / f"{quantize}.tflite", repeats=3)
        sizes[quantize] = figures["size_bytes"]
        assert 0 <= figures["agreeing"] <= figures["test_images"]
        assert figures["agreement"] == figures["agreeing"] / figures["test_images"]
        assert figures["min_agreement"] == (0.99 if quantize is None else None)
        assert Path(figures["path"]).is_file()
    # float16 halves the weights, int8 quarters them; the graph adds a little to each.
    assert sizes["int8"] < 0.3 * sizes[None] and 0.45 * sizes[None] < sizes["float16"] < 0.55 * sizes[None]


def test_cli_prints_size_latency_and_agreement(run, capsys):
    status = cli.main(["export", str(run.path), "--format", "tflite", "--quantize", "float16", "--repeats", "3"])
    output = capsys.readouterr().out
    assert status == 0
    assert (run.path / "export" / "model_float16.tflite").is_file()
    assert "MB" in output and "per-image CPU latency" in output
    assert "top-1 agreement with the Keras model on the test split" in output


def test_cli_rejects_bad_runs_and_options(run, tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "nowhere"), "--format", "tflite"]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert cli.main(["export", str(run.path), "--format", "keras", "--quantize", "int8"]) == 2
    assert "needs --format tflite" in capsys.readouterr().err
    assert cli.main(["export", str(run.path), "--format", "tflite", "--data", "digits"]) == 2
    assert "images are (16, 16, 1) but the model takes (16, 16, 3)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["export", str(run.path), "--format", "onnx"])
    assert exit_.value.code == 2


def test_bad_arguments_are_config_errors(run, reference, tmp_path):
    model, data, _ = reference
    with pytest.raises(ConfigError, match="unknown export format"):
        export(run, "onnx")
    with pytest.raises(ConfigError, match="unknown quantization"):
        export(run, "tflite", "int4")
    with pytest.raises(ConfigError, match=r"must be a \.tflite file"):
        export(run, "tflite", out=tmp_path / "model.bin")
    with pytest.raises(ConfigError, match="needs out="):
        export(model, "tflite")
    with pytest.raises(ConfigError, match="images are"):
        export(model, "tflite", out=tmp_path / "m.tflite", data=nas.data.synthetic_lesions(n=21, image_size=8))
    assert not (tmp_path / "model.bin").exists() and not (tmp_path / "m.tflite").exists()


def test_bare_model_export_and_the_agreement_threshold(reference, tmp_path):
    model, data, _ = reference
    figures = export(model, "tflite", out=tmp_path / "bare.tflite", data=data, repeats=3)
    assert figures["agreement"] >= 0.99 and (tmp_path / "bare.tflite").is_file()
    assert model.optimizer is not None  # the freshly trained model is compiled ...
    export(model, "keras", out=tmp_path / "bare.keras", data=data, repeats=3)
    loaded = keras.models.load_model(tmp_path / "bare.keras", safe_mode=True)
    assert getattr(loaded, "optimizer", None) is None  # ... its deployed file carries no optimizer state
    with pytest.raises(ExportError, match=r"98\.0% of 50 test images.*not written"):
        check_agreement(0.98, 50, None, tmp_path / "x.tflite")
    check_agreement(0.5, 50, "int8", tmp_path / "x.tflite")  # quantized exports report, they are not held to 99%
