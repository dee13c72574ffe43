"""Reading runs back: best, Pareto front, population, and retraining the best genome as the search did."""
from __future__ import annotations

import numpy as np
import pytest

import nas
from conftest import dense_space
from nas.training import Budget, score


def test_best_trains_back_to_the_model_the_search_scored(tiny_data, tmp_path):
    space = dense_space()
    run = nas.evolve(space, tiny_data, population=3, generations=1, budget=Budget(epochs=2),
                     run_dir=tmp_path / "run", seed=7, verbose=False)
    best = nas.load_run(tmp_path / "run", space=space).best
    model = best.train(data=tiny_data)
    metrics = score(model, tiny_data, Budget(epochs=2), seed=7)
    assert metrics["val_loss"] == pytest.approx(best.metrics["val_loss"], abs=1e-6)
    assert metrics["val_accuracy"] == best.metrics["val_accuracy"]
    assert best.build().count_params() == best.metrics["params"]
    assert run.population and {m.genome_hash for m in run.population} == {r["genome_hash"]
                                                                          for r in run.evaluations}


def test_custom_space_needs_to_be_given_back(tiny_data, tmp_path):
    nas.evolve(dense_space(), tiny_data, population=2, generations=1, run_dir=tmp_path / "run", verbose=False)
    with pytest.raises(nas.ConfigError, match="not a built-in space; pass space="):
        nas.load_run(tmp_path / "run").best.build()


def test_model_trains_the_best_genome_once_then_loads_it_in_safe_mode(tmp_path):
    data = nas.data.synthetic_lesions(n=70, image_size=16, seed=0)
    run = nas.evolve("cnn", data, population=2, generations=1, executor="inline", run_dir=tmp_path / "run",
                     seed=0, verbose=False)
    assert run.model_path() is None
    trained = run.model()
    assert run.model_path() == tmp_path / "run" / "best" / "model.keras"
    loaded = nas.load_run(tmp_path / "run").model()
    assert loaded.count_params() == run.best.metrics["params"]
    np.testing.assert_allclose(loaded.predict(data.x_val, verbose=0), trained.predict(data.x_val, verbose=0),
                               atol=1e-6)
    (tmp_path / "run" / "best" / "model.keras").write_bytes(b"not a model")
    with pytest.raises(nas.ConfigError, match="cannot be loaded"):
        run.model()
