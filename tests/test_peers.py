"""The peer adapters (nas.peers): every gene type and dormant genes round-trip through Keras Tuner, Optuna and
ConfigSpace/DEHB, and one tiny real search per peer trains on digits at 8 px with the epochs counted."""
from __future__ import annotations

import subprocess
import sys

import keras
import keras_tuner
import optuna
import pytest

import nas
from nas.peers import BudgetSpent, Trainer, genome_from
from nas.peers import dehb as nas_dehb
from nas.peers import keras_tuner as nas_kt
from nas.objectives import WORST
from nas.peers import optuna as nas_optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _build(genome, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    for layer in range(genome["layers"]):
        x = keras.layers.Dense(genome[f"units_{layer + 1}"], activation=genome["activation"],
                               use_bias=genome["bias"])(x)
        x = keras.layers.Dropout(genome["dropout"])(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def every_gene_space():
    """Every gene type: an Int grid, Floats with and without a step, a LogFloat, ordered, unordered and mixed-type
    Choices, a Bool; ``units_2`` is dormant when ``layers`` is 1."""
    return nas.SearchSpace("every-gene", [
        nas.Int("layers", 1, 2),
        nas.Int("units_1", 4, 16, step=4),
        nas.Choice("units_2", [4, 8, 16], ordered=True),
        nas.Float("dropout", 0.0, 0.5, step=0.1),
        nas.Float("momentum", 0.5, 0.99),
        nas.LogFloat("learning_rate", 1e-4, 1e-1),
        nas.Choice("activation", ["relu", "tanh"]),
        nas.Choice("batch_size", [None, 32, "auto"]),
        nas.Bool("bias"),
    ], _build, expressed=lambda g: {k: v for k, v in g.items() if not (k == "units_2" and g["layers"] == 1)})


def kt_values(space, seed):
    declared = keras_tuner.HyperParameters()
    nas_kt.hyperparameters(space, declared)
    sampled = declared.copy()
    sampled.values = {p.name: p.random_sample(seed) for p in declared.space}
    return nas_kt.hyperparameters(space, sampled)


def optuna_values(space, seed):
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    return nas_optuna.suggest(space, trial)


def dehb_values(space, seed):
    return dict(nas_dehb.configspace(space, seed=seed).sample_configuration())


SAMPLERS = {"keras_tuner": kt_values, "optuna": optuna_values, "dehb": dehb_values}


@pytest.mark.parametrize("tool", SAMPLERS)
def test_every_gene_type_round_trips_and_covers_the_space(tool):
    space = every_gene_space()
    genomes = [genome_from(space, SAMPLERS[tool](space, seed)) for seed in range(60)]
    for genome in genomes:
        space.check(genome)  # every value is a value of its gene, of the gene's own type
    for gene in ("layers", "units_1", "units_2", "activation", "batch_size", "bias"):
        seen = {repr(g[gene]) for g in genomes}
        options = {"layers": [1, 2], "units_1": [4, 8, 12, 16], "units_2": [4, 8, 16], "activation": ["relu", "tanh"],
                   "batch_size": [None, 32, "auto"], "bias": [False, True]}[gene]
        assert seen == {repr(o) for o in options}, (gene, seen)
    assert {round(g["dropout"], 1) for g in genomes} == {g["dropout"] for g in genomes}
    rates = [g["learning_rate"] for g in genomes]
    assert min(rates) < 1e-3 < 1e-2 < max(rates)  # log-uniform: both ends of three decades are reached


@pytest.mark.parametrize("tool", SAMPLERS)
def test_a_sampled_config_builds_the_model_and_hash_of_its_nas_genome(tool, tiny_data):
    space = nas.space.builtin_space("cnn")
    trainer = Trainer(space, tiny_data, nas.Budget(epochs=1))
    for seed in range(3):
        values = SAMPLERS[tool](space, seed)
        genome = trainer.genome(values)
        model = trainer.start(genome)
        if model is None:
            continue
        reference = space.build(space.repair(dict(genome), tiny_data.input_shape), tiny_data.input_shape, 7)
        assert [layer.get_config() | {"name": ""} for layer in model.layers] == \
               [layer.get_config() | {"name": ""} for layer in reference.layers]
        metrics = trainer.train(model, genome, epochs=1)
        assert trainer.trials[-1]["genome_hash"] == space.hash(genome) == nas.genome_hash(space.expressed(genome))
        assert 0.0 <= metrics["val_accuracy"] <= 1.0 and trainer.trials[-1]["epochs"] == 1
        keras.backend.clear_session()
    assert trainer.trials, "no sampled genome was buildable"


def test_dormant_genes_do_not_change_the_hash():
    space = every_gene_space()
    one_layer = genome_from(space, {**kt_values(space, 0), "layers": 1, "units_2": 4})
    other = dict(one_layer, units_2=16)
    assert space.hash(one_layer) == space.hash(other)
    assert space.hash(dict(one_layer, layers=2)) != space.hash(dict(other, layers=2))


@pytest.fixture(scope="module")
def digits8():
    return nas.data.digits(seed=0)


def _check_ledger(trainer, limit):
    ok = [t for t in trainer.trials if t["status"] in ("ok", "pruned")]
    assert ok and trainer.epochs == sum(t["epochs"] for t in trainer.trials)
    assert trainer.epochs >= limit and trainer.spent
    assert all(0.0 <= t["score"] <= 1.0 for t in ok)
    return ok


def test_keras_tuner_hyperband_continues_trials_and_stops_at_the_epoch_limit(digits8, tmp_path):
    trainer = Trainer("cnn", digits8, nas.Budget(epochs=3, max_train_samples=300), max_epochs=8, tool="kt")
    tuner = keras_tuner.Hyperband(nas_kt.HyperModel(trainer), objective=nas_kt.objective(trainer), max_epochs=3,
                                  factor=3, hyperband_iterations=5, seed=0, directory=tmp_path, project_name="kt",
                                  max_consecutive_failed_trials=20)
    with pytest.raises(BudgetSpent):
        tuner.search(verbose=0)
    ok = _check_ledger(trainer, 8)
    # a promoted trial went on from its checkpoint: it trained fewer epochs than the fidelity it reached
    assert any(t["fidelity"] > t["epochs"] for t in ok)
    best = nas_kt.best_genome(tuner, trainer)
    assert trainer.space.hash(best) in {t["genome_hash"] for t in ok}


def test_keras_tuner_bayesian_optimisation_runs_on_a_nas_space(digits8, tmp_path):
    # two random trials, then the Gaussian process proposes (by default it would sample 3 per gene at random first)
    trainer = Trainer("cnn", digits8, nas.Budget(epochs=1, max_train_samples=300), tool="kt-bo")
    tuner = keras_tuner.BayesianOptimization(nas_kt.HyperModel(trainer), objective=nas_kt.objective(trainer),
                                             max_trials=4, num_initial_points=2, seed=0, directory=tmp_path,
                                             project_name="bo")
    tuner.search(verbose=0)
    assert len(trainer.trials) == 4 and trainer.epochs == sum(t["epochs"] for t in trainer.trials) <= 4
    assert len({t["genome_hash"] for t in trainer.trials}) > 1
    assert trainer.space.hash(nas_kt.best_genome(tuner, trainer)) in {t["genome_hash"] for t in trainer.trials}


def test_optuna_tpe_with_hyperband_pruner_counts_the_epochs_of_pruned_trials(digits8):
    trainer = Trainer("cnn", digits8, nas.Budget(epochs=3, max_train_samples=300), max_epochs=10, tool="optuna")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=3))
    with pytest.raises(BudgetSpent):
        study.optimize(nas_optuna.objective(trainer), n_trials=50)
    ok = _check_ledger(trainer, 10)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.COMPLETE in states
    assert sum(t["epochs"] for t in ok) == sum(len(t.intermediate_values) for t in study.trials)
    best = nas_optuna.best_genome(study, trainer)
    assert trainer.space.hash(best) in {t["genome_hash"] for t in ok}


