"""FLOPs per genome: the analytic counts, the walked count against TensorFlow's profiler, Budget.max_flops from the
budget through admission and training to the CLI, and ``-flops`` as an objective."""
from __future__ import annotations

import json
import random

import pytest

import nas
from conftest import dense_space
from nas.engine.admission import Admission
from nas.errors import ConfigError
from nas.flops import model_flops
from nas.objectives import parse_objectives
from nas.training import Budget, build, evaluate, simulate
from search_spaces import cnn

SMALL = (12, 12, 3)


def _clear():
    import keras

    keras.backend.clear_session()


def _profiled_flops(model) -> int:
    """FLOPs TensorFlow's profiler counts in the graph of one image's forward pass (batch 1, inference)."""
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False))
    graph = forward.get_concrete_function(tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)).graph
    options = {**tf.compat.v1.profiler.ProfileOptionBuilder.float_operation(), "output": "none"}
    return int(tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options).total_float_ops)


def _genomes(count: int, input_shape: tuple, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [cnn.SPACE.repair(cnn.SPACE.sample(rng), input_shape) for _ in range(count)]


def test_cnn_analytic_count_equals_the_walked_count_of_the_built_model():
    genomes = _genomes(50, SMALL)
    # the sample covers every layer choice the count depends on
    for gene in ("batch_norm", "padding", "pooling", "head", "convs_per_block", "blocks"):
        assert len({g[gene] for g in genomes}) > 1, gene
    for index, genome in enumerate(genomes):
        classes = 2 + index % 6
        model = cnn.build(genome, SMALL, classes)
        assert cnn.count_flops(genome, SMALL, classes) == model_flops(model), genome
    table1 = cnn.build(cnn.TABLE1, (100, 100, 3), 7)
    assert cnn.SPACE.count_flops(cnn.TABLE1, (100, 100, 3), 7) == model_flops(table1) > 10 ** 8
    _clear()


def _zoo():
    """A model of every layer type model_flops counts that the cnn space does not use, with a nested model."""
    import keras
    from keras import layers

    inner = keras.Sequential([keras.Input((16, 16, 6)), layers.DepthwiseConv2D(3, padding="same"),
                              layers.BatchNormalization()], name="inner")
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Add()([x, inner(x)])
    x = layers.Multiply()([x, layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2)(x)])
    x = layers.AveragePooling2D(2)(x)
    x = layers.Dense(5)(layers.Reshape((64, 6))(x))  # a dense layer applied at each of 64 positions
    outputs = layers.Dense(4, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs), inner


def test_walked_count_agrees_with_tensorflows_profiler():
    # The profiler counts the graph's ops, model_flops the layers: they agree up to what one counts and the other
    # does not. The profiler adds 5 per softmax output and, in a batch norm, a few ops per channel to fold the
    # statistics into a scale and a shift (model_flops: 2 per element, the folded form); neither counts ReLU. At
    # these sizes (totals of 10^5 and more) that is well under 0.1%.
    models = [cnn.build(genome, (24, 24, 3), 7) for genome in _genomes(3, (24, 24, 3), seed=3)]
    zoo, inner = _zoo()
    for model in [*models, zoo]:
        walked, profiled = model_flops(model), _profiled_flops(model)
        assert walked == pytest.approx(profiled, rel=1e-3), model.name
    # the nested model counts once per call, as its own count
    assert model_flops(inner) == 2 * 9 * 16 * 16 * 6 + 16 * 16 * 6 + 2 * 16 * 16 * 6
    _clear()


def test_counts_by_hand_and_unknown_sizes():
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 2))
    conv = keras.Model(inputs, layers.Conv2D(4, 3, use_bias=False)(inputs))
    assert model_flops(conv) == 2 * 3 * 3 * 2 * (6 * 6 * 4)  # 2 x MACs per output element
    pooled = keras.Model(inputs, layers.MaxPooling2D(2)(layers.Dropout(0.5)(layers.ReLU()(inputs))))
    assert model_flops(pooled) == 4 * 4 * 4 * 2  # ReLU and dropout count nothing, the pool 4 per output
    free = keras.Input((None, None, 3))
    with pytest.raises(ConfigError, match="unknown size .* fixed input shape"):
        model_flops(keras.Model(free, layers.Conv2D(4, 3)(free)))
    with pytest.raises(ConfigError, match="is not built: give it an input shape"):
        model_flops(keras.Sequential([layers.Dense(3)]))
    _clear()


def test_a_space_without_its_own_count_builds_the_model(tiny_data):
    space = dense_space()
    counted = space.count_flops({"units": 8, "activation": "relu"}, tiny_data.input_shape, tiny_data.num_classes)
    features = 16 * 16 * 3
    assert counted == (2 * features + 1) * 8 + (2 * 8 + 1) * tiny_data.num_classes


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "10"])
def test_budget_max_flops_must_be_a_positive_integer(value):
    with pytest.raises(ConfigError, match="Budget.max_flops must be a positive integer or None"):
        Budget(max_flops=value)


