"""A search's time limit (evolve(timeout=), nas search --timeout): it stops starting new work, leaves a run that
resumes to the uninterrupted result, and bad limits are refused."""
from __future__ import annotations

import argparse
import functools
import subprocess
import sys
from datetime import datetime, timezone

import pytest

import nas
from nas.cli.options import duration
from nas.errors import ConfigError
from nas.engine.pace import Pace
from nas.executors import InlineExecutor
from nas.fidelity import Fidelity
from nas.training import Budget, simulate

# every simulated evaluation sleeps this long, so a limit of a few of them stops the search early
SLEEP = 0.05


def _executor():
    return InlineExecutor(evaluate=functools.partial(simulate, seconds=SLEEP))


def _sequence(run) -> list[tuple[str, int]]:
    return [(r["genome_hash"], r.get("rung", 0)) for r in sorted(run.evaluations, key=lambda r: r["index"])]


@pytest.mark.parametrize("algorithm,fidelity", [("generational", None), ("aging", None), ("generational", "1:4:2"),
                                                ("aging", "1:4:2")])
def test_time_limit_stops_early_and_resume_gives_the_uninterrupted_run(tiny_data, tmp_path, capsys, algorithm,
                                                                        fidelity):
    kwargs = dict(population=4, generations=12, seed=5, algorithm=algorithm, fidelity=fidelity)
    reference = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "reference", executor=_executor(), verbose=False,
                           **kwargs)
    stopped = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "run", executor=_executor(), timeout=20 * SLEEP,
                         **kwargs)
    assert "time limit of 1 s reached" in capsys.readouterr().out
    assert not stopped.finished and reference.finished
    assert 0 < len(stopped.evaluations) < len(reference.evaluations)
    assert _sequence(stopped) == _sequence(reference)[:len(stopped.evaluations)]  # the same search, cut short
    if algorithm == "generational":  # it ends after the generation in progress, never inside one
        assert max(r["generation"] for r in stopped.evaluations) == stopped.generations[-1]["generation"]
    resumed = nas.resume(stopped.path, data=tiny_data, executor=_executor(), verbose=False)
    assert resumed.finished
    assert _sequence(resumed) == _sequence(reference)
    assert resumed.best.genome_hash == reference.best.genome_hash


def _per_epoch(genome, *, unit, epochs=None, initial_epoch=0, **kwargs):
    """simulate, sleeping 2 units per epoch trained: a promotion to a high rung takes longer than a new genome."""
    return simulate(genome, seconds=2 * unit * ((epochs or 1) - initial_epoch), epochs=epochs,
                    initial_epoch=initial_epoch, **kwargs)


@pytest.mark.parametrize("algorithm", ["generational", "aging"])
def test_no_work_starts_that_is_expected_to_end_past_the_limit(tiny_data, tmp_path, capsys, algorithm):
    """A promotion to the top rung (12 units) or a whole generation is not started when it would end past the
    limit, so the search ends by it; before, it ended up to one such piece of work late. The unit is 3 sleeps long,
    so that the unpriced bookkeeping between evaluations of a loaded machine stays within the 4 units allowed."""
    unit = 3 * SLEEP
    limit = 60 * unit
    executor = InlineExecutor(evaluate=functools.partial(_per_epoch, unit=unit))
    run = nas.evolve("cnn", tiny_data, population=4, generations=40, seed=3, algorithm=algorithm, fidelity="1:9:3",
                     run_dir=tmp_path / "run", executor=executor, timeout=limit)
    out = capsys.readouterr().out
    assert "before the search's time limit: the next work is expected to take" in out
    assert any(r.get("rung") == 2 for r in run.evaluations) and not run.finished
    started = min(datetime.fromisoformat(r["started"]) for r in run.evaluations)  # after the limit's clock started
    ended = max(datetime.fromisoformat(r["finished"]) for r in run.evaluations)
    assert (ended - started).total_seconds() < limit + 4 * unit  # a top-rung evaluation takes 12 units


def test_the_pace_prices_a_rung_from_the_measured_ones_by_its_training_images():
    budget = Budget(epochs=1, max_train_samples=2000, samples_from_epoch=((2, 4000), (4, None)))
    pace = Pace(Fidelity(1, 9, 3), budget, train_size=7000)
    assert [pace.image_epochs(r) for r in range(3)] == [2000, 2 * 4000, 6 * 7000]
    assert pace.evaluation([], 1) == 0.0  # nothing measured yet
    first = [{"status": "ok", "rung": 0, "seconds": s} for s in (1.0, 3.0)]
    failed = {"status": "failed", "rung": 0, "seconds": 100.0, "error": "too slow"}
    assert pace.evaluation([*first, failed], 0) == pytest.approx(2.0)
    assert pace.evaluation([*first, failed], 2) == pytest.approx(2.0 * 42000 / 2000)  # priced per image from rung 0
    second = {"status": "ok", "rung": 1, "seconds": 4.0}
    replicate = {"status": "ok", "rung": 2, "seconds": 1.0, "replicate": 1}
    assert pace.evaluation([*first, second, replicate], 2) == pytest.approx(4.0 * 42000 / 8000)
    pace.generations += [2.0, 4.0]
    assert pace.generation() == pytest.approx(3.0)


