"""examples/ham10000_search.py, the flagship example, run as a user runs it: with its measured recipe, cut to a tiny
folder (the generated HAM10000 layout), 16 px, two generations and rungs of 1 and 3 epochs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import search_spaces

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ham10000_search.py"


def _example(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_ham10000_example_runs_the_measured_recipe(generated_ham, tmp_path):
    result = _example("--root", generated_ham.root, "--image-size", "16", "--population", "3", "--generations", "2",
                      "--fidelity", "1:3:3", "--rung-samples", "all", "--max-train-samples", "30",
                      "--reevaluate", "1", "--timeout", "10m", "--run-dir", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["space"]["name"] == "modern" and config["algorithm"] == "aging"
    assert config["fidelity"] == {**config["fidelity"], "min_epochs": 1, "max_epochs": 3, "eta": 3}
    assert config["initial"] == [search_spaces.designs("modern")["plain4-stride2"]]
    records = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert records[0]["operator"] == "seeded"
    assert {r["operator"] for r in records} >= {"promotion", "reevaluation"}
    assert all(r["metrics"]["train_samples"] <= 30 for r in records if r["status"] == "ok" and r["rung"] == 0)
    assert (tmp_path / "run" / "reevaluation.json").is_file()
    assert "--schedule cosine --stop-on balanced-accuracy --max-seconds 20m" in result.stdout


def test_ham10000_example_names_a_wrong_design(generated_ham, tmp_path):
    result = _example("--root", generated_ham.root, "--space", "cnn", "--initial", "plain4",
                      "--run-dir", tmp_path / "run")
    assert result.returncode != 0 and "plain4" in result.stderr and "table1" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
