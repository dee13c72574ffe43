"""Multi-fidelity evolution (successive halving inside each generation, continuation from saved training state) and
common random numbers: rung promotion order, exact continuation, no genome trained twice at one rung, resume."""
from __future__ import annotations

import functools
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nas
from nas.cli import main
from nas.errors import ConfigError
from nas.engine.reevaluate import ranking
from nas.ranking import rung_agreement
from nas.retrain import retrain
from nas.executors import InlineExecutor
from nas.fidelity import Fidelity
from nas.space import resolve_space
from nas.training import Budget, evaluate, simulate, training_seed


def test_fidelity_rungs_and_bad_input():
    assert Fidelity(1, 9, 3).rungs == (1, 3, 9)
    assert Fidelity.parse("2:8:2").rungs == (2, 4, 8)
    assert Fidelity(1, 9, 3).promoted(12) == 4 and Fidelity(1, 9, 3).promoted(2) == 1
    assert Fidelity(1, 9, 3).generation_epochs(12) == 12 + 4 * 2 + 1 * 6
    assert Fidelity(1, 3, 3).generation_epochs(8) == 8 + 2 * 2 and Fidelity(2, 8, 2).generation_epochs(1) == 8
    assert Fidelity.from_dict(Fidelity(1, 4, 2).to_dict()) == Fidelity(1, 4, 2)
    with pytest.raises(ConfigError, match="power of eta"):
        Fidelity(1, 10, 3)
    with pytest.raises(ConfigError, match="MIN:MAX:ETA"):
        Fidelity.parse("1:9")
    with pytest.raises(ConfigError, match="eta must be an integer >= 2"):
        Fidelity(1, 9, 1)


def test_fidelity_refuses_what_it_cannot_rank(tiny_data, tmp_path):
    simulated = InlineExecutor(evaluate=simulate)
    with pytest.raises(ConfigError, match="one objective"):
        nas.evolve("cnn", tiny_data, objectives="val_accuracy,-params", fidelity="1:9:3", executor=simulated,
                   run_dir=tmp_path / "b")
    with pytest.raises(ConfigError, match="leave Budget.epochs at 1"):
        nas.evolve("cnn", tiny_data, budget=Budget(epochs=2), fidelity="1:9:3", executor=simulated,
                   run_dir=tmp_path / "c")
    assert not any(tmp_path.iterdir())  # nothing written for a refused search


@pytest.mark.parametrize("extra", [{}, {"oversample": True}, {"samples_from_epoch": ((2, 600), (3, None))}])
def test_continuation_equals_uninterrupted_training(extra):
    """Two epochs in one go, and one epoch then one more from the saved state, give the same model on CPU
    (dropout included: its seed state travels with the weights; with oversampling too; and with training images that
    grow from epoch to epoch, over three epochs, where the continuation crosses a change of size)."""
    data = nas.data.digits(image_size=8)
    space = resolve_space("cnn")
    genome = space.repair(space.sample(random.Random(3)), data.input_shape)
    genome.update({k: 0.3 for k in genome if k.startswith("dropout")})
    budget = Budget(max_train_samples=300, **extra)
    stop = 3 if budget.samples_from_epoch else 2
    whole = evaluate(genome, space=space, data=data, budget=budget, seed=0, epochs=stop)
    first = evaluate(genome, space=space, data=data, budget=budget, seed=0, epochs=1, keep_state=True)
    rest = evaluate(genome, space=space, data=data, budget=budget, seed=0, epochs=stop, initial_epoch=1,
                    state=first["state"])
    assert whole["status"] == first["status"] == rest["status"] == "ok", (whole["error"], rest["error"])
    assert [c["epoch"] for c in whole["curve"]] == list(range(1, stop + 1))
    assert [c["epoch"] for c in rest["curve"]] == list(range(2, stop + 1))
    assert whole["curve"] == first["curve"] + rest["curve"]  # training metrics included
    assert set(whole["curve"][0]) == {"epoch", "val_accuracy", "val_balanced_accuracy", "val_loss", "loss",
                                      "accuracy"}
    assert whole["curve"][-1]["loss"] == pytest.approx(whole["metrics"]["train_loss"], rel=1e-6)
    assert not {"loss", "accuracy"} & set(whole["metrics"])  # the metrics stay the validation scores
    assert whole["metrics"]["val_loss"] == rest["metrics"]["val_loss"]
    assert first["metrics"]["train_samples"] == 300 and first["metrics"]["epochs"] == 1
    assert rest["metrics"]["epochs"] == whole["metrics"]["epochs"] - 1
    assert whole["metrics"]["train_samples"] == (len(data.x_train) if budget.samples_from_epoch else 300)
    other = resolve_space("cnn").repair(resolve_space("cnn").sample(random.Random(4)), data.input_shape)
    wrong = evaluate(other, space=space, data=data, budget=budget, seed=0, epochs=2, initial_epoch=1,
                     state=first["state"])
    assert wrong["status"] == "failed" and "another genome" in wrong["error"]


