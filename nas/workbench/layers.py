"""Layer summaries of the report's top genomes: each model built with the run's space, its layers listed.

Building needs Keras, and importing it (with TensorFlow) is most of a report's time, so :class:`LayerJob` does it in a
child process (``python -m nas.workbench.layers RUN HASH...``) that runs while the report draws its figures, and keeps
what it built in the run folder (``report_layers.json``), so that reporting a run again builds only new top genomes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import NasError
from ..runs import Individual, Run, RunFolder, load_run

Summary = list[tuple[str, str, str, int]] | str  # the layers, or why the model was not built
TIMEOUT_SECONDS = 600
CACHE = "report_layers.json"  # genome hash -> layers, kept in the run folder so the next report need not build them


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
    keras.backend.clear_session()  # once: a clear per model costs three times the model's build
    return summaries


def _shape(layer: Any) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    return "x".join("?" if d is None else str(d) for d in tuple(shape)[1:])


class LayerJob:
    """The layer summaries of the genomes ``hashes`` of the run folder ``path``: those in the run's cache
    (:data:`CACHE`, written by earlier reports) at once, the others built in a child process started now;
    :meth:`result` waits for them and adds them to the cache."""

    def __init__(self, path: str | os.PathLike, hashes: Sequence[str]) -> None:
        self.path, self.hashes = Path(path), list(hashes)
        self.cached = _read_cache(self.path)
        self.missing = [h for h in self.hashes if h not in self.cached]
        self.process = None
        if self.missing:
            root = str(Path(__file__).resolve().parents[2])  # the folder holding the nas package
            environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            self.process = subprocess.Popen([sys.executable, "-m", "nas.workbench.layers", str(path), *self.missing],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
                                            text=True)

    def result(self) -> list[Summary]:
        """The summaries, in the order of the hashes; a row says why where its model was not built."""
        built = self._built()
        found = {**self.cached, **built}
        kept = {h: s for h, s in built.items() if not isinstance(s, str)}  # failures are tried again next time
        if kept:
            try:
                RunFolder(self.path).write_json(CACHE, {**self.cached, **kept})
            except OSError:  # a read-only run folder: the page is still written (elsewhere, with --out)
                pass
        return [found[h] for h in self.hashes]

    def _built(self) -> dict[str, Summary]:
        if self.process is None:
            return {}
        try:
            out, err = self.process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return dict.fromkeys(self.missing, f"not built: the model builds took over {TIMEOUT_SECONDS} s")
        if self.process.returncode != 0:
            last = (err.strip().splitlines() or ["no message"])[-1]
            return dict.fromkeys(self.missing, f"not built: the build process failed ({last})")
        return dict(zip(self.missing, json.loads(out)))


def _read_cache(path: Path) -> dict[str, Summary]:
    try:
        found = json.loads((path / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {h: [tuple(layer) for layer in rows] for h, rows in found.items() if isinstance(rows, list)}


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
