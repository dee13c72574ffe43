"""The ``modern`` search space with real Keras models at tiny sizes, and a real tiny search on it."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import keras
import numpy as np
import pytest

import nas
from nas.errors import ConfigError, InvalidGenomeError
from nas.executors import InlineExecutor
from nas.training import simulate
from search_spaces import modern

SPACE = modern.SPACE


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


def _layer_types(model):
    return {type(layer).__name__ for layer in model.layers}


def _stages(model):
    return {int(layer.name[5]) for layer in model.layers if layer.name.startswith("stage")}


def test_plain4_is_the_plain_four_stage_design():
    SPACE.check(modern.PLAIN4)
    assert SPACE.repair(modern.PLAIN4, (64, 64, 3)) == modern.PLAIN4
    model = SPACE.build(modern.PLAIN4, (64, 64, 3), 7)
    params = model.count_params()
    assert 700_000 <= params <= 1_300_000
    assert SPACE.count_params(modern.PLAIN4, (64, 64, 3), 7) == params
    assert _stages(model) == {1, 2, 3, 4}
    types = _layer_types(model)
    assert {"BatchNormalization", "GlobalAveragePooling2D", "MaxPooling2D"} <= types
    assert not types & {"Add", "Multiply", "DepthwiseConv2D"}
    convs = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [32, 32, 32, 64, 64, 128, 128, 256, 256]  # the stem, then two convolutions per stage
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == ["predictions"]


def test_analytic_count_equals_keras_on_200_random_genomes():
    rng = random.Random(11)
    seen = {"block": set(), "se": set(), "downsample": set(), "batch_norm": set(), "global_pool": set(),
            "blocks_per_stage": set(), "stages": set()}
    for index in range(200):
        genome = SPACE.repair(SPACE.sample(rng), (16, 16, 3))
        if index % 5:  # four in five made lighter to keep the builds fast: creating Keras variables is what costs
            genome.update(blocks_per_stage=1, stages=min(genome["stages"], 3))
        model = SPACE.build(genome, (16, 16, 3), 7)
        assert SPACE.count_params(genome, (16, 16, 3), 7) == model.count_params(), genome
        for gene, values in seen.items():
            values.add(genome[gene])
        if index % 25 == 24:  # a clear_session costs most of a second, so not after every build
            keras.backend.clear_session()
    assert seen["block"] == set(modern.BLOCK_TYPES)  # every kind of block was counted
    assert seen["blocks_per_stage"] == {1, 2, 3} and seen["stages"] == {1, 2, 3, 4, 5}
    assert all(len(values) == 2 for gene, values in seen.items() if gene not in ("block", "blocks_per_stage", "stages"))


BLOCKS = {
    "residual": ({"block": "residual"}, {"Add"}),
    "se": ({"se": True, "se_ratio": 4}, {"Multiply"}),
    "separable": ({"block": "separable"}, {"DepthwiseConv2D"}),
    "inverted": ({"block": "inverted", "blocks_per_stage": 2, "expansion": 6}, {"Add", "DepthwiseConv2D"}),
}


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_each_block_kind_builds_its_layers(kind):
    changes, expected = BLOCKS[kind]
    genome = dict(modern.PLAIN4, stages=2, downsample="stride", **changes)
    model = SPACE.build(genome, (16, 16, 3), 5)
    assert expected <= _layer_types(model)
    assert SPACE.count_params(genome, (16, 16, 3), 5) == model.count_params()
    batch = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(batch)).sum(axis=1), 1.0, atol=1e-5)
    block_output = [layer for layer in model.layers if layer.name.startswith("stage2_block1_")][-1]
    assert tuple(block_output.output.shape) == (None, 8, 8, 64)  # stride 2 and the doubled width


def test_blocks_have_their_shortcuts_and_gates():
    residual = SPACE.build(dict(modern.PLAIN4, block="residual", blocks_per_stage=2), (16, 16, 3), 3)
    # a projection where the shape changes (32 -> 32 in stage 1 keeps it), the identity elsewhere
    projections = {layer.name for layer in residual.layers if "shortcut_conv" in layer.name}
    assert projections == {"stage2_block1_shortcut_conv", "stage3_block1_shortcut_conv", "stage4_block1_shortcut_conv"}
    assert sum(isinstance(layer, keras.layers.Add) for layer in residual.layers) == 8
    inverted = SPACE.build(dict(modern.PLAIN4, block="inverted", expansion=6), (16, 16, 3), 3)
    assert inverted.get_layer("stage2_block1_expand_conv").filters == 32 * 6
    se = SPACE.build(dict(modern.PLAIN4, se=True, se_ratio=16), (16, 16, 3), 3)
    assert se.get_layer("stage4_block1_se_reduce").units == 256 // 16
    assert se.get_layer("stage1_block1_se_expand").units == 32


def test_repair_drops_stages_then_the_stem_stride():
    deep = dict(modern.PLAIN4, stages=5, stem_stride=2)
    assert modern.downsamplings(deep) == 5
    with pytest.raises(InvalidGenomeError, match="repair"):
        SPACE.build(deep, (16, 16, 3), 3)
    for size, stem_stride, stages in ((32, 2, 5), (16, 2, 4), (4, 2, 2), (2, 2, 1), (1, 1, 1)):
        fixed = SPACE.repair(deep, (size, size, 3))
        assert (fixed["stem_stride"], fixed["stages"]) == (stem_stride, stages), size
        assert SPACE.repair(fixed, (size, size, 3)) == fixed
    assert modern.max_downsamplings((17, 40, 1)) == 5  # 17 -> 9 -> 5 -> 3 -> 2 -> 1
    tiny = SPACE.repair(dict(deep, block="residual", se=True), (1, 1, 1))
    assert tuple(SPACE.build(tiny, (1, 1, 1), 2).output.shape) == (None, 2)
    with pytest.raises(ConfigError, match="height, width, channels"):
        SPACE.repair(deep, (16, 16))


def test_hash_ignores_dormant_genes_only():
    base = SPACE.hash(modern.PLAIN4)
    for gene, value in (("se_ratio", 4), ("expansion", 2), ("dense_dropout", 0.0)):
        assert gene not in SPACE.expressed(modern.PLAIN4)
        assert SPACE.hash(dict(modern.PLAIN4, **{gene: value})) == base
    assert SPACE.hash(dict(modern.PLAIN4, se=True)) != SPACE.hash(dict(modern.PLAIN4, se=True, se_ratio=4))
    inverted = dict(modern.PLAIN4, block="inverted")
    assert SPACE.hash(inverted) != SPACE.hash(dict(inverted, expansion=2))
    dense = dict(modern.PLAIN4, dense_units=64)
    assert SPACE.hash(dense) != SPACE.hash(dict(dense, dense_dropout=0.0))
    single = dict(modern.PLAIN4, stages=1)
    assert SPACE.hash(single) == SPACE.hash(dict(single, downsample="stride"))
    assert SPACE.hash(modern.PLAIN4) != SPACE.hash(dict(modern.PLAIN4, downsample="stride"))


def test_a_tiny_search_runs_and_resumes(tiny_data, tmp_path):
    run = nas.evolve("modern", tiny_data, population=3, generations=2, initial=[modern.PLAIN4],
                     budget=nas.Budget(epochs=1, max_train_samples=200), executor="inline", run_dir=tmp_path / "run",
                     seed=0, verbose=False)
    assert run.finished and len(run.generations) == 2
    assert run.evaluations[0]["genome"] == SPACE.repair(modern.PLAIN4, (16, 16, 3))
    assert {record["status"] for record in run.evaluations} <= {"ok", "cached"}
    assert all(record["metrics"]["params"] == SPACE.count_params(record["genome"], (16, 16, 3), 7)
               for record in run.evaluations if record["status"] == "ok")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["space"] == SPACE.to_config()
    # the space is rebuilt from config.json; the extra generation is scored by the stand-in to stay fast
    resumed = nas.resume(tmp_path / "run", data=tiny_data, generations=3, executor=InlineExecutor(evaluate=simulate),
                         verbose=False)
    assert resumed.finished and len(resumed.generations) == 3 and resumed.space is SPACE
    assert len(resumed.evaluations) > len(run.evaluations)


def test_cli_searches_the_modern_space_from_named_and_json_designs(tmp_path):
    narrow = {**modern.PLAIN4, "width": 16}
    (tmp_path / "genomes.json").write_text(json.dumps([narrow]))
    result = subprocess.run([sys.executable, "-m", "nas", "search", "--space", "modern", "--data", "synthetic:70",
                             "--image-size", "16", "--population", "3", "--generations", "1", "--simulate", "0",
                             "--executor", "inline", "--run-dir", str(tmp_path / "run"), "--quiet",
                             "--initial", "plain4-stride2", "--initial", str(tmp_path / "genomes.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["space"]["name"] == "modern"
    assert config["initial"] == [modern.DESIGNS["plain4-stride2"], narrow]
    records = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert [r["operator"] for r in records] == ["seeded", "seeded", "initial"]
    assert records[1]["genome"] == SPACE.repair(narrow, (16, 16, 3))
