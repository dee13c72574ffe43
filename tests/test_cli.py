"""The `nas` command line, run as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NAS = Path(sys.executable).parent / "nas"


def nas_cli(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [str(NAS)] if NAS.exists() else [sys.executable, "-m", "nas"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    result = nas_cli("search", "--space", "cnn", "--data", "synthetic", "--image-size", "16", "--population", "3",
                     "--generations", "2", "--epochs", "1", "--max-train-samples", "100", "--run-dir",
                     root / "demo", "--seed", "1")
    return root, result


def test_search_prints_progress_and_writes_the_run_folder(cli_run):
    root, result = cli_run
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "generation 1/2" in out and "[gen 2 " in out and "val_accuracy min/mean/max" in out
    assert "ETA" in out and "best genome" in out
    folder = root / "demo"
    for name in ("config.json", "evaluations.jsonl", "generations.jsonl", "checkpoint.json", "plots/fitness.png"):
        assert (folder / name).is_file(), name
    evaluations = [json.loads(line) for line in (folder / "evaluations.jsonl").read_text().splitlines()]
    assert all(r["metrics"]["train_samples"] == 100 for r in evaluations if r["status"] == "ok")
    assert out.count("  [gen ") == sum(r["status"] != "cached" for r in evaluations)
    config = json.loads((folder / "config.json").read_text())
    assert config["data"] == {**config["data"], "kind": "synthetic_lesions", "image_size": 16, "seed": 1}


def test_runs_show_list_and_plot(cli_run):
    root, _ = cli_run
    shown = nas_cli("runs", "show", root / "demo")
    assert shown.returncode == 0, shown.stderr
    assert "population 3 x 2 generations" in shown.stdout and "best " in shown.stdout
    assert "genome     blocks=" in shown.stdout and "2/2" in shown.stdout
    listed = nas_cli("runs", "list", root)
    assert listed.returncode == 0 and "demo" in listed.stdout and "finished" in listed.stdout
    (root / "demo" / "plots" / "fitness.png").unlink()
    plotted = nas_cli("plot", root / "demo")
    assert plotted.returncode == 0 and (root / "demo" / "plots" / "fitness.png").is_file()


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "nas", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "search" in result.stdout and "runs" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["search", "--space", "transformer"], "unknown search space 'transformer'"),
    (["search", "--objectives", "val_acc"], "unknown objective 'val_acc'"),
    (["search", "--data", "imagenet"], "imagenet"),
    (["runs", "show", "/nonexistent/run"], "not a run folder"),
    (["resume", "/nonexistent/run"], "not a run folder"),
    (["search", "--initial", "plain4"], "--initial 'plain4' is neither a design of space 'cnn' (table1) nor a JSON"),
    (["search", "--space", "modern", "--initial", __file__], "--initial " + __file__ + ": cannot read a genome"),
    (["search", "--gpus-per-trial", "0.5"], "--gpus-per-trial only apply with --executor ray"),
    (["search", "--executor", "ray", "--ray-address", "host:abc"], "cannot parse the Ray address 'host:abc'"),
    (["search", "--executor", "ray", "--ray-address", "host:99999"], "cannot parse the Ray address 'host:99999'"),
    (["search", "--executor", "ray", "--ray-address", "host:0"], "cannot parse the Ray address 'host:0'"),
    (["search", "--executor", "ray", "--ray-address", "http://host:6379"], "cannot parse the Ray address"),
    (["search", "--executor", "ray", "--ray-address", ":6379"], "cannot parse the Ray address"),
    (["search", "--executor", "ray", "--ray-address", "host:6379/path"], "cannot parse the Ray address"),
])
def test_user_mistakes_are_one_line_and_exit_2(args, message, tmp_path):
    result = nas_cli(*args, "--run-dir", tmp_path / "r") if args[0] == "search" else nas_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_run_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = nas_cli("search", "--population", "2", "--generations", "1", "--run-dir", blocker / "run")
    assert result.returncode == 2 and "cannot write the run folder" in result.stderr
    assert "Traceback" not in result.stderr
