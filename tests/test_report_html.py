"""`nas report RUN`: the run report page (nas/workbench). A run with simulated fitness gives every section; synthetic
records (written through RunFolder) give lineage, several workers and failures; damaged, old, unfinished and failed
runs give a page that says what is missing, and a folder that is not a run gives one error line."""
from __future__ import annotations

import json
import random
import re
import shutil

import pytest

import nas
from nas.cli import main
from nas.runs import Individual, RunFolder
from nas.training import simulate
from nas.workbench import analysis, write_report
from search_spaces import cnn

SECTION = re.compile(r'<section id="([a-z]+)">')


@pytest.fixture(scope="module")
def simulated(tiny_data, tmp_path_factory):
    """A finished two-objective run (6 x 3, simulated fitness)."""
    return nas.evolve("cnn", tiny_data, population=6, generations=3, objectives="val_accuracy,-params",
                      executor=nas.InlineExecutor(evaluate=simulate), run_dir=tmp_path_factory.mktemp("w") / "run",
                      seed=0, verbose=False)


def copy_run(run, path, keep=lambda record: record, config=lambda config: config):
    """A copy of ``run`` at ``path`` through RunFolder: its config and generations, and its records mapped by
    ``keep`` (None drops a record)."""
    folder = RunFolder.create(path, config(json.loads((run.path / "config.json").read_text())))
    for record in run.evaluations:
        kept = keep(dict(record))
        if kept is not None:
            folder.append_evaluation(kept)
    for record in run.generations:
        folder.append_generation(record)
    return folder


def sections(page: str) -> list[str]:
    return SECTION.findall(page)


