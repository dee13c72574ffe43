"""Executors: the contract of nas.testing for the inline and local ones (Ray's is in test_ray.py), the registry,
and searches that must not depend on the executor. The Ray one starts (and stops) a local Ray instance."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import dense_space

import nas
from nas.executors import Executor, InlineExecutor, LocalExecutor, recorded, resolve
from nas.testing import ExecutorContract
from nas.training import simulate

EXECUTORS = {"inline": InlineExecutor, "local": LocalExecutor, "ray": nas.RayExecutor}


class TestInlineContract(ExecutorContract):
    def make_executor(self):
        return InlineExecutor()


class TestLocalContract(ExecutorContract):
    def make_executor(self):
        return LocalExecutor()


def test_the_registry_rebuilds_recorded_settings_and_names_unknown_executors():
    rebuilt = Executor.from_description(LocalExecutor(recycle_mb=64.0, evaluate=simulate).describe())
    assert type(rebuilt) is LocalExecutor and rebuilt.recycle_mb == 64.0 and rebuilt.evaluate is simulate
    assert type(resolve("inline")) is InlineExecutor and resolve(rebuilt) is rebuilt
    with pytest.raises(nas.ConfigError, match="unknown executor 'nope'; use 'local', 'inline', 'ray' or an Executor"):
        resolve("nope")
    with pytest.raises(nas.ConfigError, match="unknown executor 'nope'"):
        recorded({"name": "nope", "evaluate": "nas.training.evaluate"})


def test_importing_nas_imports_neither_ray_nor_tensorflow():
    code = "import nas, sys; print('ray' in sys.modules, 'tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_same_seed_same_search_on_every_executor(tiny_data, tmp_path):
    runs = {name: nas.evolve(dense_space(), tiny_data, population=3, generations=2, executor=name, seed=9,
                             run_dir=tmp_path / name, verbose=False) for name in EXECUTORS}
    sequences = {name: run.genome_sequence() for name, run in runs.items()}
    assert sequences["inline"] == sequences["local"] == sequences["ray"]
    # the log is in completion order, which parallel executors may change; the indices say the search's order
    losses = {name: [r["metrics"]["val_loss"] for r in sorted(run.evaluations, key=lambda r: r["index"])]
              for name, run in runs.items()}
    assert losses["inline"] == pytest.approx(losses["local"], abs=1e-6)
    assert losses["inline"] == pytest.approx(losses["ray"], abs=1e-6)
    assert {name: run.config["executor"]["name"] for name, run in runs.items()} == {n: n for n in EXECUTORS}


def test_a_killed_worker_fails_one_evaluation_and_the_search_goes_on(tiny_data, tmp_path):
    space = dense_space(modes=("ok", "die"))
    run = nas.evolve(space, tiny_data, population=4, generations=2, executor="local", seed=0,
                     run_dir=tmp_path / "run", verbose=False)
    died = [r for r in run.evaluations if r["genome"]["mode"] == "die"]
    assert died, "some genomes of this space kill their worker"
    for record in died:
        assert record["status"] in ("failed", "cached") and "killed by signal 9" in record["error"]
    assert any(r["status"] == "ok" for r in run.evaluations) and run.best.genome["mode"] == "ok"
    assert len(run.generations) == 2


def test_the_worker_is_replaced_when_its_memory_grows(tiny_data, tmp_path):
    run = nas.evolve(dense_space(), tiny_data, population=3, generations=1, seed=0,
                     executor=LocalExecutor(recycle_mb=0.0), run_dir=tmp_path / "run", verbose=False)
    workers = [r["worker"] for r in run.evaluations]
    # the first evaluation sets the baseline; any growth after it replaces the worker
    assert len(set(workers)) >= 2 and all(w.startswith("pid-") for w in workers)


def test_a_plain_script_with_its_own_space_runs_on_the_local_executor(tmp_path):
    # No `if __name__ == "__main__"` guard and a build function defined in the script itself, as in a notebook:
    # the worker must neither run the script again nor need to import it.
    script = tmp_path / "search.py"
    script.write_text(
        "import keras, nas\n"
        "def build(genome, input_shape, num_classes):\n"
        "    inputs = keras.Input(shape=input_shape)\n"
        "    x = keras.layers.Dense(genome['units'], activation='relu')(keras.layers.Flatten()(inputs))\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes, activation='softmax')(x))\n"
        "space = nas.SearchSpace('script', [nas.Choice('units', [4, 8, 16])], build=build)\n"
        f"run = nas.evolve(space, nas.data.synthetic_lesions(n=70, image_size=8), population=2, generations=1,\n"
        f"                 run_dir={str(tmp_path / 'run')!r}, verbose=False)\n"
        "print('statuses', sorted(r['status'] for r in run.evaluations))\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "statuses ['ok', 'ok']" in result.stdout
