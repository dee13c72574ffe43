"""The workbench: a run as a pandas DataFrame, ``nas runs compare`` and ``nas runs show --follow``."""
from __future__ import annotations

import os
import signal
import subprocess
import time
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
    assert row["operator"] == first["operator"] and list(row["parents"]) == first["parents"]


def test_dataframe_keeps_rungs_replicates_retries_and_lineage(tmp_path):
    run = simulated_run(tmp_path / "run", fidelity="1:3:3", reevaluate=2)
    folder = RunFolder(run.path)
    last = dict(run.evaluations[0], index=len(run.evaluations), status="failed", error="lost node", fitness=[None],
                metrics={}, parents=[0, 1], operator="crossover")
    folder.append_evaluation(last)
    folder.append_evaluation(dict(last, status="ok", error=None, fitness=[0.5], metrics={"val_accuracy": 0.5}))
    old = {k: v for k, v in run.evaluations[1].items() if k not in ("parents", "operator", "changed")}
    folder.append_evaluation(dict(old, index=len(run.evaluations) + 1))  # as a version before lineage wrote it
    frame = nas.load_run(run.path).to_dataframe()
    assert len(frame) == len(run.evaluations) + 2  # the retried index once, its latest attempt
    assert set(frame["rung"]) == {0, 1} and set(frame["epochs"]) == {1, 3}
    replicates = frame[frame["replicate"] > 0]
    assert len(replicates) == 4 and set(replicates["replicate_of"]) <= set(frame["index"])
    retried = frame.iloc[-2]
    assert retried["status"] == "ok" and retried["operator"] == "crossover" and list(retried["parents"]) == [0, 1]
    assert pandas.isna(frame["operator"].iloc[-1]) and frame["operator"].iloc[0] == run.evaluations[0]["operator"]


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


def nas_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real ``nas`` command line in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_compare_prints_a_row_per_run_and_writes_the_plot(tmp_path):
    first = simulated_run(tmp_path / "first")
    second = simulated_run(tmp_path / "second", algorithm="aging", generations=3, objectives=["-val_loss"])
    result = nas_cli("runs", "compare", str(first.path), str(second.path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "algorithm", "objective"]
    row = {line.split()[0]: line.split() for line in lines[1:3]}
    assert row["first"][1:5] == ["generational", "val_accuracy", str(len(first.evaluations)), "0"]
    assert row["first"][5] == f"{first.best.fitness[0]:.4f}" and row["first"][6] == first.best.genome_hash
    assert row["second"][1:4] == ["aging", "-val_loss", str(len(second.evaluations))]
    assert "different first objectives" in result.stdout and "second on -val_loss" in result.stdout
    png = tmp_path / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in result.stdout


def test_compare_refuses_one_run_and_a_folder_that_is_not_a_run(tmp_path):
    run = simulated_run(tmp_path / "run")
    alone = nas_cli("runs", "compare", str(run.path))
    assert alone.returncode == 2 and alone.stderr.strip() == "nas: error: compare needs at least two run folders, got 1"
    stray = nas_cli("runs", "compare", str(run.path), str(tmp_path))
    assert stray.returncode == 2 and stray.stderr.strip().splitlines() == [
        f"nas: error: {tmp_path} is not a run folder (no config.json); check the path"]


def follow_running_search(run_dir: Path, *command: str, simulate: str = "0.4", population: str = "4"):
    """Start a simulated 3-generation search of ``run_dir`` in another process, run ``nas COMMAND`` once its run
    folder exists, and wait for both; returns the command's result once the search has ended well."""
    search = subprocess.Popen(
        [sys.executable, "-m", "nas", "search", "--data", "synthetic:200", "--simulate", simulate, "--executor",
         "inline", "--population", population, "--generations", "3", "--run-dir", str(run_dir), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "config.json").exists():
            assert search.poll() is None and time.monotonic() < deadline, "the search did not start its run folder"
            time.sleep(0.1)
        follow = nas_cli(*command, timeout=300)
        search.wait(timeout=120)  # it still writes its plots after the last generation
    finally:
        if search.poll() is None:
            search.kill()
        _, errors = search.communicate()
    assert search.returncode == 0, errors
    assert follow.returncode == 0 and "Traceback" not in follow.stderr, follow.stderr
    return follow


def test_show_follow_refreshes_until_a_running_search_finishes(tmp_path):
    run_dir = tmp_path / "run"
    follow = follow_running_search(run_dir, "runs", "show", str(run_dir), "--follow", "--interval", "0.3")
    screens = follow.stdout.split("\n==== ")[1:]
    assert len(screens) > 1 and "incomplete" in screens[0]
    assert "(finished," in screens[-1] and screens[-1].rstrip().endswith("the run has finished")
    assert all("the run has finished" not in screen for screen in screens[:-1])
    assert f"evaluations {len(nas.load_run(run_dir).evaluations)} (" in screens[-1]


def test_show_follow_stops_on_ctrl_c_with_status_0_and_no_traceback(tmp_path):
    run = simulated_run(tmp_path / "run")
    RunFolder(run.path).write_json("config.json", dict(run.config, generations=5))  # as if still running
    # As in a terminal: a shell that runs jobs in the background makes them ignore SIGINT (see test_resume)
    follow = subprocess.Popen([sys.executable, "-m", "nas", "runs", "show", str(run.path), "--follow", "--interval",
                               "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        shown = "".join(follow.stdout.readline() for _ in range(3))  # the first screen has begun
        follow.send_signal(signal.SIGINT)
        output, errors = follow.communicate(timeout=60)
        output = shown + output
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0 and "Traceback" not in errors, errors
    assert "====" in shown and "(incomplete," in output and "the run has finished" not in output
