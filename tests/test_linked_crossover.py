"""Linked crossover (``nas.evolve(crossover="linked")``): the groups of genes a space links pass to a child whole, the
setting is part of the run's config only when it is on, a linked search resumes exactly, and bad linkage or a bad
setting is refused before anything runs."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

import nas
from nas.executors import InlineExecutor
from nas.training import simulate
from search_spaces import cnn, modern

TOY = [nas.Int("depth", 1, 9), nas.Choice("act", ["relu", "tanh", "gelu"]), nas.LogFloat("lr", 1e-5, 1e-1),
       nas.Choice("optimizer", ["adam", "sgd"]), nas.Bool("bn")]


def _parents(space, seed):
    rng = random.Random(seed)
    a = space.sample(rng)
    b = space.sample(rng)
    while any(a[name] == b[name] for name in a):  # parents that differ in every gene show every swap
        b = space.sample(rng)
    return a, b


@pytest.mark.parametrize("space", [cnn.SPACE, modern.SPACE], ids=["cnn", "modern"])
def test_each_linked_group_comes_whole_from_one_parent(space):
    a, b = _parents(space, 0)
    groups_seen = set()
    for seed in range(200):
        left, right = space.crossover(a, b, random.Random(seed), linked=True)
        for group in space.linkage:
            source = {name: "a" if left[name] == a[name] else "b" for name in group}
            assert len(set(source.values())) == 1, f"group {group} split: {source}"
            assert all(right[name] == (b if left[name] == a[name] else a)[name] for name in group)
            groups_seen.add((group, source[group[0]]))
    assert len(groups_seen) == 2 * len(space.linkage)  # every group came from either parent at least once


def test_uniform_crossover_splits_the_groups_linked_crossover_keeps():
    a, b = _parents(cnn.SPACE, 1)
    training = ("optimizer", "learning_rate", "batch_size")
    split = sum(len({left[name] == a[name] for name in training}) > 1
                for left, _ in (cnn.SPACE.crossover(a, b, random.Random(seed)) for seed in range(100)))
    assert split > 50  # a coin per gene splits a three-gene group three times in four


def test_linkage_orders_units_by_first_gene_and_leaves_others_alone():
    space = nas.SearchSpace("toy", TOY, build=None, linkage=[["optimizer", "lr"]])
    assert space.linkage == (("depth",), ("act",), ("optimizer", "lr"), ("bn",))
    assert nas.SearchSpace("toy", TOY, build=None).linkage == tuple((g.name,) for g in TOY)


@pytest.mark.parametrize("linkage, words", [([["lr", "momentum"]], "unknown genes ['momentum']"),
                                            ([["lr", "act"], ["act", "bn"]], "genes in two groups ['act']"),
                                            ([[]], "must be non-empty")])
def test_bad_linkage_is_refused_naming_the_genes(linkage, words):
    with pytest.raises(nas.ConfigError, match=r"linkage groups .*" + words.replace("[", r"\[").replace("]", r"\]")):
        nas.SearchSpace("toy", TOY, build=None, linkage=linkage)


def test_without_linked_the_crossover_is_the_uniform_one_of_before():
    """The default crossover draws one coin per gene in gene order, so runs recorded before linkage existed breed
    the same children on resume."""
    space = nas.SearchSpace("toy", TOY, build=None, linkage=[["optimizer", "lr"]])
    a, b = _parents(space, 2)
    for seed in range(20):
        coins = random.Random(seed)
        expected = {g.name: (b if coins.random() < 0.5 else a)[g.name] for g in TOY}
        assert space.crossover(a, b, random.Random(seed))[0] == expected


def _run(path, data, crossover, **kwargs):
    kwargs = {"population": 5, "generations": 4, "seed": 3, "crossover_prob": 1.0, **kwargs}
    return nas.evolve("cnn", data, algorithm="aging", crossover=crossover, run_dir=path,
                      executor=InlineExecutor(evaluate=simulate), verbose=False, **kwargs)


def test_a_linked_search_records_its_crossover_and_resumes_exactly(tmp_path, tiny_data):
    reference = _run(tmp_path / "reference", tiny_data, "linked")
    assert json.loads((tmp_path / "reference" / "config.json").read_text())["operators"]["crossover"] == "linked"
    crossed = [r for r in reference.evaluations if "crossover" in r["operator"]]
    assert crossed  # crossover_prob 1: every child after the first generation is crossed

    def stop(record):
        if record["generation"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "run", tiny_data, "linked", callbacks=[stop])
    resumed = nas.resume(tmp_path / "run", data=tiny_data, executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert resumed.genome_sequence() == reference.genome_sequence()
    uniform = _run(tmp_path / "uniform", tiny_data, "uniform")
    assert "crossover" not in json.loads((tmp_path / "uniform" / "config.json").read_text())["operators"]
    assert uniform.genome_sequence() != reference.genome_sequence()
    with pytest.raises(nas.ConfigError, match="crossover"):
        _run(tmp_path / "uniform", tiny_data, "linked", resume=True)


def test_an_unknown_crossover_is_refused_before_anything_runs(tmp_path, tiny_data):
    with pytest.raises(nas.ConfigError, match="crossover must be one of uniform, linked, got 'blockwise'"):
        _run(tmp_path / "run", tiny_data, "blockwise")
    assert not (tmp_path / "run").exists()


def test_the_cli_takes_crossover_linked(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:60", "--image-size", "8",
                           "--population", "3", "--generations", "2", "--algorithm", "aging", "--crossover",
                           "linked", "--simulate", "0", "--executor", "inline", "--run-dir", str(run_dir), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "config.json").read_text())["operators"]["crossover"] == "linked"
    refused = subprocess.run([sys.executable, "-m", "nas", "search", "--crossover", "blockwise"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "invalid choice: 'blockwise'" in refused.stderr