def test_budget_round_trips_max_flops():
    budget = Budget(epochs=2, max_params=10_000, max_flops=5_000_000)
    assert Budget.from_dict(json.loads(json.dumps(budget.to_dict()))) == budget
    assert Budget.from_dict({"epochs": 1}).max_flops is None  # a run recorded before max_flops existed


def test_evaluations_record_flops_and_build_refuses_a_model_over_max_flops(tiny_data):
    space, genome = dense_space(), {"units": 16, "activation": "tanh"}
    outcome = evaluate(genome, space=space, data=tiny_data, budget=Budget(max_train_samples=40), seed=0)
    assert outcome["status"] == "ok" and set(nas.training.METRICS) <= set(outcome["metrics"])
    assert outcome["metrics"]["flops"] == space.count_flops(genome, tiny_data.input_shape, 7) > 0
    with pytest.raises(ConfigError, match=r"needs [\d,]+ FLOPs per image, more than Budget.max_flops=1,000"):
        build(genome, space=space, data=tiny_data, budget=Budget(max_flops=1000), seed=0)
    _clear()


def test_admission_rejects_genomes_over_max_flops():
    genomes = _genomes(20, SMALL)
    counts = sorted(cnn.count_flops(g, SMALL, 7) for g in genomes)
    limit = counts[len(counts) // 2]
    admission = Admission(cnn.SPACE, SMALL, 7, Budget(max_flops=limit))
    for genome in genomes:
        flops = cnn.count_flops(genome, SMALL, 7)
        expected = None if flops <= limit else f"{flops:,} FLOPs > max_flops"
        assert admission.problem(genome) == expected
    rng = random.Random(1)
    big = next(g for g in genomes if cnn.count_flops(g, SMALL, 7) > limit)
    admitted = admission.admit(big, set(), lambda g: cnn.SPACE.sample(rng), "random")
    assert cnn.count_flops(admitted, SMALL, 7) <= limit
    with pytest.raises(ConfigError, match=r"in 100 tries; last problem: [\d,]+ FLOPs > max_flops"):
        Admission(cnn.SPACE, SMALL, 7, Budget(max_flops=1)).admit(big, set(), lambda g: cnn.SPACE.sample(rng), "x")


def test_a_peer_tools_genome_over_max_flops_is_rejected_without_training(tiny_data):
    from nas.peers import Trainer

    trainer = Trainer("cnn", tiny_data, Budget(max_flops=1000), tool="optuna")
    assert trainer.run(_genomes(1, tiny_data.input_shape)[0]) == {"val_accuracy": 0.0, "status": "rejected"}
    assert trainer.trials[-1]["epochs"] == 0 and trainer.trials[-1]["error"].endswith("FLOPs > max_flops")


def test_minus_flops_is_an_objective_of_a_search_within_max_flops(tiny_data, tmp_path):
    assert parse_objectives("val_accuracy,-flops") == [("val_accuracy", 1), ("flops", -1)]
    shape = tiny_data.input_shape
    limit = sorted(cnn.count_flops(g, shape, 7) for g in _genomes(20, shape))[10]
    run = nas.evolve("cnn", tiny_data, population=6, generations=3, objectives=("val_accuracy", "-flops"),
                     budget=Budget(max_flops=limit), executor=nas.InlineExecutor(evaluate=simulate),
                     run_dir=tmp_path / "run", verbose=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["objectives"] == ["val_accuracy", "-flops"] and config["budget"]["max_flops"] == limit
    assert len(run.evaluations) > 6
    for record in run.evaluations:
        assert cnn.count_flops(record["genome"], shape, 7) <= limit  # admission kept the larger genomes out
        assert record["fitness"] == [record["metrics"]["val_accuracy"], record["metrics"]["flops"]]
    # minimised: the genome with the fewest (simulated) FLOPs cannot be dominated
    cheapest = min(run.evaluations, key=lambda r: r["metrics"]["flops"])
    assert cheapest["genome_hash"] in {individual.genome_hash for individual in run.pareto_front}


def test_simulated_fitness_reports_deterministic_flops(tiny_data):
    space, genome = dense_space(), {"units": 8, "activation": "relu"}
    first, again = (simulate(genome, space=space, data=tiny_data, budget=Budget(), seed=0) for _ in range(2))
    assert set(nas.training.METRICS) <= set(first["metrics"])
    assert first["metrics"]["flops"] == again["metrics"]["flops"] >= 0


def test_cli_max_flops_reaches_the_budget_and_admission(tmp_path, capsys):
    from nas.cli import main

    limit = 2_000_000
    status = main(["search", "--data", "synthetic:140", "--image-size", "16", "--population", "3", "--generations",
                   "1", "--max-flops", str(limit), "--simulate", "0", "--executor", "inline", "--run-dir",
                   str(tmp_path / "run"), "--quiet"])
    assert status == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["budget"]["max_flops"] == limit
    genomes = [r["genome"] for r in nas.load_run(tmp_path / "run").evaluations]
    assert genomes and all(cnn.count_flops(g, (16, 16, 3), 7) <= limit for g in genomes)
    with pytest.raises(SystemExit) as refused:
        main(["search", "--max-flops", "0"])
    assert refused.value.code == 2 and "expected a positive integer, got '0'" in capsys.readouterr().err
