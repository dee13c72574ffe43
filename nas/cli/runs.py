"""``nas runs list``, ``nas runs show`` and ``nas runs compare``: one line per run folder, the details of one run
(refreshed while it runs with ``--follow``), or several runs side by side."""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from typing import Any

from .options import positive_float


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas runs list|show`` to the CLI's sub-commands."""
    runs = commands.add_parser("runs", help="list run folders or show one")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="list|show|compare")
    listing = runs_commands.add_parser("list", help="one line per run folder")
    listing.add_argument("root", nargs="?", default="runs")
    listing.set_defaults(handler=_runs_list)
    show = runs_commands.add_parser("show", help="config, generations, best genome and failures of a run")
    show.add_argument("run_dir")
    show.add_argument("--follow", action="store_true",
                      help="refresh while the search writes the folder (here or on a cluster), until the run "
                           "finishes or Ctrl-C")
    show.add_argument("--interval", type=positive_float, default=5.0, metavar="SECONDS",
                      help="seconds between refreshes with --follow (default 5)")
    show.set_defaults(handler=_runs_show)
    compare = runs_commands.add_parser("compare", help="several runs side by side: a table and best-so-far curves")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN")
    compare.add_argument("--out", default="compare.png", metavar="FILE.png",
                         help="where to write the best-so-far plot (default compare.png in this folder)")
    compare.set_defaults(handler=_runs_compare)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _runs_list(args: argparse.Namespace) -> int:
    from ..errors import NasError
    from ..runs import Run
    from ..runs import list_runs

    runs = list_runs(args.root)
    if not runs:
        print(f"no run folders under {args.root}")
        return 0
    print(f"{'run':<28} {'space':<9} {'objectives':<24} {'generations':>11} {'evals':>6} {'best':>10}  state")
    for path in runs:
        try:
            run = Run(path)
        except NasError as error:
            print(f"{path.name:<28} unreadable: {error}")
            continue
        best = run.best
        state = "finished" if run.finished else "incomplete"
        print(f"{path.name:<28} {run.config['space']['name']:<9} {','.join(run.objectives):<24} "
              f"{len(run.generations):>5}/{run.config['generations']:<5} {len(run.evaluations):>6} "
              f"{_fmt(best.fitness[0]) if best else '-':>10}  {state}")
    return 0


def _show_reevaluation(result: dict | None) -> None:
    if not result:
        return
    noise = _fmt(result["noise_std"]) if result["noise_std"] is not None else "unknown"
    print(f"\nre-evaluated with {result['seeds']} seeds ({result['objective']}); evaluation noise, the standard "
          f"deviation between seeds: {noise}")
    for genome_hash in result["ranking"]:
        row = result["genomes"][genome_hash]
        error = _fmt(row["standard_error"]) if row["standard_error"] is not None else "-"
        rung = f"  rung {row['rung']}" if "rung" in row else ""
        scores = ", ".join(map(_fmt, row["scores"]))
        print(f"  {genome_hash}  mean {_fmt(row['mean'])} +- {error}{rung}  scores {scores}")


def _runs_show(args: argparse.Namespace) -> int:
    from ..runs import Run

    if not args.follow:
        _show(Run(args.run_dir))
        return 0
    try:
        while True:
            with warnings.catch_warnings():  # a torn last line is a record being written: read it next time
                warnings.simplefilter("ignore")
                run = Run(args.run_dir)
            if sys.stdout.isatty():
                print("\033[H\033[J", end="")  # clear the screen
            else:
                print(f"\n==== {time.strftime('%H:%M:%S')} ====")
            _show(run)
            print("\nthe run has finished" if run.complete else f"\nfollowing: refreshing every {args.interval:g} s "
                  f"(Ctrl-C to stop)", flush=True)
            if run.complete:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print()
        return 0


