"""Lineage in every evaluation record: the parents' genome hashes, the operator that made the genome and the genes
changed from the first parent, for both algorithms, with and without fidelity, re-evaluation replicates included."""
from __future__ import annotations

import json

import pytest

import nas
from search_spaces import cnn
from nas.executors import InlineExecutor
from nas.training import simulate

OPERATORS = {"initial", "seeded", "immigrant", "crossover", "mutation", "crossover+mutation", "copy", "promotion",
             "reevaluation"}


def _run(path, algorithm, fidelity=None, seed=0, initial=(), immigrants=0.0):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=6, generations=4,
                      algorithm=algorithm, fidelity=fidelity, seed=seed, initial=initial, reevaluate=2,
                      immigrants=immigrants,
                      executor=InlineExecutor(evaluate=simulate), run_dir=path, verbose=False)


def _lineage(run) -> list[tuple]:
    return [(r["index"], r["parents"], r["operator"], r["changed"]) for r in run.evaluations]


@pytest.mark.parametrize("algorithm, fidelity, immigrants", [
    ("generational", None, 0.0), ("aging", None, 0.0), ("generational", "1:4:2", 0.0), ("aging", "1:4:2", 0.0),
    ("generational", None, 0.4), ("aging", "1:4:2", 0.4)])
def test_every_record_says_where_its_genome_came_from(tmp_path, algorithm, fidelity, immigrants):
    initial = [cnn.TABLE1]
    run = _run(tmp_path / "run", algorithm, fidelity, initial=initial, immigrants=immigrants)
    records = sorted(run.evaluations, key=lambda r: r["index"])
    genomes: dict[str, dict] = {}  # hash -> genome, as logged before the record that names it as a parent
    operators = set()
    for record in records:
        operators.add(record["operator"])
        assert record["operator"] in OPERATORS
        assert all(parent in genomes or parent == record["genome_hash"] for parent in record["parents"])
        if record["operator"] in ("initial", "seeded", "immigrant"):
            assert record["parents"] == [] and record["changed"] == {}
        elif record["operator"] in ("promotion", "reevaluation"):  # the same genome trained on
            assert record["parents"] == [record["genome_hash"]] and record["changed"] == {}
        else:
            first = genomes[record["parents"][0]]
            assert record["changed"] == {k: [first[k], v] for k, v in record["genome"].items() if first[k] != v}
            assert record["changed"]  # a child differs from its first parent
            assert len(record["parents"]) == (2 if "crossover" in record["operator"] else 1)
        genomes.setdefault(record["genome_hash"], record["genome"])
    assert [r["operator"] for r in records if r.get("replicate")] == ["reevaluation"] * 4
    assert all(r["operator"] == "promotion" for r in records if r.get("rung", 0) > 0 and "replicate" not in r)
    assert "mutation" in operators or "crossover+mutation" in operators
    assert ("promotion" in operators) == (fidelity is not None)
    assert sum(r["operator"] == "seeded" for r in records) == len(initial)
    assert ("immigrant" in operators) == (immigrants > 0)
    child = next(i for i in run.ranked() if i.operator not in ("initial", "seeded"))  # the reader exposes it
    assert child.parents and child.changed == next(r for r in records if r["index"] == child.index)["changed"]


@pytest.mark.parametrize("algorithm", ["generational", "aging"])
def test_same_seed_same_lineage(tmp_path, algorithm):
    first = _run(tmp_path / "a", algorithm, seed=3)
    second = _run(tmp_path / "b", algorithm, seed=3)
    assert _lineage(first) == _lineage(second)
    assert _lineage(first) != _lineage(_run(tmp_path / "c", algorithm, seed=4))


def test_cached_records_carry_the_lineage_of_their_own_genome(tmp_path):
    """A tiny space runs out of new genomes, so children repeat evaluated ones and are served from the log: the
    cached record names the operator and parents that made this child, not those of the record it copies."""
    space = nas.SearchSpace("two", [nas.Choice("units", [4, 8]), nas.Choice("activation", ["relu", "tanh"])],
                            build=lambda genome, shape, classes: None)
    run = nas.evolve(space, nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=4, generations=3,
                     executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "run", verbose=False)
    cached = [r for r in run.evaluations if r["status"] == "cached"]
    assert cached
    by_index = {r["index"]: r for r in run.evaluations}
    assert all(r["operator"] not in ("initial", "seeded") and r["parents"] for r in cached)
    assert any((r["parents"], r["operator"]) != (by_index[r["cached_from"]]["parents"],
                                                 by_index[r["cached_from"]]["operator"]) for r in cached)


def test_runs_without_lineage_still_load(tmp_path):
    run = _run(tmp_path / "run", "generational")
    log = run.path / "evaluations.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in ("parents", "operator", "changed")})
                           + "\n" for r in lines))
    old = nas.load_run(run.path)
    assert old.best.genome_hash == run.best.genome_hash
    assert (old.best.parents, old.best.operator, old.best.changed) == ((), None, {})


@pytest.mark.parametrize("algorithm", ["generational", "aging"])
def test_a_tight_parameter_cap_never_ends_the_search(tmp_path, algorithm):
    """At 32 px most crossovers and mutations of small ``cnn`` genomes exceed a 100k-parameter cap, and a walk of
    further mutations from such a child can stay over it for all of admission's tries (a 2-objective search on
    synthetic lesions ended so). Children are instead fresh mutations of their admitted first parent."""
    data = nas.data.synthetic_lesions(n=140, image_size=32, seed=0)
    cap = 100_000
    for seed in range(4):
        run = nas.evolve("cnn", data, population=8, generations=3, algorithm=algorithm, seed=seed,
                         objectives=("val_accuracy", "-params"), budget=nas.Budget(max_params=cap),
                         executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / f"{seed}", verbose=False)
        assert run.finished and len(run.evaluations) == 24
        assert all(run.space.count_params(r["genome"], (32, 32, 3), 7) <= cap for r in run.evaluations)
        by_hash = {r["genome_hash"]: r for r in run.evaluations}
        for record in run.evaluations:
            if record["operator"] == "mutation":  # a mutation's single parent is one the search evaluated
                assert len(record["parents"]) == 1 and record["parents"][0] in by_hash
