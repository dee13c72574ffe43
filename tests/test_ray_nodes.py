"""A node of a real multi-node Ray cluster is removed in the middle of a search: the search completes on the others."""
from __future__ import annotations

import functools
import os
import sys
import threading
import time

import ray  # a core dependency: a failing import fails these tests, it never skips them

import nas
from conftest import dense_space, scripted_fitness



def test_a_node_removed_mid_search_leaves_a_search_that_completes(tiny_data, tmp_path):
    from ray.cluster_utils import Cluster

    # a head and two workers of one CPU each; a dead node is noticed within about a second
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 200, "health_check_failure_threshold": 3}})
    doomed = nodes.add_node(num_cpus=1)
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    try:
        doomed_id = next(n["NodeID"][:8] for n in ray.nodes() if n["NodeManagerPort"] == doomed.node_manager_port)
        run_dir = tmp_path / "run"
        result = {}
        search = threading.Thread(target=lambda: result.setdefault("run", nas.evolve(
            dense_space(), tiny_data, population=6, generations=4, seed=0, run_dir=run_dir, verbose=False,
            executor=nas.RayExecutor(evaluate=functools.partial(scripted_fitness, sleep=0.5)))))
        search.start()
        log = run_dir / "evaluations.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not log.exists() or len(log.read_bytes().splitlines()) < 5):
            time.sleep(0.05)
        nodes.remove_node(doomed, allow_graceful=False)
        removed_at = time.monotonic()
        search.join(timeout=300)
        assert not search.is_alive(), "the search did not finish after the node was removed"
        run = result["run"]
        assert len(run.generations) == 4 and run.finished
        used = [r["node"].rsplit(":", 1)[1] for r in run.evaluations if r["node"]]
        assert doomed_id in used[:5], "the removed node ran trials before it went"
        # trials that were running on it were rerun by Ray on the others (or, out of retries, recorded failed)
        assert all(r["status"] in ("ok", "cached") or "died" in r["error"] for r in run.evaluations)
        late = [r for r in run.evaluations if r["node"] and r["finished"] and r["index"] >= 12]
        assert late and doomed_id not in {r["node"].rsplit(":", 1)[1] for r in late}
        assert time.monotonic() - removed_at < 120
    finally:
        ray.shutdown()
        nodes.shutdown()
