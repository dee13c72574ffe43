"""``nas runs list`` and ``nas runs show``: one line per run folder, or the details of one run."""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``nas runs list|show`` to the CLI's sub-commands."""
    runs = commands.add_parser("runs", help="list run folders or show one")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="list|show")
    listing = runs_commands.add_parser("list", help="one line per run folder")
    listing.add_argument("root", nargs="?", default="runs")
    listing.set_defaults(handler=_runs_list)
    show = runs_commands.add_parser("show", help="config, generations, best genome and failures of a run")
    show.add_argument("run_dir")
    show.set_defaults(handler=_runs_show)


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
        print(f"  {genome_hash}  mean {_fmt(row['mean'])} +- {error}  scores " + ", ".join(map(_fmt, row["scores"])))


def _runs_show(args: argparse.Namespace) -> int:
    from ..progress import Reporter
    from ..runs import Run

    run = Run(args.run_dir)
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
    return 0