def test_a_finished_run_gets_every_section_with_layers_and_its_top_k(simulated, capsys):
    assert main(["report", str(simulated.path), "--top-k", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(simulated.path / "report.html")
    page = (simulated.path / "report.html").read_text()
    assert sections(page) == ["summary", "configuration", "progress", "pareto", "genes", "importance", "lineage",
                              "top", "curves", "failures", "timeline", "files"]
    assert "could not be drawn" not in page and "Traceback" not in page
    top = page.split('<section id="top">')[1].split("</section>")[0]
    assert top.count("<summary>") == 3 and "Conv2D" in top and "not built" not in top
    best = simulated.best
    assert best.genome_hash in top.split("<tr>")[2]  # the first row after the header is the best genome
    total = sum(int(layer.count_params()) for layer in best.build().layers)
    assert f"{total:,} parameters" in top
    for gene in simulated.config["space"]["genes"]:
        assert f"<b>{gene['name']}</b>" in page
    assert "data:image/png;base64," in page and "<svg" in page
    assert "No evaluation failed." in page
    assert "trained for one epoch, so each curve is a single point" in page  # the fixture's budget: 1 epoch
    assert f"{len(simulated.evaluations)} ({len(simulated.evaluations)} ok" in page
    cache = json.loads((simulated.path / "report_layers.json").read_text())
    assert set(cache) == {i.genome_hash for i in simulated.ranked()[:3]}
    assert top.split("<summary>")[1].startswith(f"{len(cache[best.genome_hash])} layers, {total:,} parameters")


def test_a_second_report_takes_the_layers_it_listed_before_from_the_cache(simulated, tmp_path):
    folder = copy_run(simulated, tmp_path / "run")
    best = simulated.best.genome_hash
    folder.write_json("report_layers.json", {best: [["kept", "CachedLayer", "4x4x2", 7]], "other": "not a list"})
    page = write_report(folder.path, top_k=1).read_text()
    assert "CachedLayer" in page and "1 layers, 7 parameters" in page


def test_links_are_relative_to_the_page_and_other_outputs_are_linked(simulated, tmp_path):
    folder = copy_run(simulated, tmp_path / "run")
    folder.write_bytes("final/report.md", b"# retrained\n")
    folder.write_json("final/report.json", {"accuracy": 0.5})
    folder.write_bytes("explain/lesion.png", b"\x89PNG")
    folder.write_bytes("export/model.tflite", b"tflite")
    out = write_report(tmp_path / "run", out=tmp_path / "pages" / "run.html", layers=False)
    page = out.read_text()
    for target in ("final/report.md", "final/report.json", "explain/lesion.png", "export/model.tflite"):
        assert f'href="../run/{target}"' in page
    assert not (tmp_path / "run" / "report.html").exists()
    assert "layers not listed" in page
    assert not re.search(r'(?:src|href)="(?!data:|#|\.\./run/)', page)  # nothing but inline data and the run's files


def _genome(rng, **genes):
    genome = cnn.SPACE.repair(cnn.SPACE.sample(rng), (16, 16, 3))
    genome.update(genes)
    return genome


def _record(index, generation, genome, score, parents, operator, changed, worker="w1", start=0, end=1, **extra):
    record = {"index": index, "generation": generation, "genome": genome, "genome_hash": cnn.SPACE.hash(genome),
              "fitness": [score], "status": "ok", "error": None, "node": "n1", "worker": worker,
              "metrics": {"val_accuracy": score, "params": 1000 + index},
              "started": f"2026-01-01T00:00:{start:02d}+00:00", "finished": f"2026-01-01T00:00:{end:02d}+00:00",
              "parents": parents, "operator": operator, "changed": changed,
              "curve": [{"epoch": 1, "loss": 1.2, "accuracy": 0.4, "val_loss": 1.0, "val_accuracy": score / 2},
                        {"epoch": 2, "loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": score}]}
    record.update(extra)
    return record


@pytest.fixture
def lineage_run(simulated, tmp_path):
    """Synthetic records with lineage keys: A and B initial, C = crossover of A and B, D = mutation of C (best);
    two workers, one failure."""
    rng = random.Random(0)
    a, b = _genome(rng, learning_rate=0.001), _genome(rng, learning_rate=0.004)
    c = dict(a, learning_rate=0.002)
    d = dict(c, batch_size=16 if c["batch_size"] != 16 else 32)
    ha, hb, hc = (cnn.SPACE.hash(g) for g in (a, b, c))
    records = [_record(0, 0, a, 0.5, [], "initial", {}, "w1", 0, 10),
               _record(1, 0, b, 0.4, [], "initial", {}, "w2", 0, 5),
               _record(2, 1, c, 0.6, [ha, hb], "crossover+mutation", {"learning_rate": [0.001, 0.002]}, "w2", 5, 8),
               _record(3, 2, d, 0.9, [hc], "mutation", {"batch_size": [c["batch_size"], d["batch_size"]]}, "w1",
                       10, 12),
               {**_record(4, 2, _genome(rng), 0.0, [hc], "mutation", {}, "w2", 8, 9), "fitness": None,
                "status": "failed", "error": "ResourceExhaustedError: OOM when allocating tensor"}]
    folder = RunFolder.create(tmp_path / "lineage", json.loads((simulated.path / "config.json").read_text())
                              | {"objectives": ["val_accuracy"]})
    for record in records:
        folder.append_evaluation(record)
    return folder.path, records


def test_lineage_tree_shows_operators_and_changed_genes_back_to_generation_one(lineage_run):
    path, records = lineage_run
    page = write_report(path, layers=False).read_text()
    lineage = page.split('<section id="lineage">')[1].split("</section>")[0]
    hashes = [r["genome_hash"] for r in records]
    positions = [lineage.index(h) for h in hashes[:4]]
    assert positions[3] < positions[2] < positions[0]  # newest first down the first parents: D, C, A
    assert "other parent" in lineage and hashes[1] in lineage  # B, crossed into C
    assert "mutation: batch_size:" in lineage
    assert "crossover+mutation: learning_rate: 0.001 → 0.002" in lineage
    assert "← initial" in lineage
    assert "predates lineage" not in page
    curves = page.split('<section id="curves">')[1].split("</section>")[0]
    assert "data:image/png" in curves and "validation only" not in curves
    failures = page.split('<section id="failures">')[1].split("</section>")[0]
    assert "1 evaluation(s) failed" in failures and "OOM when allocating tensor" in failures


def test_timeline_gives_each_worker_its_busy_share_of_the_span(lineage_run):
    path, records = lineage_run
    found = analysis.timeline(records)
    assert found.span == 12
    assert found.utilisation == {"n1/w1": pytest.approx(12 / 12), "n1/w2": pytest.approx(9 / 12)}
    assert [s for s, _, _ in found.bars["n1/w2"]] == [0, 5, 8] and found.bars["n1/w2"][2][2] is False
    page = write_report(path, layers=False).read_text()
    timeline = page.split('<section id="timeline">')[1].split("</section>")[0]
    assert "2 worker(s) over 12 s" in timeline and "75%" in timeline and "100%" in timeline


def test_gene_importance_ranks_the_gene_the_score_depends_on_first():
    rng = random.Random(1)
    genes = [g.to_config() for g in cnn.SPACE.genes]
    genomes = [cnn.SPACE.sample(rng) for _ in range(120)]
    individuals = [Individual(g, str(n), (g["dense_units"] / 512 + rng.random() * 0.01,), {}, "ok", n, 0)
                   for n, g in enumerate(genomes)]
    found = analysis.gene_importance(genes, individuals)
    assert list(found.genes)[0] == "dense_units" and found.genes["dense_units"] > 0.5
    assert found.genomes == 120 and found.oob_r2 > 0.5
    assert sum(found.genes.values()) == pytest.approx(1.0)
    assert analysis.gene_importance(genes, individuals[:analysis.MIN_IMPORTANCE_GENOMES - 1]) is None


def test_gene_shares_count_each_value_per_generation():
    generations = [(0, [{"pool": "max"}, {"pool": "avg"}]), (1, [{"pool": "avg"}] * 4)]
    assert analysis.shares("pool", ["max", "avg"], generations) == [[0.5, 0.0], [0.5, 1.0]]
    assert analysis.gene_values({"type": "bool", "name": "bn"}) == [False, True]
    assert analysis.gene_values({"type": "int", "name": "x", "low": 1, "high": 4, "step": 1}) == [1, 2, 3, 4]
    assert analysis.gene_values({"type": "int", "name": "x", "low": 1, "high": 400, "step": 1}) is None


def test_an_older_run_without_lineage_curves_or_times_says_what_it_lacks(simulated, tmp_path):
    newer = ("parents", "operator", "changed", "curve", "started", "finished", "worker", "node", "rung", "epochs",
             "training_seed", "worker_rss_mb")
    copy_run(simulated, tmp_path / "old", keep=lambda r: {k: v for k, v in r.items() if k not in newer},
             config=lambda c: {k: v for k, v in c.items() if k not in ("versions", "algorithm", "operators")})
    page = write_report(tmp_path / "old", layers=False).read_text()
    assert "This run predates lineage records" in page
    assert "no per-epoch curve" in page
    assert "no started/finished times" in page
    assert "generational (not recorded)" in page and "other versions not recorded" in page
    assert "could not be drawn" not in page


def test_a_torn_last_line_is_skipped_and_said_on_the_page(simulated, tmp_path, capsys):
    shutil.copytree(simulated.path, tmp_path / "torn")
    with open(tmp_path / "torn" / "evaluations.jsonl", "ab") as handle:
        handle.write(b'{"index": 99, "generation": 3, "geno')
    assert main(["report", str(tmp_path / "torn"), "--no-layers"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Warning" not in captured.err
    page = (tmp_path / "torn" / "report.html").read_text()
    assert "is incomplete or corrupt" in page and f"{len(simulated.evaluations)} (" in page


def test_a_run_still_being_written_reports_what_has_finished(simulated, tmp_path):
    folder = copy_run(simulated, tmp_path / "live", keep=lambda r: r if r["generation"] == 0 else None)
    (folder.path / "generations.jsonl").unlink()
    page = write_report(folder.path, layers=False).read_text()
    assert "incomplete: 0 of 3 generations recorded" in page
    assert "No generation has finished yet" in page
    assert "<b>blocks</b>" in page  # gene frequencies of what was evaluated so far
    assert "could not be drawn" not in page


def test_a_run_with_no_successful_evaluation_lists_its_failures(simulated, tmp_path):
    failed = {"status": "failed", "fitness": None, "error": "RuntimeError: the data went missing"}
    folder = copy_run(simulated, tmp_path / "failed", keep=lambda r: r | failed)
    page = write_report(folder.path).read_text()
    assert "no successful evaluation yet" in page
    assert "No successful evaluation yet, so there are no top genomes." in page
    assert "the data went missing" in page and f"{len(simulated.evaluations)} evaluation(s) failed" in page
    assert "could not be drawn" not in page


def test_a_folder_that_is_not_a_run_or_a_bad_option_gives_one_error_line(simulated, tmp_path, capsys):
    assert main(["report", str(simulated.path), "--top-k", "0"]) == 2
    assert capsys.readouterr().err == "nas: error: top_k must be at least 1, got 0\n"
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"nas: error: {tmp_path} is not a run folder (no config.json); check the path"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "evaluations.jsonl").write_text('{"genome": {}}\n')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the run-folder format" in err and "Traceback" not in err