def test_optuna_nsga2_on_accuracy_and_parameters_returns_the_recorded_metrics_and_a_true_front(digits8):
    names = ("val_accuracy", "-params")
    trainer = Trainer("cnn", digits8, nas.Budget(epochs=1, max_train_samples=200, max_params=20_000), max_epochs=6,
                      tool="optuna-nsga2")
    assert nas_optuna.directions(names) == ["maximize", "minimize"]
    study = optuna.create_study(directions=nas_optuna.directions(names),
                                sampler=optuna.samplers.NSGAIISampler(population_size=4, seed=0))
    with pytest.raises(BudgetSpent):
        study.optimize(nas_optuna.objectives(trainer, names), n_trials=50)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == len(trainer.trials) == len(study.trials) - 1 >= 6  # the last one found the budget spent
    for trial, record in zip(done, trainer.trials):
        if record["status"] == "ok":
            params = trainer.space.count_params(record["genome"], digits8.input_shape, digits8.num_classes)
            assert trial.values == [record["score"], params] and record["metrics"]["flops"] > 0
        else:  # over max_params: the worst value of both objectives, as nas gives a failed evaluation
            assert record["status"] == "rejected" and trial.values == [-WORST, WORST]
    front = nas_optuna.pareto_genomes(study, trainer)
    points = {t["genome_hash"]: (t["score"], t["metrics"]["params"]) for t in trainer.trials if t["status"] == "ok"}
    chosen = [points[trainer.space.hash(genome)] for genome in front]
    assert chosen and all(not (a[0] >= b[0] and a[1] <= b[1] and a != b) for a in points.values() for b in chosen)
    with pytest.raises(nas.ConfigError, match="objectives \\['train_seconds'\\]: a peer trial records"):
        nas_optuna.objectives(trainer, ("val_accuracy", "-train_seconds"))