def test_a_promotion_is_priced_by_the_genome_s_own_speed_at_the_rung_below():
    """A small genome is not held back by the price of a large one: in a HAM10000 search at 64 px the only top-rung
    evaluation (89.4 s at rung 1) took 666.5 s, and the next candidate's promotion (71.7 s at rung 1) was priced at
    that, 1 s more than the time left."""
    budget = Budget(epochs=1, max_train_samples=2000, samples_from_epoch=((2, 4000), (4, None)))
    pace = Pace(Fidelity(1, 9, 3), budget, train_size=7000)
    large = [{"status": "ok", "genome_hash": "large", "rung": r, "seconds": s} for r, s in ((0, 10.0), (1, 50.0))]
    measured = [*large, {"status": "ok", "genome_hash": "large", "rung": 2, "seconds": 600.0},
                {"status": "ok", "genome_hash": "small", "rung": 0, "seconds": 1.0},
                {"status": "ok", "genome_hash": "small", "rung": 1, "seconds": 4.0}]
    assert pace.evaluation(measured, 2) == pytest.approx(600.0)  # a new genome, or one unknown below: the rung's mean
    assert pace.evaluation(measured, 2, "small") == pytest.approx(600.0 * 4.0 / 50.0)
    assert pace.evaluation(measured, 2, "unknown") == pytest.approx(600.0)
    assert pace.evaluation(large, 2, "large") == pytest.approx(50.0 * 42000 / 8000)  # none at rung 2: per image
    assert pace.evaluation(measured[:4], 1, "small") == pytest.approx(50.0 * 1.0 / 10.0)  # not 1.0 * 8000 / 2000
    replicate = {"status": "ok", "genome_hash": "small", "rung": 1, "seconds": 400.0, "replicate": 1}
    assert pace.evaluation([*measured, replicate], 2, "small") == pytest.approx(48.0)  # replicates are not its speed


def test_a_limit_the_search_does_not_reach_changes_nothing(tiny_data, tmp_path):
    kwargs = dict(population=4, generations=3, seed=1, executor=InlineExecutor(evaluate=simulate), verbose=False)
    free = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "free", **kwargs)
    limited = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "limited", timeout=3600, **kwargs)
    assert limited.finished and _sequence(limited) == _sequence(free)


def test_the_time_limit_keeps_time_for_the_re_evaluation_and_resume_completes_the_run(tiny_data, tmp_path, capsys):
    kwargs = dict(population=4, generations=12, seed=2, reevaluate=2, fidelity="1:4:2", algorithm="aging")
    reference = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "reference", executor=_executor(), verbose=False,
                           **kwargs)
    started = datetime.now(timezone.utc)
    stopped = nas.evolve("cnn", tiny_data, run_dir=tmp_path / "run", executor=_executor(), timeout=20 * SLEEP,
                         **kwargs)
    out = capsys.readouterr().out
    assert out.index("stops early enough to leave its re-evaluation the time") < out.index("[gen 1")
    assert "s kept for the re-evaluation: stopped before the search's end; continue with" in out
    searched = [r for r in stopped.evaluations if "replicate" not in r]
    replicates = [r for r in stopped.evaluations if "replicate" in r]
    assert 0 < len(searched) < len([r for r in reference.evaluations if "replicate" not in r])
    assert len(replicates) == 2 * 2 and stopped.reevaluation is not None and not stopped.finished
    assert stopped.best.genome_hash == stopped.reevaluation["ranking"][0]
    # the search ended early enough: the re-evaluation (4 sleeps) and the evaluation in flight end near the limit
    ended = max(datetime.fromisoformat(r["finished"]) for r in stopped.evaluations)
    assert (ended - started).total_seconds() < 20 * SLEEP + 10 * SLEEP
    resumed = nas.resume(stopped.path, data=tiny_data, executor=_executor(), verbose=False)
    assert resumed.finished and _sequence(resumed) == _sequence(reference)
    indices = [r["index"] for r in resumed.evaluations]
    assert len(indices) == len(set(indices))
    assert resumed.reevaluation["genomes"] == reference.reevaluation["genomes"]


def test_a_limit_already_spent_skips_the_re_evaluation(tiny_data, tmp_path, capsys):
    run = nas.evolve("cnn", tiny_data, population=4, generations=10, seed=2, reevaluate=2, run_dir=tmp_path / "run",
                     executor=InlineExecutor(evaluate=functools.partial(simulate, seconds=4 * SLEEP)),
                     timeout=SLEEP)
    assert "reached: stopped before the search's end and its re-evaluation" in capsys.readouterr().out
    assert not any(r.get("replicate") for r in run.evaluations) and run.reevaluation is None


@pytest.mark.parametrize("timeout", [0, -1, True, "1h", float("nan")])
def test_bad_time_limits_are_refused_before_anything_is_written(tiny_data, tmp_path, timeout):
    with pytest.raises(ConfigError, match="timeout must be a number of seconds above 0"):
        nas.evolve("cnn", tiny_data, population=2, generations=1, run_dir=tmp_path / "run", timeout=timeout,
                   executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text,seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("1.5h", 5400), ("2H", 7200)])
def test_cli_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "soon", "1d", "inf", "nan"])
def test_cli_refuses_bad_durations(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a time limit such as 90, 90s, 30m or 1.5h"):
        duration(text)


def test_cli_search_and_resume_take_a_time_limit(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16", "--population",
               "4", "--generations", "30", "--simulate", str(SLEEP), "--executor", "inline", "--run-dir", str(run_dir)]
    searched = subprocess.run([*command, "--timeout", "1s"], capture_output=True, text=True, timeout=300)
    assert searched.returncode == 0, searched.stderr
    assert "time limit of 1 s reached" in searched.stdout and f"nas resume {run_dir}" in searched.stdout
    done = len(nas.load_run(run_dir).generations)
    assert 0 < done < 30
    resumed = subprocess.run([sys.executable, "-m", "nas", "resume", str(run_dir), "--timeout", "1s"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert done < len(nas.load_run(run_dir).generations) < 30
    refused = subprocess.run([*command[:-2], "--run-dir", str(tmp_path / "other"), "--timeout", "soon"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "expected a time limit such as 90" in refused.stderr
