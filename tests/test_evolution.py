"""The search end to end through the API: real DEAP, real Keras training at tiny sizes."""
from __future__ import annotations

import json

import pytest

import nas
from conftest import dense_space
from nas.errors import ConfigError
from nas.evolution import parse_objectives
from nas.executors import InlineExecutor
from nas.training import simulate


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_search_writes_the_whole_run_folder(tiny_data, tmp_path):
    seen = []
    run = nas.evolve("cnn", tiny_data, population=4, generations=2, budget=nas.Budget(epochs=1),
                     run_dir=tmp_path / "run", seed=0, callbacks=[seen.append], verbose=False)
    folder = tmp_path / "run"
    assert run.path == folder and run.finished
    config = json.loads((folder / "config.json").read_text())
    assert config["space"]["name"] == "cnn" and config["data"]["kind"] == "synthetic_lesions"
    assert config["objectives"] == ["val_accuracy"] and config["population"] == 4 and config["seed"] == 0
    assert {"tensorflow", "deap", "ray", "python"} <= set(config["versions"])

    evaluations = _lines(folder / "evaluations.jsonl")
    assert 4 < len(evaluations) <= 8
    required = {"genome", "genome_hash", "fitness", "metrics", "status", "error", "generation", "node", "worker",
                "started", "finished", "index"}
    for record in evaluations:
        assert required <= set(record)
        assert record["status"] in ("ok", "cached")
        assert record["genome_hash"] == nas.load_run(folder).space.hash(record["genome"])
        assert record["fitness"] == [record["metrics"]["val_accuracy"]]
        assert {"val_accuracy", "val_balanced_accuracy", "val_loss", "params", "train_seconds"} <= set(
            record["metrics"])
        assert 0.0 <= record["metrics"]["val_accuracy"] <= 1.0
    assert [r["index"] for r in evaluations] == sorted(r["index"] for r in evaluations)

    generations = _lines(folder / "generations.jsonl")
    assert [g["generation"] for g in generations] == [0, 1] and seen == generations
    for record in generations:
        stats = record["stats"]["val_accuracy"]
        assert stats["min"] <= stats["mean"] <= stats["max"]
        assert len(record["population"]) == 4 and 0 < record["diversity"]["unique"] <= 1
    assert generations[0]["evaluations"] == 4
    # elitism: the best genome of generation 1 survives into generation 2
    assert generations[0]["best"]["genome_hash"] in generations[1]["population"]
    assert generations[1]["best"]["fitness"][0] >= generations[0]["best"]["fitness"][0]

    checkpoint = json.loads((folder / "checkpoint.json").read_text())
    assert checkpoint["generation"] == 1 and len(checkpoint["population"]) == 4
    assert (folder / "plots" / "fitness.png").stat().st_size > 1000

    best = run.best
    assert best.fitness[0] == max(r["metrics"]["val_accuracy"] for r in evaluations)
    model = best.build()
    assert model.output_shape == (None, 7) and model.count_params() == best.metrics["params"]


def test_same_seed_same_search_and_another_seed_differs(tiny_data, tmp_path):
    space = dense_space()
    kwargs = dict(population=4, generations=3, budget=nas.Budget(epochs=1), verbose=False)
    first = nas.evolve(space, tiny_data, run_dir=tmp_path / "a", seed=3, **kwargs)
    second = nas.evolve(space, tiny_data, run_dir=tmp_path / "b", seed=3, **kwargs)
    other = nas.evolve(space, tiny_data, run_dir=tmp_path / "c", seed=4, **kwargs)
    assert first.genome_sequence() == second.genome_sequence()
    assert [r["metrics"]["val_loss"] for r in first.evaluations] == pytest.approx(
        [r["metrics"]["val_loss"] for r in second.evaluations], abs=1e-9)
    assert first.best.genome == second.best.genome
    assert other.genome_sequence() != first.genome_sequence()


def test_failing_evaluations_are_recorded_and_the_search_goes_on(tiny_data, tmp_path):
    space = dense_space(modes=("ok", "raise", "nan"))
    run = nas.evolve(space, tiny_data, population=6, generations=2, budget=nas.Budget(epochs=1),
                     run_dir=tmp_path / "run", seed=1, verbose=False)
    failed = run.failures
    assert failed, "the space is built so that some genomes fail"
    for record in failed:
        assert record["fitness"] == [None] and record["error"]
        assert record["genome"]["mode"] in ("raise", "nan")
        if record["genome"]["mode"] == "raise":
            assert "RuntimeError: this genome is built to fail" in record["error"]
        else:
            assert "NaN" in record["error"]
    ok = [r for r in run.evaluations if r["status"] == "ok"]
    assert ok and all(r["genome"]["mode"] == "ok" for r in ok)
    assert run.best.genome["mode"] == "ok"
    assert sum(g["failed"] for g in run.generations) == len(failed)


