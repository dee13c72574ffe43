"""Random immigrants (``nas.evolve(immigrants=SHARE)``): a share of the bred genomes are fresh random ones, spread
evenly by their number, recorded as such, new to the run, part of the run's config, and drawn again on resume."""
from __future__ import annotations

import json

import pytest

import nas
from nas.engine.operators import immigrants
from nas.executors import InlineExecutor
from nas.training import simulate


def _run(path, algorithm, share, data, **kwargs):
    kwargs = {"population": 5, "generations": 5, "seed": 2, **kwargs}
    return nas.evolve("cnn", data, algorithm=algorithm, immigrants=share, executor=InlineExecutor(evaluate=simulate),
                      run_dir=path, verbose=False, **kwargs)


@pytest.mark.parametrize("share, flagged", [(0.0, []), (0.25, [3, 7, 11]), (0.5, [1, 3, 5, 7, 9, 11]),
                                            (0.4, [2, 4, 7, 9])])
def test_immigrants_are_spread_evenly_over_the_bred_genomes(share, flagged):
    assert [n for n in range(12) if immigrants(n, 1, share)] == flagged
    for first in range(12):  # a generation's count is the sum of its genomes' flags, wherever it starts
        for count in range(7):
            assert immigrants(first, count, share) == sum(immigrants(n, 1, share) for n in range(first, first + count))


def test_aging_replaces_every_fourth_child_by_a_new_random_genome(tmp_path, tiny_data):
    run = _run(tmp_path / "run", "aging", 0.25, tiny_data)
    records = sorted(run.evaluations, key=lambda r: r["index"])
    bred = [r for r in records if r["operator"] not in ("initial", "seeded")]
    assert len(bred) == 20
    assert [n for n, r in enumerate(bred) if r["operator"] == "immigrant"] == [3, 7, 11, 15, 19]
    for record in bred:
        if record["operator"] == "immigrant":
            assert record["parents"] == [] and record["changed"] == {}
    hashes = [r["genome_hash"] for r in records]
    assert len(set(hashes)) == len(hashes)  # immigrants are new to the run, as children are


def test_generational_gives_each_generation_its_share_of_immigrants(tmp_path, tiny_data):
    run = _run(tmp_path / "run", "generational", 0.5, tiny_data)
    per_generation = [sum(r["operator"] == "immigrant" for r in run.evaluations if r["generation"] == g)
                      for g in range(5)]
    assert per_generation == [0, 2, 2, 2, 2]  # 4 bred a generation (elitism 1): half of them
    two = _run(tmp_path / "two", "generational", 0.5, tiny_data, objectives=["val_accuracy", "-params"])
    assert [sum(r["operator"] == "immigrant" for r in two.evaluations if r["generation"] == g)
            for g in range(5)] == [0, 2, 3, 2, 3]  # NSGA-II breeds the whole population: 5 a generation


@pytest.mark.parametrize("algorithm, fidelity", [("generational", None), ("aging", "1:3:3")])
def test_an_interrupted_search_with_immigrants_resumes_exactly(tmp_path, tiny_data, algorithm, fidelity):
    reference = _run(tmp_path / "reference", algorithm, 0.4, tiny_data, fidelity=fidelity)

    def stop(record):
        if record["generation"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "run", algorithm, 0.4, tiny_data, fidelity=fidelity, callbacks=[stop])
    resumed = nas.resume(tmp_path / "run", data=tiny_data, executor=InlineExecutor(evaluate=simulate),
                         verbose=False)
    assert resumed.genome_sequence() == reference.genome_sequence()
    assert [r["operator"] for r in resumed.evaluations] == [r["operator"] for r in reference.evaluations]


def test_immigrants_are_part_of_the_config_only_when_on(tmp_path, tiny_data):
    _run(tmp_path / "on", "aging", 0.25, tiny_data, generations=2)
    assert json.loads((tmp_path / "on" / "config.json").read_text())["operators"]["immigrants"] == 0.25
    _run(tmp_path / "off", "aging", 0.0, tiny_data, generations=2)
    assert "immigrants" not in json.loads((tmp_path / "off" / "config.json").read_text())["operators"]
    with pytest.raises(nas.ConfigError, match="immigrants: recorded 0.25, given 0.5"):
        _run(tmp_path / "on", "aging", 0.5, tiny_data, generations=2, resume=True)


@pytest.mark.parametrize("share", [1.0, -0.1, "0.25", True])
def test_a_share_outside_zero_to_one_is_refused_before_anything_runs(tmp_path, tiny_data, share):
    with pytest.raises(nas.ConfigError, match=r"immigrants must be in \[0, 1\)"):
        _run(tmp_path / "run", "aging", share, tiny_data)
    assert not (tmp_path / "run").exists()