def test_training_images_grow_with_the_rungs(tmp_path, capsys):
    """Fidelity.samples_from_epoch puts each rung's image count at the rung's first epoch; Budget checks the pairs
    and reads them back from config.json; nas search --rung-samples needs --fidelity and one count per rung above
    the first."""
    schedule = nas.Fidelity(1, 9, 3).samples_from_epoch(4000, None)
    assert schedule == ((2, 4000), (4, None))
    budget = Budget(max_train_samples=2000, samples_from_epoch=schedule)
    assert [budget.train_samples(e) for e in range(9)] == [2000, 4000, 4000] + [None] * 6
    assert Budget.from_dict(budget.to_dict()) == budget  # JSON has lists; the budget keeps tuples
    with pytest.raises(ConfigError, match="2 rungs above the first"):
        nas.Fidelity(1, 9, 3).samples_from_epoch(4000)
    for bad, message in (([(1, 500)],  "above 1, increasing"), ([(3, 500), (2, 900)], "increasing"),
                         ([(2, 0)], "positive integer or None"), (5, "pairs")):
        with pytest.raises(ConfigError, match=message):
            Budget(samples_from_epoch=bad)
    assert main(["search", "--rung-samples", "all", "--run-dir", str(tmp_path / "r")]) == 2
    assert "--rung-samples needs --fidelity" in capsys.readouterr().err
    assert main(["search", "--fidelity", "1:9:3", "--rung-samples", "all", "--run-dir", str(tmp_path / "r")]) == 2
    assert "2 rungs above the first" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_search_with_rung_samples_trains_each_rung_on_its_images(tmp_path):
    """nas search --rung-samples end to end (real training, inline): the first rung trains on --max-train-samples,
    a promotion on the whole training split, and config.json keeps the schedule for resume."""
    run_dir = tmp_path / "run"
    assert main(["search", "--data", "synthetic:200", "--image-size", "8", "--population", "3", "--generations", "1",
                 "--fidelity", "1:3:3", "--max-train-samples", "40", "--rung-samples", "all", "--executor", "inline",
                 "--run-dir", str(run_dir), "--quiet"]) == 0
    run = nas.load_run(run_dir)
    samples = {(r["rung"], r["metrics"]["train_samples"]) for r in run.evaluations if r["status"] == "ok"}
    assert samples == {(0, 40), (1, len(nas.data.parse("synthetic:200", image_size=8, seed=0).y_train))}
    assert Budget.from_dict(run.config["budget"]).samples_from_epoch == ((2, None),)


def _simulated_run(path, seed=0, **kwargs):
    return nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=9, generations=3,
                      seed=seed, fidelity="1:9:3", executor=InlineExecutor(evaluate=simulate), run_dir=path,
                      verbose=False, **kwargs)