def test_identical_genomes_are_trained_once(tiny_data, tmp_path):
    # 2 x 2 = 4 distinct architectures, 3 x 4 slots: repeats must come from the cache.
    space = nas.SearchSpace("small", [nas.Choice("units", [4, 8]), nas.Choice("activation", ["relu", "tanh"])],
                            build=dense_space().build)
    run = nas.evolve(space, tiny_data, population=4, generations=3, budget=nas.Budget(epochs=1),
                     run_dir=tmp_path / "run", seed=0, verbose=False)
    trained = [r["genome_hash"] for r in run.evaluations if r["status"] == "ok"]
    cached = [r for r in run.evaluations if r["status"] == "cached"]
    assert len(trained) == len(set(trained)) <= 4
    assert cached and all(c["genome_hash"] in trained for c in cached)
    origin = {r["index"]: r for r in run.evaluations}
    for record in cached:
        assert record["metrics"] == origin[record["cached_from"]]["metrics"]
    assert sum(g["cached"] for g in run.generations) == len(cached)


def test_nsga2_returns_a_non_dominated_front(tiny_data, tmp_path):
    run = nas.evolve(dense_space(), tiny_data, population=6, generations=2, objectives=("val_accuracy", "-params"),
                     budget=nas.Budget(epochs=1), run_dir=tmp_path / "run", seed=2, verbose=False)
    front = run.pareto_front
    assert front
    signed = [(m.fitness[0], -m.fitness[1]) for m in front]

    def dominates(a, b):
        return all(x >= y for x, y in zip(a, b)) and a != b

    assert not any(dominates(a, b) for a in signed for b in signed)
    for record in run.evaluations:  # every evaluated genome is on the front or dominated by it
        point = (record["fitness"][0], -record["fitness"][1])
        assert point in signed or any(dominates(f, point) for f in signed)
    assert all(r["fitness"][1] == r["metrics"]["params"] for r in run.evaluations)
    assert set(run.generations[-1]["pareto_front"]) == {m.genome_hash for m in front}
    assert (run.path / "plots" / "pareto.png").exists()


def test_interrupted_search_resumes_to_the_same_result(tiny_data, tmp_path):
    space = dense_space()
    kwargs = dict(population=4, generations=3, budget=nas.Budget(epochs=1), seed=5, verbose=False)
    reference = nas.evolve(space, tiny_data, run_dir=tmp_path / "reference", **kwargs)

    def stop_after_first(record):
        if record["generation"] == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nas.evolve(space, tiny_data, run_dir=tmp_path / "run", callbacks=[stop_after_first], **kwargs)
    assert not nas.load_run(tmp_path / "run").finished
    resumed = nas.resume(tmp_path / "run", space=space, data=tiny_data, verbose=False)
    assert resumed.finished
    assert resumed.genome_sequence() == reference.genome_sequence()
    assert resumed.best.genome == reference.best.genome
    assert [g["population"] for g in resumed.generations] == [g["population"] for g in reference.generations]


def test_resume_refuses_a_different_config(tiny_data, tmp_path):
    space = dense_space()
    nas.evolve(space, tiny_data, population=2, generations=1, run_dir=tmp_path / "run", verbose=False)
    with pytest.raises(ConfigError, match=r"population: recorded 2, given 3"):
        nas.evolve(space, tiny_data, population=3, generations=1, run_dir=tmp_path / "run", resume=True,
                   verbose=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        nas.evolve(space, tiny_data, population=2, generations=1, run_dir=tmp_path / "run", verbose=False)


def test_initial_genomes_join_the_first_generation(tiny_data, tmp_path):
    from search_spaces import cnn

    run = nas.evolve("cnn", tiny_data, population=2, generations=1, initial=[cnn.TABLE1],
                     run_dir=tmp_path / "run", verbose=False)
    first = run.evaluations[0]["genome"]
    # at 16x16 the two valid-padded blocks of Table 1 do not fit: repaired, not crashed
    assert first["filters_1"] == 32 and first["convs_per_block"] == 2
    assert first == cnn.SPACE.repair(cnn.TABLE1, (16, 16, 3))


def test_max_params_rejects_large_models_before_training(tiny_data, tmp_path):
    run = nas.evolve(dense_space(), tiny_data, population=4, generations=2, budget=nas.Budget(max_params=20000),
                     run_dir=tmp_path / "run", verbose=False)
    assert all(r["metrics"]["params"] <= 20000 for r in run.evaluations)
    assert len({r["genome"]["units"] for r in run.evaluations}) > 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(objectives=("accuracy",)), "unknown objective 'accuracy'"),
    (dict(objectives=("val_accuracy", "val_accuracy")), "each once"),
    (dict(population=1), "population must be an integer >= 2"),
    (dict(generations=0), "generations must be"),
    (dict(space="transformer"), "unknown search space 'transformer'"),
    (dict(executor="spark"), "unknown executor 'spark'"),
    (dict(elitism=4), "elitism must be in 0..population-1"),
    (dict(mutation_prob=1.5), "mutation_prob must be in"),
    (dict(data=None), "data is required"),
    (dict(algorithm="annealing"), "algorithm must be one of generational, aging"),
])
def test_user_mistakes_are_clear_errors(tiny_data, tmp_path, kwargs, message):
    arguments = dict(space=dense_space(), data=tiny_data, population=4, generations=1, run_dir=tmp_path / "r",
                     verbose=False)
    arguments.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        nas.evolve(**arguments)
    assert not (tmp_path / "r" / "evaluations.jsonl").exists()


