"""``nas tensorboard`` and the search's ``--tensorboard``: event files that the real TensorBoard server serves in its
HParams dashboard."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import nas

from nas.runs import RunFolder
from test_workbench import follow_running_search, nas_cli, simulated_run

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, route: str, request: dict) -> dict:
    """A request to the HParams plugin, JSON in and out (as TensorBoard's own page sends it)."""
    message = urllib.request.Request(f"http://127.0.0.1:{port}/data/plugin/hparams/{route}",
                                     data=json.dumps(request).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(message, timeout=30) as response:
        return json.loads(response.read())


def served(logdir: Path, expected: int) -> tuple[dict, list[dict]]:
    """Start the real TensorBoard on ``logdir`` and return its HParams experiment and session groups, once it serves
    ``expected`` sessions (or whatever it serves after 60 s)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, groups, experiment = time.monotonic() + 60, {}, {}
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                experiment = post(port, "experiment", {"experimentName": ""})
                groups = post(port, "session_groups", {"experimentName": "", "allowedStatuses": STATUSES,
                                                       "colParams": [], "startIndex": 0, "sliceSize": 10_000})
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)  # not serving yet
                continue
            if sum(len(group["sessions"]) for group in groups.get("sessionGroups", [])) >= expected:
                break
            time.sleep(1)  # still loading the event files
        return experiment, groups.get("sessionGroups", [])
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_tensorboard_serves_one_session_per_successful_evaluation_and_writes_each_once(tmp_path):
    run = simulated_run(tmp_path / "run", fidelity="1:3:3")
    failed = dict(run.evaluations[0], index=len(run.evaluations), status="failed", error="out of memory",
                  fitness=[None], metrics={}, curve=[])
    RunFolder(run.path).append_evaluation(failed)
    successful = [r for r in run.evaluations if r["status"] != "failed"]
    first = nas_cli("tensorboard", str(run.path))
    assert first.returncode == 0, first.stderr
    logdir = run.path / "tensorboard"
    assert f"wrote {len(successful)} new evaluation(s), {len(successful)} in all, to {logdir}" in first.stdout
    events = sorted(logdir.rglob("events.out.tfevents.*"))
    again = nas_cli("tensorboard", str(run.path))
    assert f"wrote 0 new evaluation(s), {len(successful)} in all" in again.stdout
    assert sorted(logdir.rglob("events.out.tfevents.*")) == events

    experiment, groups = served(logdir, len(successful))
    sessions = {s["name"]: (group, s) for group in groups for s in group["sessions"]}
    assert set(sessions) == {f"{r['index']:05d}-{r['genome_hash']}" for r in successful}
    infos = {info["name"]: info for info in experiment["hparamInfos"]}
    assert set(infos) == set(run.evaluations[0]["genome"])
    assert infos["optimizer"]["domainDiscrete"] == sorted(["adam", "sgd", "rmsprop"])
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} >= {"val_accuracy", "val_loss", "params"}
    promoted = next(r for r in successful if r.get("rung") == 1)
    group, session = sessions[f"{promoted['index']:05d}-{promoted['genome_hash']}"]
    assert group["hparams"]["optimizer"] == promoted["genome"]["optimizer"]
    assert group["hparams"]["learning_rate"] == pytest.approx(promoted["genome"]["learning_rate"])
    metrics = {m["name"]["tag"]: m for m in session["metricValues"]}
    assert metrics["val_accuracy"]["value"] == pytest.approx(promoted["metrics"]["val_accuracy"], abs=1e-6)  # float32
    assert metrics["val_accuracy"]["trainingStep"] == promoted["epochs"] == 3


def test_the_callback_writes_each_generation_while_the_search_runs(tmp_path):
    import nas.tensorboard

    run_dir = tmp_path / "run"
    seen: list[tuple[int, int]] = []

    def count(record: dict) -> None:  # runs after the TensorBoard callback, in the order given
        written = json.loads((run_dir / "tensorboard" / "written.json").read_text())["sessions"]
        seen.append((record["evaluations"], len(written)))

    run = simulated_run(run_dir, generations=3, callbacks=[nas.tensorboard.TensorBoardCallback(run_dir), count])
    logged = [len({r["index"] for r in run.evaluations if r["generation"] <= g}) for g in range(3)]
    assert [written for _, written in seen] == logged and logged[0] < logged[-1]


def test_search_with_tensorboard_flag_leaves_every_evaluation_written(tmp_path):
    result = nas_cli("search", "--data", "synthetic:200", "--simulate", "0", "--executor", "inline", "--population",
                     "3", "--generations", "2", "--reevaluate", "1", "--run-dir", str(tmp_path / "run"), "--quiet",
                     "--tensorboard")
    assert result.returncode == 0, result.stderr
    assert f"TensorBoard: tensorboard --logdir {tmp_path / 'run' / 'tensorboard'}" in result.stdout
    written = json.loads((tmp_path / "run" / "tensorboard" / "written.json").read_text())["sessions"]
    indices = [r["index"] for r in nas.load_run(tmp_path / "run").evaluations]
    assert written == sorted(indices) and len(indices) > 3  # the re-evaluations after the last generation too


def test_tensorboard_follow_writes_until_a_running_search_finishes(tmp_path):
    run_dir = tmp_path / "run"
    follow = follow_running_search(run_dir, "tensorboard", str(run_dir), "--follow", "--interval", "0.5",
                                   simulate="0.5", population="3")
    indices = [r["index"] for r in nas.load_run(run_dir).evaluations]
    assert json.loads((run_dir / "tensorboard" / "written.json").read_text())["sessions"] == sorted(indices)
    assert follow.stdout.rstrip().endswith(f"{len(indices)} in all, to {run_dir / 'tensorboard'}")
