"""The progress lines' ETA: once a generation is measured, later ones are assumed to take as long, promotions and
rung lengths included (a multi-fidelity generation trains more than its population)."""
from __future__ import annotations

import io
import re
import time

from nas.progress import Reporter

OBJECTIVES = [("val_accuracy", 1)]
RECORD = {"status": "ok", "metrics": {"val_accuracy": 0.5, "params": 10}, "fitness": [0.5], "genome_hash": "a" * 16,
          "seconds": 1.0}
GENERATION = {"generation": 0, "stats": {"val_accuracy": None}, "evaluations": 7, "cached": 0, "failed": 0,
              "diversity": {"unique": 1.0}, "elapsed_seconds": 100.0}


def _eta_seconds(line: str) -> int:
    minutes, seconds = re.search(r"ETA (\d+)m(\d\d)s$", line).groups()
    return int(minutes) * 60 + int(seconds)


def _started(generation: int, generations: int) -> tuple[io.StringIO, Reporter]:
    """A reporter of a search of 4 genomes a generation, in generation ``generation`` (counting from 0)."""
    out = io.StringIO()
    reporter = Reporter(stream=out)
    reporter.population, reporter.generations = 4, generations
    reporter.batch(generation, generations, 4)
    return out, reporter


def test_eta_after_a_measured_generation_with_promotions():
    out, reporter = _started(0, 5)
    reporter.clock -= 100  # the first generation took 100 s: 4 trainings, then 3 promotions
    for _ in range(4):
        reporter.evaluation(RECORD, OBJECTIVES)
    reporter.promotion(1, 2, 3, 4)
    for _ in range(3):
        reporter.evaluation(RECORD, OBJECTIVES)
    reporter.generation(GENERATION, 5)
    reporter.batch(1, 5, 4)
    reporter.evaluation(RECORD, OBJECTIVES)
    # the rest of generation 2 and generations 3-5 at 100 s each; counting evaluations (100 s / 7 each, 4 per
    # generation) would say about 214 s
    assert 395 <= _eta_seconds(out.getvalue().splitlines()[-1]) <= 400


def test_eta_before_any_generation_counts_evaluations():
    out, reporter = _started(0, 2)
    reporter.clock -= 10
    reporter.evaluation(RECORD, OBJECTIVES)
    # 10 s per evaluation, 3 left in this generation and 4 in the next
    assert 69 <= _eta_seconds(out.getvalue().splitlines()[-1]) <= 70


def test_eta_is_at_most_the_time_to_the_limit_and_says_so():
    out, reporter = _started(0, 40)
    reporter.clock -= 10
    reporter.deadline = time.perf_counter() + 300
    reporter.evaluation(RECORD, OBJECTIVES)
    # 10 s per evaluation would need 3 + 39 * 4 more: the limit, 5 minutes away, comes first
    line = out.getvalue().splitlines()[-1]
    assert line.endswith("(time limit)") and 298 <= _eta_seconds(line.removesuffix(" (time limit)")) <= 300
    reporter.deadline = time.perf_counter() + 3600  # a limit the search will not reach changes nothing
    reporter.evaluation(RECORD, OBJECTIVES)
    assert not out.getvalue().splitlines()[-1].endswith("(time limit)")


def test_eta_of_a_re_evaluation_after_a_search_stopped_early_counts_only_its_trainings():
    out, reporter = _started(14, 40)  # the time limit stopped the search in generation 15 of 40
    reporter.phase("re-evaluating", 6)
    reporter.clock -= 100
    reporter.evaluation(RECORD, OBJECTIVES)
    # 100 s per training, 5 trainings left; counting generations 16-40 would say hours
    assert 499 <= _eta_seconds(out.getvalue().splitlines()[-1]) <= 500


def test_the_closing_line_counts_the_whole_search_not_only_its_re_evaluation():
    out, reporter = _started(14, 40)
    reporter.started -= 3000  # the search began 3000 s ago
    reporter.phase("re-evaluating", 6)
    reporter.clock -= 1000  # its re-evaluation, the last 1000 s of them
    reporter.finish({**RECORD, "genome": {}})
    assert out.getvalue().splitlines()[-1].startswith("nas: done in 50m00s; best " + "a" * 16)


def _best(line: str) -> str:
    return line.split(" | ")[1]


def test_best_ranks_a_higher_rung_first_as_run_best_does():
    out = io.StringIO()
    reporter = Reporter(stream=out)
    reporter.batch(0, 1, 3)
    reporter.evaluation(dict(RECORD, fitness=[0.7]), OBJECTIVES)
    reporter.evaluation(dict(RECORD, fitness=[0.6], rung=1), OBJECTIVES)  # lower, but measured at a higher rung
    reporter.evaluation(dict(RECORD, fitness=[0.9]), OBJECTIVES)  # higher, at rung 0: not the best
    reporter.evaluation(dict(RECORD, status="failed", error="boom", fitness=[0.99], rung=2), OBJECTIVES)
    lines = out.getvalue().splitlines()[1:]
    assert [_best(line) for line in lines] == ["best val_accuracy=0.7000", "best val_accuracy=0.6000 (rung 1)",
                                               "best val_accuracy=0.6000 (rung 1)",
                                               "best val_accuracy=0.6000 (rung 1)"]


def test_best_of_a_minimised_objective():
    reporter = Reporter(verbose=False)
    for value in (3.0, 1.0, 2.0):
        reporter.offer(dict(RECORD, fitness=[value]), -1)
    assert reporter.best == (0, 1.0)
