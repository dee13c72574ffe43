"""Genes and SearchSpace operators (the built-in spaces are tested in test_search_spaces.py)."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

import nas
from nas.errors import ConfigError, InvalidGenomeError
from nas.space import gene_from_config

GENES = [
    nas.Int("depth", 1, 9, step=2), nas.Float("dropout", 0.0, 0.5, step=0.05), nas.Float("momentum", 0.5, 0.99),
    nas.LogFloat("lr", 1e-5, 1e-1), nas.Choice("width", [8, 16, 32, 64], ordered=True),
    nas.Choice("act", ["relu", "tanh", "gelu"]), nas.Bool("bn"),
]
SPACE = nas.SearchSpace("toy", GENES, build=None)


def test_operators_always_yield_points_of_the_space():
    rng = random.Random(0)
    genome = SPACE.sample(rng)
    changed = 0
    for _ in range(1000):
        child = SPACE.mutate(genome, rng)
        SPACE.check(child)
        changed += child != genome
        left, right = SPACE.crossover(genome, child, rng)
        SPACE.check(left)
        SPACE.check(right)
        genome = left if rng.random() < 0.5 else SPACE.sample(rng)
    assert changed == 1000  # mutation always changes at least one gene


def test_crossover_takes_each_gene_from_a_parent():
    rng = random.Random(1)
    a, b = SPACE.sample(rng), SPACE.sample(rng)
    left, right = SPACE.crossover(a, b, rng)
    for name in a:
        assert {left[name], right[name]} == {a[name], b[name]}


def test_mutation_moves_ordered_choices_to_neighbours_and_respects_bounds():
    rng = random.Random(2)
    width = GENES[4]
    for _ in range(200):
        value = width.sample(rng)
        moved = width.mutate(value, rng)
        assert abs(width.options.index(moved) - width.options.index(value)) in (1, 2)
    depth = GENES[0]
    assert all(depth.check(depth.mutate(9, rng)) is None for _ in range(100))
    lr = GENES[3]
    values = [lr.mutate(1e-5, rng) for _ in range(100)]
    assert all(1e-5 <= v <= 1e-1 for v in values) and len(set(values)) > 10


def test_floats_are_quantised_so_near_identical_genomes_hash_alike():
    rng = random.Random(3)
    dropout, lr = GENES[1], GENES[3]
    assert all(round(dropout.sample(rng) / 0.05, 6).is_integer() for _ in range(100))
    assert all(len(f"{lr.sample(rng):.10e}".split("e")[0].rstrip("0").replace(".", "")) <= 3 for _ in range(100))


def test_check_names_every_problem():
    genome = SPACE.sample(random.Random(4))
    genome.update(depth=4, act="swish", extra=1)
    del genome["bn"]
    with pytest.raises(InvalidGenomeError) as caught:
        SPACE.check(genome)
    message = str(caught.value)
    for part in ("missing gene 'bn'", "unknown gene 'extra'", "depth: 4 is not in 1..9", "act: 'swish'"):
        assert part in message
    with pytest.raises(InvalidGenomeError, match="bn: 1 is not a bool"):
        SPACE.check({**SPACE.sample(random.Random(5)), "bn": 1})


def test_hash_is_stable_across_processes_and_key_order():
    genome = SPACE.sample(random.Random(6))
    reordered = dict(reversed(list(genome.items())))
    assert SPACE.hash(genome) == SPACE.hash(reordered)
    code = f"import nas; print(nas.genome_hash({genome!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == SPACE.hash(genome)
    assert SPACE.hash({**genome, "bn": not genome["bn"]}) != SPACE.hash(genome)


def test_config_round_trip():
    config = json.loads(json.dumps(SPACE.to_config()))
    assert [gene_from_config(g) for g in config["genes"]] == GENES


@pytest.mark.parametrize("make", [
    lambda: nas.Int("x", 5, 1), lambda: nas.Int("x", 0, 5, step=2), lambda: nas.Float("x", 1.0, 1.0),
    lambda: nas.LogFloat("x", 0.0, 1.0), lambda: nas.Choice("x", []), lambda: nas.Choice("x", [1, 1]),
    lambda: nas.SearchSpace("s", [nas.Bool("a"), nas.Bool("a")], build=None),
    lambda: gene_from_config({"type": "complex", "name": "x"}),
])
def test_invalid_declarations_are_refused(make):
    with pytest.raises(ConfigError):
        make()


def test_expressed_genes_drive_hash_and_mutation():
    def expressed(genome):
        return {k: v for k, v in genome.items() if k != "width" or genome["depth"] > 1}

    space = nas.SearchSpace("cond", GENES, build=None, expressed=expressed)
    genome = {**space.sample(random.Random(7)), "depth": 1}
    assert space.hash(genome) == space.hash({**genome, "width": 64 if genome["width"] != 64 else 8})
    rng = random.Random(8)
    assert all(space.mutate(genome, rng, rate=1.0)["width"] == genome["width"] for _ in range(50))