def test_dehb_trains_each_job_for_its_fidelity_until_the_limit(digits8, tmp_path):
    trainer = Trainer("cnn", digits8, nas.Budget(max_train_samples=300), max_epochs=8, tool="dehb")
    optimizer = nas_dehb.search(trainer, min_epochs=1, max_epochs=3, eta=3, seed=0, output_path=tmp_path)
    ok = _check_ledger(trainer, 8)
    assert {t["epochs"] for t in ok} <= {1, 3} and all(t["fidelity"] == t["epochs"] for t in ok)
    best = nas_dehb.best_genome(optimizer, trainer)
    assert trainer.space.hash(best) in {t["genome_hash"] for t in ok}
    with pytest.raises(nas.ConfigError, match="max_epochs limit or pass fevals"):
        nas_dehb.search(Trainer("cnn", digits8), output_path=tmp_path)


def test_a_genome_over_max_params_is_rejected_without_training(digits8):
    trainer = Trainer("cnn", digits8, nas.Budget(max_params=1000), tool="optuna")
    genome = trainer.genome(optuna_values(trainer.space, 0) | {"filters_1": 256, "dense_units": 512})
    assert trainer.run(genome) == {"val_accuracy": 0.0, "status": "rejected"}
    assert trainer.trials[-1]["status"] == "rejected" and trainer.trials[-1]["epochs"] == 0
    assert "parameters > max_params" in trainer.trials[-1]["error"]


def test_bad_input_gets_one_clear_error(digits8):
    with pytest.raises(nas.ConfigError, match="a peer maximises one of val_accuracy, val_balanced_accuracy"):
        Trainer("cnn", digits8, objective="val_loss")
    with pytest.raises(nas.ConfigError, match="max_epochs must be a positive"):
        Trainer("cnn", digits8, max_epochs=0)
    with pytest.raises(nas.InvalidGenomeError, match=r"no value for genes \['bias'\]"):
        genome_from(every_gene_space(), {g.name: 1 for g in every_gene_space().genes if g.name != "bias"})
    with pytest.raises(nas.InvalidGenomeError, match="'gelu' is not one of"):
        genome_from(every_gene_space(), {**kt_values(every_gene_space(), 0), "activation": "gelu"})


def test_import_nas_imports_no_peer_and_a_missing_peer_names_the_extra():
    script = ("import sys, nas, nas.peers; print(sorted(m for m in ('keras_tuner', 'optuna', 'dehb', 'ConfigSpace') "
              "if m in sys.modules)); sys.modules['optuna'] = None\n"
              "try:\n    import nas.peers.optuna\nexcept ImportError as error:\n    print(error)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "[]"
    assert lines[1].startswith("Optuna is not installed") and lines[1].endswith(
        'pip install "nas[peers]" installs the peer tools')


def test_the_trainer_takes_data_as_evolve_does():
    trainer = Trainer("cnn", "digits", nas.Budget(epochs=1))
    assert trainer.data.num_classes == 10 and trainer.data.input_shape == (8, 8, 1)
    assert trainer.budget.class_weighted is False and trainer.epochs == 0 and not trainer.spent


def test_a_genome_that_fails_to_build_or_diverges_scores_zero_and_the_search_goes_on(tiny_data):
    from conftest import dense_space

    trainer = Trainer(dense_space(modes=("ok", "raise", "nan")), tiny_data, nas.Budget(epochs=1), tool="optuna")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(nas_optuna.objective(trainer), n_trials=12)
    by_mode = {mode: [t for t in trainer.trials if t["genome"]["mode"] == mode] for mode in ("ok", "raise", "nan")}
    assert all(by_mode.values()), "12 random trials drew every mode"
    assert all(t["status"] == "failed" and t["score"] == 0.0 and t["epochs"] == 0 and
               "RuntimeError: this genome is built to fail" in t["error"] for t in by_mode["raise"])
    assert all(t["status"] == "failed" and t["score"] == 0.0 and "NaN" in t["error"] for t in by_mode["nan"])
    assert all(t["status"] == "ok" for t in by_mode["ok"]) and len(study.trials) == 12
