"""Weight inheritance (``inherit=True``): a child starts from its first parent's trained weights in every layer whose
name and weight shapes match; the parents' weights travel to the executor as bytes, are kept in the run folder only
while a member or pending child can inherit them, and a resumed run inherits what an uninterrupted one did."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest

import nas
from nas.epochs import inherit, layer_weights
from nas.errors import ConfigError
from nas.executors import InlineExecutor
from nas.space import resolve_space
from nas.training import Budget, build, evaluate, simulate, train

BUDGET = Budget(max_train_samples=200, max_params=50_000)


@pytest.fixture(scope="module")
def digits8():
    return nas.data.digits(image_size=8)


def _small_genome(space, data) -> dict:
    rng = random.Random(1)
    while True:
        genome = space.repair(space.sample(rng), data.input_shape)
        if space.count_params(genome, data.input_shape, data.num_classes) <= BUDGET.max_params:
            return genome


def test_inheritance_copies_only_the_layers_whose_name_and_shapes_match(digits8):
    space = resolve_space("cnn")
    parent_genome = _small_genome(space, digits8)
    parent = train(parent_genome, space=space, data=digits8, budget=BUDGET, seed=0)
    saved = layer_weights(parent)
    child_genome = {**parent_genome, "dense_units": 32 if parent_genome["dense_units"] != 32 else 64}
    fresh = build(child_genome, space=space, data=digits8, budget=BUDGET, seed=0)
    child = build(child_genome, space=space, data=digits8, budget=BUDGET, seed=0)
    copied = inherit(child, saved)
    trained = {layer.name: layer.get_weights() for layer in parent.layers}
    matching, other = [], []
    for layer, fresh_layer in zip(child.layers, fresh.layers):
        own = layer.get_weights()
        if not own:
            continue
        theirs = trained.get(layer.name)
        if theirs is not None and [w.shape for w in theirs] == [w.shape for w in own]:
            matching.append(layer.name)
            assert all(np.array_equal(a, b) for a, b in zip(own, theirs))
        else:
            other.append(layer.name)
            assert all(np.array_equal(a, b) for a, b in zip(own, fresh_layer.get_weights()))  # fresh initialisation
    assert copied == len(matching) and "block1_conv1" in matching
    assert set(other) == {"dense", "predictions"}  # the changed gene's layer and the one it feeds
    outcome = evaluate(child_genome, space=space, data=digits8, budget=BUDGET, seed=0, inherit=saved,
                       keep_weights=True)
    assert outcome["status"] == "ok" and outcome["inherited_layers"] == copied
    assert inherit(build(child_genome, space=space, data=digits8, budget=BUDGET, seed=0), outcome["weights"]) == \
        len(matching) + len(other)  # a genome's own weights fit every one of its layers


def _digits_search(path, digits8, executor):
    return nas.evolve("cnn", digits8, population=4, generations=2, budget=BUDGET, inherit=True, executor=executor,
                      run_dir=path, seed=1, verbose=False)


def _inherited(run) -> list[tuple]:
    return [(r["index"], r["genome_hash"], r["fitness"], r["inherited_from"], r["inherited_layers"])
            for r in run.evaluations]


def test_a_real_search_inherits_and_is_the_same_inline_and_in_a_worker_process(digits8, tmp_path):
    inline = _digits_search(tmp_path / "inline", digits8, "inline")
    children = [r for r in inline.evaluations if r["parents"]]
    assert children and all(r["inherited_from"] == r["parents"][0] for r in children if r["status"] == "ok")
    assert any(r["inherited_layers"] > 0 for r in children)
    assert all(r["inherited_from"] is None for r in inline.evaluations if not r["parents"])
    assert json.loads((inline.path / "config.json").read_text())["inherit"] is True
    kept = {p.stem for p in (inline.path / "inherit").glob("*.weights")}
    assert kept == set(inline.generations[-1]["population"])  # only the last population's weights are kept
    assert _inherited(_digits_search(tmp_path / "local", digits8, "local")) == _inherited(inline)


def _simulated(path, algorithm, **kwargs):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=6, generations=4,
                      algorithm=algorithm, inherit=True, executor=InlineExecutor(evaluate=simulate), run_dir=path,
                      seed=2, verbose=False, **kwargs)


def _stop_at_generation_1(record):
    if record["generation"] == 1:
        raise KeyboardInterrupt


@pytest.mark.parametrize("algorithm, fidelity", [("generational", None), ("aging", None), ("generational", "1:4:2")])
def test_an_interrupted_search_resumes_inheriting_what_the_uninterrupted_one_did(tmp_path, algorithm, fidelity):
    reference = _simulated(tmp_path / "reference", algorithm, fidelity=fidelity)
    with pytest.raises(KeyboardInterrupt):
        _simulated(tmp_path / "run", algorithm, fidelity=fidelity, callbacks=[_stop_at_generation_1])
    resumed = nas.resume(tmp_path / "run", executor=InlineExecutor(evaluate=simulate), verbose=False)
    keys = ("index", "genome_hash", "parents", "operator", "inherited_from", "inherited_layers")
    assert [[r[k] for k in keys] for r in resumed.evaluations] == [[r[k] for k in keys] for r in reference.evaluations]
    assert sum(r["inherited_from"] is not None for r in reference.evaluations) > 0


def test_children_of_parents_whose_weights_are_gone_train_from_scratch(tmp_path):
    """The documented limitation: weights lost with the run folder's ``inherit/`` (deleted by hand, or a crash the
    folder did not survive) cannot be inherited; those children say ``inherited_from: null``."""
    with pytest.raises(KeyboardInterrupt):
        _simulated(tmp_path / "run", "generational", callbacks=[_stop_at_generation_1])
    for path in (tmp_path / "run" / "inherit").glob("*.weights"):
        path.unlink()
    resumed = nas.resume(tmp_path / "run", executor=InlineExecutor(evaluate=simulate), verbose=False)
    later = [r for r in resumed.evaluations if r["generation"] == 2]
    assert later and all(r["inherited_from"] is None and r["parents"] for r in later)


def test_inherit_is_off_by_default_and_checked(tmp_path):
    data = nas.data.synthetic_lesions(n=140, image_size=16, seed=0)
    run = nas.evolve("cnn", data, population=4, generations=2, executor=InlineExecutor(evaluate=simulate),
                     run_dir=tmp_path / "off", verbose=False)
    assert "inherit" not in json.loads((run.path / "config.json").read_text())
    assert not any("inherited_from" in r for r in run.evaluations) and not (run.path / "inherit").exists()
    with pytest.raises(ConfigError, match="inherit must be True or False"):
        nas.evolve("cnn", data, inherit="yes", executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "bad")


def test_cli_search_inherit(tmp_path):
    subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16",
                    "--population", "4", "--generations", "2", "--simulate", "0", "--executor", "inline", "--inherit",
                    "--run-dir", str(tmp_path / "run"), "--quiet"], check=True, capture_output=True)
    run = nas.load_run(tmp_path / "run")
    assert run.config["inherit"] is True
    assert any(r["inherited_from"] for r in run.evaluations)
