"""Layer summaries of the report's top genomes: each model built with the run's space, its layers listed.

Building needs Keras, and importing it (with TensorFlow) is most of a report's time, so :class:`LayerJob` does it in a
child process (``python -m nas.workbench.layers RUN HASH...``) that runs while the report draws its figures.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import NasError
from ..runs import Individual, Run, load_run

Summary = list[tuple[str, str, str, int]] | str  # the layers, or why the model was not built
TIMEOUT_SECONDS = 600


def layer_summaries(run: Run, individuals: Sequence[Individual]) -> list[Summary]:
    """Each individual's layers as (name, type, output shape, parameters), built with the run's space; a one-line
    reason instead where the model cannot be built (a custom space not passed in, a genome the space rejects)."""
    try:
        space = run.space
    except NasError as error:
        return [f"not built: {error}"] * len(individuals)
    import keras

    summaries: list[Summary] = []
    for individual in individuals:
        try:
            model = individual.build(space=space)
            summaries.append([(layer.name, type(layer).__name__, _shape(layer), int(layer.count_params()))
                              for layer in model.layers])
        except Exception as error:  # one architecture that will not build must not cost the others their rows
            summaries.append(f"not built: {type(error).__name__}: {error}")
        keras.backend.clear_session()
    return summaries


def _shape(layer: Any) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    return "x".join("?" if d is None else str(d) for d in tuple(shape)[1:])


class LayerJob:
    """The layer summaries of the genomes ``hashes`` of the run folder ``path``, computed in a child process started
    now; :meth:`result` waits for them."""

    def __init__(self, path: str | os.PathLike, hashes: Sequence[str]) -> None:
        self.count = len(hashes)
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the nas package
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                       "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "nas.workbench.layers", str(path), *hashes],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True)

    def result(self) -> list[Summary]:
        """The summaries, in the order of the hashes; every row says why when the child process failed."""
        try:
            out, err = self.process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return [f"not built: the model builds took over {TIMEOUT_SECONDS} s"] * self.count
        if self.process.returncode != 0:
            last = (err.strip().splitlines() or ["no message"])[-1]
            return [f"not built: the build process failed ({last})"] * self.count
        return [row if isinstance(row, str) else [tuple(layer) for layer in row] for row in json.loads(out)]


def main(argv: Sequence[str]) -> int:
    """``python -m nas.workbench.layers RUN HASH...``: print the summaries of those genomes as JSON."""
    run = load_run(argv[0])
    by_hash = {i.genome_hash: i for i in run.ranked()}
    chosen = [by_hash[h] for h in argv[1:] if h in by_hash]
    found: dict[str, Summary] = dict(zip([i.genome_hash for i in chosen], layer_summaries(run, chosen)))
    print(json.dumps([found.get(h, "not built: no successful evaluation of this genome") for h in argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