@pytest.mark.parametrize("objectives", [("val_accuracy",), ("val_accuracy", "-params")])
def test_aging_evolution_retires_the_oldest_and_logs_a_generation_every_population(tiny_data, tmp_path, objectives):
    def search(name):
        return nas.evolve(dense_space(), tiny_data, population=4, generations=4, algorithm="aging", seed=2,
                          objectives=objectives, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / name,
                          verbose=False)

    run = search("a")
    assert [r["index"] for r in run.evaluations] == list(range(16))
    assert [g["generation"] for g in run.generations] == [0, 1, 2, 3]
    hashes = [r["genome_hash"] for r in run.evaluations]
    for g in run.generations:  # the population is always the 4 youngest: each child retired the oldest member
        assert g["population"] == hashes[4 * g["generation"]:4 * g["generation"] + 4]
        assert g["evaluations"] + g["cached"] == 4
    assert run.genome_sequence() == search("b").genome_sequence()
    best = max(r["metrics"]["val_accuracy"] for r in run.evaluations if r["status"] == "ok")
    assert run.best.metrics["val_accuracy"] == best  # kept even after it retired from the population
    assert run.config["algorithm"] == "aging" and len(run.pareto_front) >= 1


class WideInline(InlineExecutor):
    """An in-process executor that claims several slots, as a Ray cluster would."""

    def __init__(self, slots):
        super().__init__(evaluate=simulate)
        self.slots = slots

    @property
    def capacity(self):
        return self.slots


def test_aging_with_more_slots_than_the_population_and_exact_resume_on_fewer(tiny_data, tmp_path):
    kwargs = dict(population=3, generations=4, algorithm="aging", seed=4, verbose=False)
    reference = nas.evolve(dense_space(), tiny_data, executor=WideInline(8), run_dir=tmp_path / "ref", **kwargs)
    assert len(reference.evaluations) == 12 and reference.config["in_flight"] == 8

    def stop(record):
        if record["generation"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nas.evolve(dense_space(), tiny_data, executor=WideInline(8), run_dir=tmp_path / "run", callbacks=[stop],
                   **kwargs)
    # resumed with one slot: the run keeps its recorded 8 in flight (queued in the executor) and ends identically
    resumed = nas.resume(tmp_path / "run", space=dense_space(), data=tiny_data,
                         executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert resumed.genome_sequence() == reference.genome_sequence()
    assert resumed.generations[-1]["population"] == reference.generations[-1]["population"]


def test_resume_uses_the_recorded_executor_and_its_settings():
    from nas.executors import recorded

    executor = recorded({"name": "ray", "address": "auto", "cpus_per_trial": 2.0, "gpus_per_trial": 0.5,
                         "max_concurrent": 4, "trial_timeout": 60.0, "max_retries": 1, "reuse_workers": True,
                         "evaluate": "nas.training.simulate", "evaluate_kwargs": {"seconds": 0.1}})
    assert isinstance(executor, nas.RayExecutor) and executor.address == "auto"
    assert (executor.cpus_per_trial, executor.gpus_per_trial, executor.max_concurrent) == (2.0, 0.5, 4)
    assert executor.trial_timeout == 60.0 and executor.max_retries == 1 and executor.reuse_workers
    assert executor.evaluate.keywords == {"seconds": 0.1}
    assert type(recorded({"name": "inline", "evaluate": "nas.training.evaluate"})) is InlineExecutor


def test_objective_parsing():
    assert parse_objectives("val_accuracy,-params") == [("val_accuracy", 1), ("params", -1)]
    assert parse_objectives(["-val_loss"]) == [("val_loss", -1)]
