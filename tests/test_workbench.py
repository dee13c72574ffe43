"""The workbench: a run as a pandas DataFrame, ``nas runs compare`` and ``nas runs show --follow``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas

import nas
from nas.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def simulated_run(path: Path, **options) -> nas.Run:
    """A search scored by nas.training.simulate: real run folder, no training."""
    settings = dict(population=4, generations=2, seed=0, verbose=False)
    settings.update(options)
    return nas.evolve("cnn", "synthetic:200", executor=nas.InlineExecutor(evaluate=nas.training.simulate),
                      run_dir=path, **settings)


def test_dataframe_has_one_row_per_evaluation_with_genes_metrics_and_fitness(tmp_path):
    run = simulated_run(tmp_path / "run", objectives=["val_accuracy", "-params"])
    frame = run.to_dataframe()
    assert len(frame) == len(run.evaluations) == 8
    assert list(frame["index"]) == [r["index"] for r in run.evaluations]
    first = run.evaluations[0]
    row = frame.iloc[0]
    assert row["genome_hash"] == first["genome_hash"] and row["status"] == "ok"
    assert row["fitness.val_accuracy"] == first["fitness"][0] and row["fitness.params"] == first["fitness"][1]
    assert row["val_loss"] == first["metrics"]["val_loss"] and row["params"] == first["metrics"]["params"]
    assert {f"gene.{name}" for name in first["genome"]} <= set(frame.columns)
    assert row["gene.optimizer"] == first["genome"]["optimizer"]
    assert str(frame["started"].dtype).startswith("datetime64") and frame["finished"].iloc[0].tzname() == "UTC"
    assert (frame["replicate"] == 0).all() and frame["replicate_of"].isna().all()
    assert "parents" not in frame.columns and "operator" not in frame.columns


def test_dataframe_keeps_rungs_replicates_retries_and_lineage(tmp_path):
    run = simulated_run(tmp_path / "run", fidelity="1:3:3", reevaluate=2)
    folder = RunFolder(run.path)
    last = dict(run.evaluations[0], index=len(run.evaluations), status="failed", error="lost node", fitness=[None],
                metrics={}, parents=[0, 1], operator="crossover")
    folder.append_evaluation(last)
    folder.append_evaluation(dict(last, status="ok", error=None, fitness=[0.5], metrics={"val_accuracy": 0.5}))
    frame = nas.load_run(run.path).to_dataframe()
    assert len(frame) == len(run.evaluations) + 1  # the retried index once, its latest attempt
    assert set(frame["rung"]) == {0, 1} and set(frame["epochs"]) == {1, 3}
    replicates = frame[frame["replicate"] > 0]
    assert len(replicates) == 4 and set(replicates["replicate_of"]) <= set(frame["index"])
    retried = frame.iloc[-1]
    assert retried["status"] == "ok" and retried["operator"] == "crossover" and list(retried["parents"]) == [0, 1]
    assert pandas.isna(frame["operator"].iloc[0])


def test_dataframe_without_pandas_names_the_extra_and_import_nas_does_not_load_pandas(tmp_path):
    run = simulated_run(tmp_path / "run")
    code = f"""
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
sys.meta_path.insert(0, Blocker())
import nas
print("pandas loaded:", "pandas" in sys.modules)
try:
    nas.load_run({str(run.path)!r}).to_dataframe()
except nas.ConfigError as error:
    print("error:", error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "pandas loaded: False" in result.stdout, result.stderr
    assert 'error: a run\'s table needs pandas, an optional dependency: pip install "nas[workbench]"' in result.stdout
