"""Crash safety: kill -9 at random instants, SIGINT, SIGTERM, damaged checkpoints and logs; every resumed run must
end exactly as the uninterrupted run with the same seed (same genome sequence, final population and best)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nas
from nas.executors import InlineExecutor
from conftest import dense_space
from nas.training import simulate

# (algorithm, seed) of the runs killed at random instants; the aging (asynchronous) runs are exact too, and so are
# multi-fidelity runs ("generational-fidelity": successive halving with training states kept in the run folder),
# killed on the inline executor and in the local executor's worker process, and so are runs with weight inheritance
# ("-inherit": the parents' weights kept in the run folder's inherit/), and so are runs with random immigrants
KILLED = [("generational", 0), ("generational", 1), ("generational", 2), ("aging", 0), ("aging", 1),
          ("generational-fidelity", 0), ("generational-fidelity", 1), ("aging-fidelity", 0),
          ("generational-inherit", 0), ("aging-inherit", 1), ("aging-immigrants", 2)]
OPTIONS = {"fidelity": ["--fidelity", "1:4:2"], "inherit": ["--inherit"], "immigrants": ["--immigrants", "0.34"]}


def search_args(algorithm: str) -> list:
    """The search options of an entry of KILLED."""
    name, _, option = algorithm.partition("-")
    return [*SEARCH, *OPTIONS.get(option, []), "--algorithm", name]
SEARCH = ["--space", "cnn", "--data", "synthetic:70", "--image-size", "16", "--population", "6", "--generations", "6"]


def cli(*args):
    return [sys.executable, "-m", "nas", *map(str, args)]


def fingerprint(path: Path) -> dict:
    run = nas.load_run(path)
    indices = [r["index"] for r in run.evaluations]
    return {"sequence": run.genome_sequence(), "population": run.generations[-1]["population"],
            "best": run.best.genome_hash, "generations": [g["generation"] for g in run.generations],
            "unique_indices": len(indices) == len(set(indices)),
            "rungs": [r.get("rung", 0) for r in sorted(run.evaluations, key=lambda r: r["index"])],
            "inherited": [r.get("inherited_from") for r in sorted(run.evaluations, key=lambda r: r["index"])],
            "lineage": [(r["parents"], r["operator"], r["changed"]) for r in sorted(run.evaluations,
                                                                                     key=lambda r: r["index"])]}


def logged(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def still_running(pid: int, wait: float = 10.0) -> bool:
    """Whether process ``pid`` is still alive after up to ``wait`` seconds (a zombie counts as ended: once its
    parent is gone, whoever adopted it may not reap it at once)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state == "Z":
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def trained_twice(path: Path) -> list[str]:
    ok = [f"{r['genome_hash']}@{r.get('rung', 0)}" for r in nas.load_run(path).evaluations if r["status"] == "ok"]
    return sorted({h for h in ok if ok.count(h) > 1})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, one per (algorithm, seed)."""
    root = tmp_path_factory.mktemp("reference")
    prints = {}
    for algorithm, seed in KILLED:
        run_dir = root / f"{algorithm}-{seed}"
        subprocess.run(cli("search", *search_args(algorithm), "--simulate", "0", "--executor", "inline", "--seed",
                           seed, "--run-dir", run_dir, "--quiet"), check=True, capture_output=True)
        prints[algorithm, seed] = fingerprint(run_dir)
    return prints


@pytest.mark.parametrize("algorithm, seed", KILLED)
def test_kill_9_at_random_instants_then_resume_gives_the_uninterrupted_result(reference, tmp_path, algorithm, seed):
    rng = random.Random(100 + seed)
    run_dir = tmp_path / "run"
    executor = "local" if (algorithm, seed) == ("generational-fidelity", 1) else "inline"
    command = cli("search", *search_args(algorithm), "--simulate", "0.01", "--executor", executor, "--seed", seed,
                  "--run-dir", run_dir, "--quiet")
    kills = 0
    log = run_dir / "evaluations.jsonl"
    for _ in range(12):
        # Kill at a random point of the search's progress (not of the wall clock: a fast machine could otherwise
        # finish before the first kill), a random few milliseconds after an evaluation landed, so some kills fall
        # inside checkpoint writes.
        target = logged(log) + rng.randint(1, 8)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while process.poll() is None and logged(log) < target and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.02))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        if process.wait() == 0:
            break
        if (run_dir / "config.json").exists():
            command = cli("resume", run_dir, "--quiet", "--executor", executor)
    else:
        pytest.fail("the search never finished")
    assert kills >= 1, "the test must have killed the search at least once"
    assert fingerprint(run_dir) == reference[algorithm, seed]
    assert trained_twice(run_dir) == []


@pytest.mark.parametrize("signum, status, executor, algorithm", [
    (signal.SIGINT, 130, "inline", "generational"), (signal.SIGINT, 130, "local", "generational"),
    (signal.SIGTERM, 143, "inline", "generational"), (signal.SIGTERM, 143, "local", "generational"),
    (signal.SIGTERM, 143, "local", "aging")])
def test_sigint_and_sigterm_stop_cleanly_and_resume_exactly(reference, tmp_path, signum, status, executor, algorithm):
    run_dir = tmp_path / "run"
    # As in a terminal: a shell that runs jobs in the background (CI's does) makes them ignore SIGINT, and Python
    # respects that; the search should see Ctrl-C as a user at a terminal would send it.
    process = subprocess.Popen(cli("search", *SEARCH, "--simulate", "0.05", "--executor", executor, "--seed", 1,
                                   "--algorithm", algorithm, "--run-dir", run_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = run_dir / "evaluations.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and logged(log) < 8:
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == (executor == "local")  # the local executor's one worker process, inline has none
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert f"nas resume {run_dir}" in err and "Traceback" not in err
    assert not nas.load_run(run_dir).finished
    assert [pid for pid in workers if still_running(int(pid))] == []  # no worker left behind
    resumed = subprocess.run(cli("resume", run_dir, "--quiet", "--executor", executor), capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert fingerprint(run_dir) == reference[algorithm, 1]


def _interrupted_run(tmp_path, after_generation: int, tiny_data, seed: int = 3):
    def stop(record):
        if record["generation"] == after_generation:
            raise KeyboardInterrupt

    kwargs = dict(population=5, generations=5, seed=seed, verbose=False)
    reference = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "reference",
                           executor=InlineExecutor(evaluate=simulate), **kwargs)
    with pytest.raises(KeyboardInterrupt):
        nas.evolve("cnn", tiny_data, run_dir=tmp_path / "run", executor=InlineExecutor(evaluate=simulate),
                   callbacks=[stop], **kwargs)
    return fingerprint(reference.path), tmp_path / "run"


def _resume(run_dir, tiny_data):
    return nas.resume(run_dir, data=tiny_data, executor=InlineExecutor(evaluate=simulate), verbose=False)


def test_crash_during_a_checkpoint_write(tmp_path, tiny_data):
    expected, run_dir = _interrupted_run(tmp_path, 2, tiny_data)
    # the state a kill leaves between moving the old checkpoint aside and renaming the new one into place
    os.replace(run_dir / "checkpoint.json", run_dir / "checkpoint.prev.json")
    (run_dir / ".checkpoint.json.tmp-4242").write_text('{"format": 1, "generation": 2, "rng_st')
    _resume(run_dir, tiny_data)
    assert fingerprint(run_dir) == expected


def test_truncated_checkpoint_falls_back_with_a_warning(tmp_path, tiny_data):
    expected, run_dir = _interrupted_run(tmp_path, 2, tiny_data)
    text = (run_dir / "checkpoint.json").read_text()
    (run_dir / "checkpoint.json").write_text(text[: len(text) // 2])
    with pytest.warns(UserWarning, match="checkpoint.json is damaged"):
        _resume(run_dir, tiny_data)
    assert fingerprint(run_dir) == expected


def test_no_checkpoint_at_all_replays_the_log_without_training_again(tmp_path, tiny_data):
    expected, run_dir = _interrupted_run(tmp_path, 3, tiny_data)
    before = len(nas.load_run(run_dir).evaluations)
    for name in ("checkpoint.json", "checkpoint.prev.json"):
        (run_dir / name).unlink()
    run = _resume(run_dir, tiny_data)
    assert fingerprint(run_dir) == expected
    assert sum(g["resumed"] for g in run.generations[4:]) == 0
    assert len(run.evaluations) > before


def test_torn_log_line_is_repaired_and_the_evaluation_redone_once(tmp_path, tiny_data):
    expected, run_dir = _interrupted_run(tmp_path, 1, tiny_data)
    log = run_dir / "evaluations.jsonl"
    last = json.loads(log.read_text().splitlines()[-1])
    torn = json.dumps({**last, "index": last["index"] + 1, "generation": 2})  # the next record, cut by a crash
    with open(log, "a") as handle:
        handle.write(torn[: len(torn) // 2])
    with pytest.warns(UserWarning, match="torn last line"):
        _resume(run_dir, tiny_data)
    assert fingerprint(run_dir) == expected
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_a_log_that_lost_checkpointed_evaluations_is_replayed(tmp_path, tiny_data):
    expected, run_dir = _interrupted_run(tmp_path, 2, tiny_data)
    log = run_dir / "evaluations.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-2]) + "\n")  # e.g. a log restored from an older backup
    with pytest.warns(UserWarning, match="replaying the search from its first generation"):
        _resume(run_dir, tiny_data)
    assert fingerprint(run_dir) == expected


def test_resume_refuses_a_changed_config_but_may_extend_generations(tmp_path, tiny_data):
    _, run_dir = _interrupted_run(tmp_path, 1, tiny_data)
    with pytest.raises(nas.ConfigError) as caught:
        nas.evolve("cnn", tiny_data, population=6, generations=5, seed=4, run_dir=run_dir, resume=True,
                   executor=InlineExecutor(evaluate=simulate), verbose=False)
    message = str(caught.value)
    assert "population: recorded 5, given 6" in message and "seed: recorded 3, given 4" in message
    run = nas.resume(run_dir, data=tiny_data, executor=InlineExecutor(evaluate=simulate), generations=7,
                     verbose=False)
    assert len(run.generations) == 7 and run.config["generations"] == 7
    with pytest.raises(nas.ConfigError, match="generations must be an integer >= 7"):
        nas.resume(run_dir, data=tiny_data, generations=3, verbose=False)


def test_cli_resume_of_a_simulated_run_keeps_its_fitness(reference, tmp_path):
    run_dir = tmp_path / "run"
    subprocess.run(cli("search", *SEARCH[:-2], "--generations", "2", "--simulate", "0", "--executor", "inline",
                       "--seed", 0, "--run-dir", run_dir, "--quiet"), check=True, capture_output=True)
    result = subprocess.run(cli("resume", run_dir, "--generations", "6", "--executor", "inline", "--quiet"),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert fingerprint(run_dir)["sequence"] == reference["generational", 0]["sequence"]


def _failing_fitness(genome, *, marker_dir, **job):
    """Workers die the first time a ``die_once`` genome trains; ``raise`` genomes fail in training, as
    :func:`nas.training.evaluate` reports a genome that cannot be built."""
    from conftest import scripted_fitness

    if genome["mode"] == "raise":
        return nas.training.evaluate(genome, **job)
    return scripted_fitness(genome, marker_dir=marker_dir, **job)


@pytest.mark.parametrize("algorithm", ["generational", "aging"])
def test_retry_failed_retrains_machinery_failures_only(tiny_data, tmp_path, algorithm):
    """A worker killed mid-training (the machinery) is trained again by resume(retry_failed=True); a genome whose
    training raises (the genome) is not. The retry is logged under the same index and replaces the failure for
    readers; a second resume, and a resume without the flag, train nothing."""
    import functools

    space = dense_space(modes=("ok", "die_once", "raise"))
    markers = tmp_path / "markers"
    markers.mkdir()
    fitness = functools.partial(_failing_fitness, marker_dir=str(markers))
    run_dir = tmp_path / "run"
    nas.evolve(space, tiny_data, population=6, generations=2, seed=2, algorithm=algorithm, run_dir=run_dir,
               executor=nas.LocalExecutor(evaluate=fitness), verbose=False)
    first = nas.load_run(run_dir, space=space)
    killed = {r["index"] for r in first.evaluations if r.get("failure") == "machinery"}
    raised = {r["index"] for r in first.evaluations if r.get("failure") == "genome"}
    assert killed and raised  # the seed gives both kinds of failure
    assert all("worker process died" in r["error"] for r in first.evaluations if r["index"] in killed)

    nas.resume(run_dir, space=space, executor=nas.LocalExecutor(evaluate=fitness), retry_failed=True, verbose=False)
    lines = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    retried = [r for r in lines if r.get("attempt", 1) > 1]
    assert {r["index"] for r in retried} == killed
    assert all(r["status"] in ("ok", "cached") and r["attempt"] == 2 for r in retried)
    before = {r["index"]: r for r in first.evaluations}
    assert all((r["parents"], r["operator"], r["changed"]) == tuple(before[r["index"]][k] for k in
                                                                     ("parents", "operator", "changed"))
               for r in retried)  # a retry keeps the lineage of the attempt it replaces
    after = nas.load_run(run_dir, space=space)
    assert sorted(r["index"] for r in after.evaluations) == sorted({r["index"] for r in lines})  # one per index
    assert {r["index"] for r in after.evaluations if r["status"] == "failed"} == raised
    assert after.best.fitness[0] is not None

    for retry in (True, False):  # nothing left to retry, nothing new to train: the log does not grow
        nas.resume(run_dir, space=space, executor=nas.LocalExecutor(evaluate=fitness), retry_failed=retry,
                   verbose=False)
        assert len((run_dir / "evaluations.jsonl").read_text().splitlines()) == len(lines)


def test_retry_failed_keeps_the_rung_of_a_failed_promotion(tiny_data, tmp_path):
    """A promotion whose worker died is trained again from scratch to its rung's epochs; the new attempt keeps the
    rung, the epochs and the link to the lower rung's record (``continued`` False: it did not continue)."""
    import functools

    from conftest import scripted_fitness

    space = dense_space(modes=("ok", "die_promoted"))
    markers = tmp_path / "markers"
    markers.mkdir()
    fitness = functools.partial(scripted_fitness, marker_dir=str(markers))
    run_dir = tmp_path / "run"
    nas.evolve(space, tiny_data, population=9, generations=1, seed=1, fidelity=nas.Fidelity(1, 3, 3),
               run_dir=run_dir, executor=nas.LocalExecutor(evaluate=fitness), verbose=False)
    failed = [r for r in nas.load_run(run_dir, space=space).evaluations if r.get("failure") == "machinery"]
    assert failed and all(r["rung"] == 1 and "promoted_from" in r for r in failed)  # the seed promotes one to die

    nas.resume(run_dir, space=space, executor=nas.LocalExecutor(evaluate=fitness), retry_failed=True, verbose=False)
    retried = {r["index"]: r for r in nas.load_run(run_dir, space=space).evaluations}
    for before in failed:
        after = retried[before["index"]]
        assert after["status"] == "ok" and after["attempt"] == 2
        assert (after["rung"], after["epochs"], after["promoted_from"], after["continued"]) == (
            1, 3, before["promoted_from"], False)
        assert after["metrics"]["epochs"] == 3  # trained from scratch to the rung's epochs


def test_retry_failed_needs_resume(tiny_data, tmp_path):
    with pytest.raises(nas.ConfigError, match="retry_failed=True needs resume=True"):
        nas.evolve(dense_space(), tiny_data, population=2, generations=1, run_dir=tmp_path / "r", retry_failed=True,
                   executor=nas.InlineExecutor(evaluate=simulate), verbose=False)
