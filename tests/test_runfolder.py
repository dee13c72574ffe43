"""The run folder: line-atomic logs, atomic checkpoints, torn lines, and reading runs back."""
from __future__ import annotations

import json
import warnings

import pytest

import nas
from conftest import dense_space
from nas.errors import ConfigError
from nas.runfolder import RunFolder, config_differences, list_runs


def test_appends_are_whole_lines_and_nan_becomes_null(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {"a": 1})
    folder.append_evaluation({"index": 0, "metrics": {"val_loss": float("nan")}, "fitness": [float("-inf")]})
    folder.append_evaluation({"index": 1, "metrics": {}, "fitness": [0.5]})
    lines = (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1]
    assert json.loads(lines[0])["metrics"]["val_loss"] is None and json.loads(lines[0])["fitness"] == [None]


def test_torn_last_line_is_skipped_by_readers_and_cut_on_reopen(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {"a": 1})
    folder.append_evaluation({"index": 0})
    with open(tmp_path / "run" / "evaluations.jsonl", "a") as handle:
        handle.write('{"index": 1, "genome": {"uni')
    with pytest.warns(UserWarning, match="line 2 is incomplete"):
        assert folder.read_evaluations() == [{"index": 0}]
    with pytest.warns(UserWarning, match="removed a torn last line"):
        reopened = RunFolder.open(tmp_path / "run")
    reopened.append_evaluation({"index": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["index"] for r in reopened.read_evaluations()] == [0, 1]


def test_load_run_reads_a_folder_whose_last_line_is_torn(tiny_data, tmp_path):
    run = nas.evolve(dense_space(), tiny_data, population=3, generations=2, run_dir=tmp_path / "run",
                     verbose=False)
    log = tmp_path / "run" / "evaluations.jsonl"
    complete = len(run.evaluations)
    log.write_text(log.read_text() + log.read_text().splitlines()[0][:40])
    with pytest.warns(UserWarning, match="incomplete or corrupt"):
        again = nas.load_run(tmp_path / "run")
    assert len(again.evaluations) == complete and again.best.genome == run.best.genome
    assert again.config["population"] == 3 and len(again.generations) == 2 and len(again.population) == 3


def test_checkpoint_is_replaced_atomically_with_a_fallback(tmp_path):
    folder = RunFolder.create(tmp_path / "run", {})
    folder.write_checkpoint({"generation": 0})
    folder.write_checkpoint({"generation": 1})
    assert folder.read_checkpoint() == {"generation": 1}
    (tmp_path / "run" / "checkpoint.json").write_text('{"generation": 2, "popu')
    with pytest.warns(UserWarning, match="damaged"):
        assert folder.read_checkpoint() == {"generation": 0}
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_refuses_an_existing_run_and_a_non_run(tmp_path):
    RunFolder.create(tmp_path / "run", {})
    with pytest.raises(ConfigError, match="already holds a run"):
        RunFolder.create(tmp_path / "run", {})
    with pytest.raises(ConfigError, match="not a run folder"):
        nas.load_run(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write the run folder"):
        RunFolder.create(blocker / "run", {})


def test_config_differences_name_nested_fields():
    recorded = {"population": 4, "budget": {"epochs": 1, "max_params": None}, "created": "x"}
    given = {"population": 4, "budget": {"epochs": 2, "max_params": None}, "created": "y"}
    assert config_differences(recorded, given, ignore=["created"]) == ["budget.epochs: recorded 1, given 2"]
    assert config_differences({"a": [1, 2]}, {"a": (1, 2)}) == []


def test_list_runs(tmp_path):
    RunFolder.create(tmp_path / "one", {})
    RunFolder.create(tmp_path / "two", {})
    (tmp_path / "not-a-run").mkdir()
    assert [p.name for p in list_runs(tmp_path)] == ["one", "two"]
    with pytest.raises(ConfigError):
        list_runs(tmp_path / "missing")
