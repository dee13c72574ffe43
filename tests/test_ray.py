"""The Ray executor on a real two-node local cluster (ray.cluster_utils.Cluster): failures inside trials, killed
workers, timeouts, where each trial ran, and asynchronous (aging) evolution keeping the workers busy."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
import ray  # a core dependency: a failing import fails these tests, it never skips them
from conftest import dense_space, scripted_fitness
from nas.training import simulate

import nas
from nas.executors import Job
from nas.testing import ExecutorContract

SPACE = dense_space(modes=("ok", "raise", "nan", "oom", "die", "die_once", "hang"))


def genome(units: int, mode: str = "ok") -> dict:
    return {"units": units, "activation": "relu", "learning_rate": 0.01, "mode": mode}


@pytest.fixture(scope="module")
def cluster():
    """Two nodes of one CPU each; the workers find this test's modules through PYTHONPATH, as they would find a
    user's code through a cluster's shared environment."""
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield nodes
    ray.shutdown()
    nodes.shutdown()


class TestRayContract(ExecutorContract):
    """The executor contract, on the two-node cluster (the executor uses the Ray instance this process joined)."""

    @pytest.fixture(autouse=True)
    def _on_the_cluster(self, cluster):
        yield

    def make_executor(self):
        return nas.RayExecutor()


def run_tasks(executor, genomes, data):
    executor.start(Job(SPACE, data, nas.Budget(), seed=0))
    for task_id, g in enumerate(genomes):
        executor.submit(task_id, g, SPACE.hash(g))
    results = dict(executor.next_result() for _ in genomes)
    executor.close()
    return [results[i] for i in range(len(genomes))]


def warm_workers(data) -> set[str]:
    """Start a worker on each of the two nodes (two overlapping trials) so that later trials reuse them and a loaded
    machine's slow worker start is not part of what a test times; the workers' names."""
    warm = run_tasks(nas.RayExecutor(evaluate=functools.partial(scripted_fitness, sleep=0.5)),
                     [genome(2), genome(3)], data)
    workers = {o["worker"] for o in warm}
    assert len(workers) == 2, warm
    return workers


def test_exceptions_nan_and_out_of_memory_in_real_training_are_failed_records(cluster, tiny_data, tmp_path):
    modes = ["ok", "raise", "nan", "oom"]
    run = nas.evolve(SPACE, tiny_data, population=4, generations=1, initial=[genome(8, m) for m in modes],
                     executor=nas.RayExecutor(), run_dir=tmp_path / "run", seed=0, verbose=False)
    records = {r["genome"]["mode"]: r for r in run.evaluations}
    assert sorted(records) == sorted(modes)
    assert records["ok"]["status"] == "ok" and records["ok"]["metrics"]["val_accuracy"] >= 0
    assert "RuntimeError: this genome is built to fail" in records["raise"]["error"]
    assert "NaN" in records["nan"]["error"]
    assert "MemoryError: this genome does not fit in memory" in records["oom"]["error"]
    assert all(records[m]["status"] == "failed" for m in ("raise", "nan", "oom"))
    node_ids = {node["NodeID"][:8] for node in ray.nodes()}
    for record in run.evaluations:  # where and when each trial ran
        host, node_id = record["node"].rsplit(":", 1)
        assert node_id in node_ids and record["worker"].startswith("pid-")
        assert record["queued_seconds"] >= 0 and record["seconds"] > 0
    assert run.config["executor"]["name"] == "ray" and len(run.generations) == 1


def test_a_killed_worker_is_retried_and_fails_only_when_retries_run_out(cluster, tiny_data, tmp_path):
    fitness = functools.partial(scripted_fitness, marker_dir=str(tmp_path))
    outcomes = run_tasks(nas.RayExecutor(evaluate=fitness, max_retries=1), [
        genome(4, "die_once"), genome(8, "die"), genome(16, "raise"), genome(32)], tiny_data)
    assert outcomes[0]["status"] == "ok"  # SIGKILLed once, then rerun by Ray
    assert len(os.listdir(tmp_path)) == 1  # the marker of the first attempt: it really died once
    assert outcomes[1]["status"] == "failed"
    assert "worker process running the trial died" in outcomes[1]["error"] and "2 attempt" in outcomes[1]["error"]
    assert outcomes[2]["status"] == "failed" and outcomes[2]["error"] == (
        "RuntimeError: this fitness is scripted to fail")  # an exception is the genome's result: not retried
    assert outcomes[3]["status"] == "ok"


def test_without_retries_a_killed_worker_is_a_failed_record(cluster, tiny_data, tmp_path):
    fitness = functools.partial(scripted_fitness, marker_dir=str(tmp_path))
    outcomes = run_tasks(nas.RayExecutor(evaluate=fitness, max_retries=0), [genome(4, "die_once")], tiny_data)
    assert outcomes[0]["status"] == "failed" and "1 attempt" in outcomes[0]["error"]


@pytest.mark.parametrize("reuse", [True, False])
def test_workers_are_reused_for_a_bounded_number_of_trials_or_fresh_per_trial(cluster, tiny_data, reuse):
    from nas.ray_executor import TRIALS_PER_WORKER

    genomes = [genome(units, "ok") | {"learning_rate": 0.001 * (1 + i)} for i, units in enumerate([4, 8] * 12)]
    outcomes = run_tasks(nas.RayExecutor(evaluate=scripted_fitness, reuse_workers=reuse), genomes, tiny_data)
    assert all(o["status"] == "ok" and o["worker_rss_mb"] > 0 for o in outcomes)
    trials = [sum(o["worker"] == w for o in outcomes) for w in {o["worker"] for o in outcomes}]
    if reuse:  # 24 trials on 2 CPUs: workers took several each, none more than the bound
        assert max(trials) <= TRIALS_PER_WORKER and len(trials) < len(genomes)
    else:
        assert trials == [1] * len(genomes)


def test_a_trial_over_the_timeout_is_cancelled_and_the_others_go_on(cluster, tiny_data):
    # the timeout counts from a trial's launch, a worker's start included, which a loaded 2-core machine can stretch
    # past 10 s: warm workers, without a timeout, first. The hanging trial sleeps a minute, the others half a second.
    warm = warm_workers(tiny_data)
    outcomes = run_tasks(nas.RayExecutor(evaluate=functools.partial(scripted_fitness, sleep=0.5), trial_timeout=10),
                         [genome(4, "hang"), genome(8), genome(16)], tiny_data)
    assert {o["worker"] for o in outcomes[1:]} <= warm, "the timed trials started new workers"
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["error"] == "exceeded the trial timeout of 10 s and was cancelled"
    assert 10 <= outcomes[0]["seconds"] < 40
    assert [o["status"] for o in outcomes[1:]] == ["ok", "ok"], [o["error"] for o in outcomes]
    deadline = time.monotonic() + 20  # the cancelled trial's worker is killed and its CPU given back
    while ray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU") == 2


def _interval(record):
    return datetime.fromisoformat(record["started"]), datetime.fromisoformat(record["finished"])


def test_aging_evolution_keeps_every_worker_busy(cluster, tiny_data, tmp_path):
    warm_workers(tiny_data)
    run = nas.evolve(dense_space(), tiny_data, population=4, generations=3, algorithm="aging", seed=0,
                     executor=nas.RayExecutor(evaluate=functools.partial(scripted_fitness, sleep=1.0)),
                     run_dir=tmp_path / "run", verbose=False)
    trained = [r for r in run.evaluations if r["status"] == "ok"]
    assert len(run.evaluations) == 12 and len(run.generations) == 3
    assert [g["generation"] for g in run.generations] == [0, 1, 2]
    assert run.config["algorithm"] == "aging" and all(len(g["population"]) == 4 for g in run.generations)
    # two nodes of one CPU: while a trial ran, another was running too (the search did not run one trial at a time).
    # Log order is not start order, so each trial is compared with every other; a node whose worker starts late (a
    # slow machine) leaves the other alone for a while, hence half, not all.
    spans = [_interval(r) for r in trained]
    overlapping = sum(1 for i, (start, end) in enumerate(spans)
                      if any(s < end and start < e for j, (s, e) in enumerate(spans) if j != i))
    assert overlapping >= len(trained) // 2
    assert len({r["node"] for r in trained}) == 2


def test_cli_unreachable_address_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16",
                             "--executor", "ray", "--ray-address", "127.0.0.1:9", "--run-dir", tmp_path / "run"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: error: Ray is not reachable at 127.0.0.1:9"), result.stderr
    assert not (tmp_path / "run").exists()  # nothing left behind: the same command works once Ray is there


def test_sigterm_stops_a_ray_search_that_resumes_on_ray_to_the_inline_result(tmp_path):
    search = ["--space", "cnn", "--data", "synthetic:70", "--image-size", "16", "--population", "4",
              "--generations", "4", "--seed", "3"]
    nas_cli = [sys.executable, "-m", "nas"]
    subprocess.run([*nas_cli, "search", *search, "--simulate", "0", "--executor", "inline", "--quiet",
                    "--run-dir", tmp_path / "inline"], check=True, capture_output=True, timeout=120)
    run_dir = tmp_path / "ray"
    process = subprocess.Popen([*nas_cli, "search", *search, "--simulate", "0.5", "--executor", "ray",
                                "--run-dir", run_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = run_dir / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(log.read_bytes().splitlines()) < 5):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "terminated (SIGTERM)" in err and f"nas resume {run_dir}" in err and "Traceback" not in err
    assert not nas.load_run(run_dir).finished
    resumed = subprocess.run([*nas_cli, "resume", run_dir, "--quiet"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    run = nas.load_run(run_dir)
    assert run.config["executor"]["name"] == "ray" and run.finished
    assert {r["worker"].split("-")[0] for r in run.evaluations if r["status"] == "ok"} == {"pid"}
    assert run.genome_sequence() == nas.load_run(tmp_path / "inline").genome_sequence()


def test_gpu_share_settings(monkeypatch):
    import tensorflow as tf

    from nas.ray_executor import configure_gpus

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    done = configure_gpus(0.5)
    if tf.config.list_physical_devices("GPU"):  # a limit or memory growth for each card TensorFlow sees
        assert done.startswith("GPU 0: "), done
    else:
        assert done == "no GPU"  # nothing to limit
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    assert configure_gpus(0.25) == "JAX: 24% of each GPU's memory"
    assert os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.237"
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    assert configure_gpus(1) == "JAX: memory allocated as needed"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_a_fidelity_search_on_ray_continues_from_states_that_travel_and_matches_inline(cluster, tiny_data, tmp_path):
    """Promotions on the cluster continue from the training state the run folder kept (the simulated fitness fails a
    continuation whose state is not the one saved at the rung below), and the search equals the inline one."""
    kwargs = dict(population=6, generations=2, fidelity="1:4:2", seed=4, verbose=False)
    on_ray = nas.evolve("cnn", tiny_data, executor=nas.RayExecutor(evaluate=simulate), run_dir=tmp_path / "ray",
                        **kwargs)
    inline = nas.evolve("cnn", tiny_data, executor=nas.InlineExecutor(evaluate=simulate),
                        run_dir=tmp_path / "inline", **kwargs)
    promoted = [r for r in on_ray.evaluations if r["rung"] > 0 and r["status"] == "ok"]
    assert promoted and all(r["continued"] for r in promoted)
    def by_index(run):
        return [(r["index"], r["genome_hash"], r["rung"], r["fitness"])
                for r in sorted(run.evaluations, key=lambda r: r["index"])]

    assert by_index(on_ray) == by_index(inline)