def _show_rung_agreement(run: Any) -> None:
    from ..ranking import rung_agreement

    agreement = [a for a in rung_agreement(run.evaluations, run.objectives[0]) if a["kendall_tau"] is not None]
    if agreement:
        print("rungs      a promoted genome's rank kept from the rung below (Kendall tau-b of "
              f"{run.objectives[0]}): " + ", ".join(f"rung {a['from_rung']} -> {a['rung']} {a['kendall_tau']:.2f} over "
                                                    f"{a['k']} genomes" for a in agreement)
              + "; near 0: the lower rung could not tell the genomes it promoted apart")


def _show(run: Any) -> None:
    from ..progress import Reporter

    config = run.config
    data = config["data"]
    print(f"run        {run.path} ({'finished' if run.finished else 'incomplete'}, created {config['created']})")
    print(f"space      {config['space']['name']} ({len(config['space']['genes'])} genes)")
    print(f"data       {data.get('kind')} {json.dumps({k: v for k, v in data.items() if k != 'kind'})}; input "
          f"{'x'.join(map(str, config['input_shape']))}, {len(config['class_names'])} classes")
    print(f"search     population {config['population']} x {config['generations']} generations, seed "
          f"{config['seed']}, objectives {', '.join(run.objectives)}, budget {json.dumps(config['budget'])}")
    fidelity = config.get("fidelity")
    if fidelity:
        rungs = [r.get("rung", 0) for r in run.evaluations if "replicate" not in r]
        print(f"fidelity   rungs of {fidelity['min_epochs']}..{fidelity['max_epochs']} epochs, eta {fidelity['eta']}: "
              + ", ".join(f"{rungs.count(n)} evaluation(s) at rung {n}" for n in sorted(set(rungs))))
        _show_rung_agreement(run)
    if config.get("epoch_budget"):
        spent = run.generations[-1].get("epoch_budget_spent") if run.generations else None
        print(f"epochs     budget {config['epoch_budget']}: "
              + (f"{spent} charged when it ended the search" if spent is not None else "not spent yet"))
    print(f"evaluations {len(run.evaluations)} ({sum(r['status'] == 'ok' for r in run.evaluations)} ok, "
          f"{sum(r['status'] == 'cached' for r in run.evaluations)} cached, {len(run.failures)} failed)")
    if run.generations:
        print()
        print(Reporter.table_header(list(run.generations[0]["stats"])))
        for record in run.generations:
            print(Reporter.table_row(record, config["generations"]))
    best = run.best
    if best is not None:
        trained = f", rung {best.rung}" if config.get("fidelity") else ""
        trained += f", {best.epochs} epoch(s)" if best.epochs else ""
        record = next(r for r in run.evaluations if r["index"] == best.index)
        if record.get("continued"):  # its metrics' epochs and train_seconds are those it added
            trained += (f", {best.metrics.get('epochs')} of them in this evaluation, continued from evaluation "
                        f"{record['promoted_from']}")
        print(f"\nbest       {best.genome_hash} (evaluation {best.index}, generation {best.generation + 1}{trained})")
        print("metrics    " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.metrics.items()))
        print("genome     " + ", ".join(f"{k}={v}" for k, v in best.genome.items()))
    _show_reevaluation(run.reevaluation)
    if len(run.objectives) > 1:
        print(f"\nPareto front ({', '.join(run.objectives)}):")
        for member in run.pareto_front:
            print(f"  {member.genome_hash}  " + "  ".join(_fmt(v) for v in member.fitness))
    if run.failures:
        print(f"\nfailures ({len(run.failures)}):")
        for record in run.failures[:10]:
            print(f"  evaluation {record['index']} {record['genome_hash']}: {record['error']}")


def _runs_compare(args: argparse.Namespace) -> int:
    from ..compare import COLUMNS, load_runs, objective_note, plot_compare, summary

    runs = load_runs(args.run_dirs)
    rows = [[_fmt(value) for value in summary(run).values()] for run in runs]
    widths = [max(len(text) for text in column) for column in zip(COLUMNS, *rows)]
    for row in (list(COLUMNS), *rows):
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
    note = objective_note(runs)
    if note:
        print(note)
    print(f"best-so-far plot (against evaluations and wall time): {plot_compare(runs, args.out).resolve()}")
    return 0