def test_successive_halving_promotes_the_best_third_of_each_rung(tmp_path):
    run = _simulated_run(tmp_path / "run")
    records = run.evaluations
    for generation in range(3):
        ours = [r for r in records if r["generation"] == generation]
        for rung in (1, 2):
            below = {r["genome_hash"]: r for r in ours if r["rung"] == rung - 1 and r["fitness"][0] is not None}
            promoted = [r for r in ours if r["rung"] == rung]
            ranked = sorted(below.values(), key=lambda r: (-r["fitness"][0], r["index"]))
            assert [r["genome_hash"] for r in promoted] == [r["genome_hash"] for r in
                                                            ranked[:max(1, len(ranked) // 3)]]
            for record in promoted:  # linked to the record it continued from, its curve extended
                assert below[record["genome_hash"]]["index"] == record["promoted_from"]
                assert record["epochs"] == (1, 3, 9)[rung] and len(record["curve"]) == record["epochs"]
                assert record["continued"] is True
                assert all(0 <= c["accuracy"] <= 1 and c["loss"] == pytest.approx(1 - c["accuracy"])
                           for c in record["curve"])  # simulated training metrics
        started = {r["genome_hash"] for r in ours if r["rung"] == 0 and r["status"] == "ok"}
        spent = sum(r["epochs"] - (1, 3, 9)[r["rung"] - 1] if r["rung"] else r["epochs"]
                    for r in ours if r["status"] == "ok")
        assert spent == Fidelity(1, 9, 3).generation_epochs(len(started))  # what a search's budget can be sized by
    trained = [(r["genome_hash"], r["rung"]) for r in records if r["status"] == "ok"]
    assert len(trained) == len(set(trained))  # never trained twice at one rung
    assert run.best.rung == 2 and run.best.epochs == 9
    ranked = run.ranked()  # what `nas retrain --top-k` retrains: the higher rung first, one entry per genome
    assert [i.rung for i in ranked] == sorted((i.rung for i in ranked), reverse=True) and ranked[0] == run.best
    assert len({i.genome_hash for i in ranked}) == len(ranked)
    assert max((r for r in records if r["rung"] == 2), key=lambda r: r["fitness"][0])["index"] == run.best.index
    assert not list((run.path / "training_state").glob("*"))  # states deleted once no promotion needs them
    assert (run.path / "plots" / "fitness.png").is_file()  # with a point per evaluation, coloured by rung


def test_selection_ranks_the_rung_before_the_score(tmp_path):
    """The elite of a generation is the best genome at the highest rung, even when a genome measured only at a
    lower rung scored higher there."""
    run = _simulated_run(tmp_path / "run", seed=5)
    for generation in run.generations:
        best = generation["best"]
        top = max(r["rung"] for r in run.evaluations if r["generation"] <= generation["generation"])
        assert next(r for r in run.evaluations if r["index"] == best["index"])["rung"] == top


def test_resume_of_an_interrupted_fidelity_run_is_exact(tmp_path):
    reference = _simulated_run(tmp_path / "reference", seed=2)

    def stop(record):
        if record["generation"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _simulated_run(tmp_path / "run", seed=2, callbacks=[stop])
    resumed = nas.resume(tmp_path / "run", executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert resumed.genome_sequence() == reference.genome_sequence()
    assert [(r["rung"], r["fitness"]) for r in resumed.evaluations] == \
        [(r["rung"], r["fitness"]) for r in reference.evaluations]


def test_real_fidelity_search_in_a_worker_process_continues_from_saved_state(tmp_path):
    data = nas.data.digits(image_size=8)
    run = nas.evolve("cnn", data, population=4, generations=1, fidelity="1:2:2", executor="local",
                     budget=Budget(max_train_samples=200, max_params=50_000), run_dir=tmp_path / "run",
                     verbose=False)
    promoted = [r for r in run.evaluations if r["rung"] == 1]
    assert len(promoted) == 2 and all(r["continued"] and r["status"] == "ok" for r in promoted)
    assert all(r["metrics"]["epochs"] == 1 and [c["epoch"] for c in r["curve"]] == [1, 2] for r in promoted)
    best = run.best
    assert best.rung == 1
    model = best.train()  # trained as the search trained it: 2 epochs in one go gives the continued model's score
    x, y = data.x_val, data.y_val
    assert float(np.mean(model.predict(x, verbose=0).argmax(1) == y)) == pytest.approx(
        best.metrics["val_accuracy"], abs=1e-9)


def test_common_random_numbers_by_default_and_a_seed_per_genome_on_request(tiny_data, tmp_path):
    common = nas.evolve("cnn", tiny_data, population=3, generations=1, executor=InlineExecutor(evaluate=simulate),
                        run_dir=tmp_path / "common", verbose=False)
    assert len({r["training_seed"] for r in common.evaluations}) == 1
    apart = nas.evolve("cnn", tiny_data, population=3, generations=1, budget=Budget(seeding="genome"),
                       executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "apart", verbose=False)
    assert len({r["training_seed"] for r in apart.evaluations}) == 3
    assert training_seed(0, "a", "run") == training_seed(0, "b", "run") != training_seed(0, "a", "run", 1)
    assert Budget.from_dict({"epochs": 1}).seeding == "genome"  # recorded before seeding existed
    with pytest.raises(ConfigError, match="seeding"):
        Budget(seeding="lucky")


def test_cli_fidelity_flag(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16",
                           "--population", "4", "--generations", "1", "--fidelity", "1:4:2", "--simulate", "0",
                           "--executor", "inline", "--run-dir", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(r["rung"] for r in nas.load_run(tmp_path / "run").evaluations) == [0, 0, 0, 0, 1, 1, 2]
    budgeted = subprocess.run([sys.executable, "-m", "nas", "search", "--data", "synthetic:70", "--image-size", "16",
                               "--population", "4", "--generations", "30", "--fidelity", "1:4:2", "--algorithm",
                               "aging", "--epoch-budget", "9", "--simulate", "0", "--executor", "inline",
                               "--run-dir", str(tmp_path / "budgeted")], capture_output=True, text=True, timeout=120)
    assert budgeted.returncode == 0, budgeted.stderr
    assert "epoch budget spent: 9 of 9 epochs in 8 evaluations" in budgeted.stdout
    assert nas.load_run(tmp_path / "budgeted").finished
    shown = subprocess.run([sys.executable, "-m", "nas", "runs", "show", str(tmp_path / "budgeted")],
                           capture_output=True, text=True, timeout=120).stdout
    assert "(finished" in shown and "epochs     budget 9: 9 charged when it ended the search" in shown
    bad = subprocess.run([sys.executable, "-m", "nas", "search", "--fidelity", "1:10:3", "--simulate", "0",
                          "--run-dir", str(tmp_path / "bad")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "power of eta" in bad.stderr and "Traceback" not in bad.stderr


def _interrupted_once(genome, *, marker, **job):
    """The simulated fitness, except that the first second-seed re-evaluation interrupts the search (Ctrl-C)."""
    if job.get("replicate") == 2 and not Path(marker).exists():
        Path(marker).write_text("interrupted")
        raise KeyboardInterrupt
    return simulate(genome, **job)


def test_reevaluation_ranks_the_top_genomes_on_the_mean_over_seeds_and_resumes_exactly(tmp_path):
    reference = _simulated_run(tmp_path / "reference", seed=1, reevaluate=3)
    result = reference.reevaluation
    replicas = [r for r in reference.evaluations if "replicate" in r]
    assert len(replicas) == 3 * 2 and {r["replicate"] for r in replicas} == {1, 2}
    originals = {r["index"]: r for r in reference.evaluations if "replicate" not in r}
    for replica in replicas:  # the original's rung and epochs, another seed
        original = originals[replica["replicate_of"]]
        assert (replica["rung"], replica["epochs"]) == (original["rung"], original["epochs"])
        assert replica["training_seed"] != original["training_seed"]
    for row in result["genomes"].values():
        assert len(row["scores"]) == 3 and row["mean"] == pytest.approx(np.mean(row["scores"]))
        assert row["standard_error"] == pytest.approx(np.std(row["scores"], ddof=1) / np.sqrt(3))
    means = [result["genomes"][h]["mean"] for h in result["ranking"]]
    assert means == sorted(means, reverse=True)
    assert reference.best.genome_hash == result["ranking"][0] and result["noise_std"] > 0
    shown = subprocess.run([sys.executable, "-m", "nas", "runs", "show", str(reference.path)], capture_output=True,
                           text=True, timeout=120).stdout
    assert "evaluation noise" in shown and result["ranking"][0] in shown.split("evaluation noise")[1]
    best = next(r for r in reference.evaluations if r["index"] == reference.best.index)
    assert best["continued"] and f"rung 2, 9 epoch(s), {best['metrics']['epochs']} of them in this evaluation, " \
        f"continued from evaluation {best['promoted_from']})" in shown
    agreement = rung_agreement(reference.evaluations, "val_accuracy")
    promoted = [r["rung"] for r in reference.evaluations if r.get("operator") == "promotion" and "replicate" not in r]
    assert [(a["from_rung"], a["rung"], a["k"]) for a in agreement] == [(0, 1, promoted.count(1)),
                                                                        (1, 2, promoted.count(2))]
    assert all(f"rung {a['from_rung']} -> {a['rung']} {a['kendall_tau']:.2f} over {a['k']} genomes" in shown
               for a in agreement)


def test_reevaluation_ranks_a_higher_rung_above_a_better_mean_at_a_lower_one(tmp_path):
    assert ranking({"genomes": {"low": {"rung": 1, "mean": 0.9}, "high": {"rung": 2, "mean": 0.5},
                                "top": {"rung": 2, "mean": 0.6}}}, 1) == ["top", "high", "low"]
    assert ranking({"genomes": {"a": {"rung": 0, "mean": 0.2}, "b": {"rung": 0, "mean": 0.1}}}, -1) == ["b", "a"]
    run = _simulated_run(tmp_path / "run", seed=1, reevaluate=6)  # more genomes than reach the top rung
    genomes = run.reevaluation["genomes"]
    records = {r["index"]: r for r in run.evaluations}
    assert all(row["rung"] == records[row["index"]]["rung"] for row in genomes.values())
    order = [(genomes[h]["rung"], genomes[h]["mean"]) for h in run.reevaluation["ranking"]]
    assert len({rung for rung, _ in order}) > 1 and order == sorted(order, reverse=True)
    assert [i.genome_hash for i in run.ranked()[:6]] == run.reevaluation["ranking"]
    shown = subprocess.run([sys.executable, "-m", "nas", "runs", "show", str(run.path)], capture_output=True,
                           text=True, timeout=120).stdout.split("evaluation noise")[1]
    assert all(f"{h}  mean " in shown and f"rung {genomes[h]['rung']}  scores" in shown for h in genomes)


def test_the_closing_line_names_the_re_evaluated_pick(tmp_path, capsys):
    run = nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=9, generations=3,
                     seed=1, fidelity="1:9:3", reevaluate=3, executor=InlineExecutor(evaluate=simulate),
                     run_dir=tmp_path / "run", verbose=True)
    lines = capsys.readouterr().out.splitlines()
    closing = [n for n, line in enumerate(lines) if line.startswith("nas: done in")]
    reevaluated = [n for n, line in enumerate(lines) if line.startswith("nas: re-evaluated with 3 seeds")]
    assert len(closing) == len(reevaluated) == 1 and closing[0] > reevaluated[0], lines
    mean = run.reevaluation["genomes"][run.best.genome_hash]["mean"]
    assert f"best {run.best.genome_hash} val_accuracy {mean:.4f} (mean of 3 seeds, re-evaluated) genome " \
        in lines[closing[0]]


def test_retrain_takes_the_re_evaluated_pick_not_the_best_single_training(tmp_path):
    run = _simulated_run(tmp_path / "run", seed=4, reevaluate=3)
    genomes, ranking = run.reevaluation["genomes"], run.reevaluation["ranking"]
    single = max(genomes, key=lambda h: (genomes[h]["scores"][0], -genomes[h]["index"]))
    assert single != ranking[0]  # the case in question: one training ranks another genome first
    assert [i.genome_hash for i in run.ranked()[:len(ranking)]] == ranking and run.best.genome_hash == ranking[0]
    summary = retrain(run, epochs=1, patience=1, verbose=False, robustness=False)
    assert summary["genome_hash"] == ranking[0]


def test_reevaluation_resumes_without_training_a_replicate_twice(tmp_path):
    reference = _simulated_run(tmp_path / "reference", seed=1, reevaluate=3)
    marker = tmp_path / "marker"
    interrupting = InlineExecutor(evaluate=functools.partial(_interrupted_once, marker=str(marker)))
    with pytest.raises(KeyboardInterrupt):
        nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=9, generations=3,
                   seed=1, fidelity="1:9:3", reevaluate=3, executor=interrupting, run_dir=tmp_path / "run",
                   verbose=False)
    assert marker.exists() and nas.load_run(tmp_path / "run").reevaluation is None
    resumed = nas.resume(tmp_path / "run", executor=InlineExecutor(evaluate=simulate), verbose=False)
    pairs = [(r["replicate_of"], r["replicate"]) for r in resumed.evaluations if "replicate" in r]
    assert len(pairs) == len(set(pairs)) == 6
    assert resumed.reevaluation["genomes"] == reference.reevaluation["genomes"]
    assert resumed.best.genome_hash == reference.best.genome_hash


def _interrupted_and_resumed(data, path, generation: int, records: list[dict], **kwargs):
    """An aging search of ``kwargs`` interrupted (Ctrl-C) after ``generation``, then resumed: the resumed run, whose
    evaluations must be the uninterrupted run's ``records``."""
    def stop(record):
        if record["generation"] == generation:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=path, callbacks=[stop], **kwargs)
    resumed = nas.resume(path, executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert [(r["index"], r["genome_hash"], r["rung"], r["fitness"]) for r in resumed.evaluations] == \
        [(r["index"], r["genome_hash"], r["rung"], r["fitness"]) for r in records]
    return resumed


def test_aging_promotes_asynchronously_by_the_asha_rule_and_resumes_exactly(tmp_path):
    kwargs = dict(population=6, generations=5, seed=3, algorithm="aging", fidelity="1:9:3", verbose=False)
    data = nas.data.synthetic_lesions(n=140, image_size=16, seed=0)
    run = nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "run", **kwargs)
    records = sorted(run.evaluations, key=lambda r: r["index"])
    assert len(records) == 30 and {r["rung"] for r in records} == {0, 1, 2}
    for record in (r for r in records if r["rung"] > 0):
        # one evaluation in flight: the promotion was chosen right after the evaluations logged before it
        below = {r["genome_hash"]: r for r in records
                 if r["index"] < record["index"] and r["rung"] == record["rung"] - 1 and r["fitness"][0] is not None}
        ranked = sorted(below.values(), key=lambda r: (-r["fitness"][0], r["index"]))
        top = [r["index"] for r in ranked[:len(ranked) // 3]]
        assert record["promoted_from"] in top and record["continued"]
    trained = [(r["genome_hash"], r["rung"]) for r in records if r["status"] == "ok"]
    assert len(trained) == len(set(trained))
    assert run.best.rung == 2 and not list((run.path / "training_state").glob("*"))
    resumed = _interrupted_and_resumed(data, tmp_path / "cut", 2, records, **kwargs)
    assert [g["best"]["index"] for g in resumed.generations] == [g["best"]["index"] for g in run.generations]


def _charged(records: list[dict], rungs: tuple[int, ...]) -> int:
    """The epochs an epoch budget charges these evaluations: a new genome its first rung, a promotion the rest."""
    return sum(rungs[r["rung"]] - (rungs[r["rung"] - 1] if r["rung"] else 0) for r in records)


def test_an_epoch_budget_ends_an_aging_search_where_the_next_evaluation_would_not_fit_and_resumes_exactly(tmp_path):
    data = nas.data.synthetic_lesions(n=140, image_size=16, seed=0)
    kwargs = dict(population=6, generations=50, seed=3, algorithm="aging", fidelity="1:9:3", epoch_budget=40,
                  verbose=False)
    run = nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "run", **kwargs)
    records = sorted(run.evaluations, key=lambda r: r["index"])
    spent = _charged(records, (1, 3, 9))
    assert spent <= 40 and spent == run.generations[-1]["epoch_budget_spent"]
    assert len(records) < 6 * 50 and {r["rung"] for r in records} >= {0, 1}
    assert spent + 1 > 40 or any(r["rung"] == 1 for r in records)  # not even a new genome fitted, or a promotion
    assert run.finished and run.config["epoch_budget"] == 40
    assert sum(g["evaluations"] for g in run.generations) == len(records)
    assert not list((run.path / "training_state").glob("*"))
    again = nas.resume(tmp_path / "run", executor=InlineExecutor(evaluate=simulate), verbose=False)
    assert len(again.evaluations) == len(records)  # a finished run stays finished: nothing trains again
    resumed = _interrupted_and_resumed(data, tmp_path / "cut", 1, records, **kwargs)
    assert resumed.generations[-1]["epoch_budget_spent"] == spent

    plain = nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "plain",
                       population=4, generations=20, algorithm="aging", budget=Budget(epochs=2), epoch_budget=15,
                       verbose=False)
    assert len(plain.evaluations) == 7 and plain.finished  # 7 evaluations of 2 epochs: the 8th would make 16
    for bad, message in ((dict(epoch_budget=0), "epoch_budget must be an integer >= 1"),
                         (dict(epoch_budget=20), "epoch_budget works with algorithm='aging'")):
        with pytest.raises(ConfigError, match=message):
            nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "bad",
                       population=4, generations=2, **({"algorithm": "aging"} if bad["epoch_budget"] == 0 else {}),
                       **bad)
    assert not (tmp_path / "bad").exists()


def test_a_resumed_aging_search_shows_the_best_it_measured_before_at_its_rung(tmp_path, capsys):
    data = nas.data.synthetic_lesions(n=140, image_size=16, seed=0)
    run = nas.evolve("cnn", data, executor=InlineExecutor(evaluate=simulate), run_dir=tmp_path / "run", population=6,
                     generations=3, seed=3, algorithm="aging", fidelity="1:9:3", verbose=False)
    assert run.best.rung == 2
    nas.resume(run.path, data=data, executor=InlineExecutor(evaluate=simulate), generations=4)
    first = next(line for line in capsys.readouterr().out.splitlines() if " | best " in line)
    # the run's best so far, measured at the top rung, outranks any new rung-0 score, however high
    assert first.split(" | ")[1] == f"best val_accuracy={run.best.fitness[0]:.4f} (rung 2)"
