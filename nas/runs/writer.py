"""Writing a run folder: :class:`RunFolder` is the only writer of ``runs/<name>/`` (the reader is
:mod:`nas.runs.reader`).

Everything is written so that a crash at any instant leaves a readable folder: JSONL files are appended one whole
line per ``write`` and fsynced (a torn last line is skipped by readers), other files are written to a temporary name,
fsynced and renamed over the old one.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import ConfigError
from ..files import dumps, fsync_dir, json_safe, write_atomic

if TYPE_CHECKING:
    import keras

CONFIG = "config.json"
EVALUATIONS = "evaluations.jsonl"
GENERATIONS = "generations.jsonl"
CHECKPOINT = "checkpoint.json"
PREVIOUS_CHECKPOINT = "checkpoint.prev.json"
TRAINING_STATES = "training_state"  # multi-fidelity: saved training states, deleted once no promotion needs them
TENSORBOARD = "tensorboard"  # written by nas tensorboard / the search's --tensorboard (nas.tensorboard)
INHERITED_WEIGHTS = "inherit"  # weight inheritance: trained weights of genomes a child may still inherit from


def default_run_dir(root: str | os.PathLike = "runs") -> Path:
    """``runs/<timestamp>``, unique even for two runs started in the same second."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / stamp
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}-{suffix}"
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Every complete JSON line of ``path``; a torn or corrupt line (a crash mid-append) is skipped with a warning."""
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            warnings.warn(f"{path}: line {number} is incomplete or corrupt (an interrupted write?); skipped it",
                          stacklevel=2)
    return records


def latest_attempts(records: Iterable[dict]) -> list[dict]:
    """Evaluation records with each index's latest attempt in the place of its first: an evaluation trained again
    by ``nas resume --retry-failed`` is logged under the same index and replaces the failed one for readers."""
    latest: dict[int, dict] = {}
    for record in records:
        latest[record["index"]] = record
    return list(latest.values())


class RunFolder:
    """Writer of one run folder. Create it with :meth:`create` (new run) or :meth:`open` (resume)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- creation ------------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, config: dict) -> "RunFolder":
        """Start a new run folder; refuses one that already holds a run."""
        folder = cls(path)
        if (folder.path / CONFIG).exists():
            raise ConfigError(f"{folder.path} already holds a run; resume it with resume=True (CLI: nas resume "
                              f"{folder.path}) or choose another run_dir")
        try:
            folder.path.mkdir(parents=True, exist_ok=True)
            probe = folder.path / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise ConfigError(f"cannot write the run folder {folder.path}: {error.strerror or error}; choose a "
                              f"writable run_dir") from None
        write_atomic(folder.path / CONFIG, json.dumps(json_safe(config), indent=2) + "\n")
        return folder

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFolder":
        """Open an existing run folder to append to it (resume), repairing a torn last line of its logs."""
        folder = cls(path)
        if not (folder.path / CONFIG).exists():
            raise ConfigError(f"{folder.path} is not a run folder (no {CONFIG}); check the path")
        folder.repair_jsonl()
        return folder

    def repair_jsonl(self) -> None:
        """Cut a torn last line off the JSONL logs so that new appends start on a fresh line."""
        for name in (EVALUATIONS, GENERATIONS):
            path = self.path / name
            if not path.exists():
                continue
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                cut = data.rfind(b"\n") + 1
                with open(path, "r+b") as handle:
                    handle.truncate(cut)
                    handle.flush()
                    os.fsync(handle.fileno())
                warnings.warn(f"{path}: removed a torn last line left by an interrupted write", stacklevel=2)

    # -- appends -------------------------------------------------------------------------------------------------
    def _append(self, name: str, record: dict) -> None:
        line = (dumps(record) + "\n").encode()
        # One os.write of the whole line in append mode: concurrent writers never interleave within a line.
        fd = os.open(self.path / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def append_evaluation(self, record: dict) -> None:
        """Append one evaluation record to ``evaluations.jsonl`` (fsynced)."""
        self._append(EVALUATIONS, record)

    def append_generation(self, record: dict) -> None:
        """Append one generation record to ``generations.jsonl`` (fsynced)."""
        self._append(GENERATIONS, record)

    # -- files ---------------------------------------------------------------------------------------------------
    def write_checkpoint(self, state: dict) -> None:
        """Replace the checkpoint atomically, keeping the previous one as a fallback."""
        current = self.path / CHECKPOINT
        if current.exists():
            os.replace(current, self.path / PREVIOUS_CHECKPOINT)
        write_atomic(current, json.dumps(json_safe(state)) + "\n")

    def write_json(self, relative: str, value: Any) -> Path:
        """Write ``value`` as indented JSON (NaN/inf as null) to ``relative`` atomically; return its path."""
        return write_atomic(self.path / relative, json.dumps(json_safe(value), indent=2) + "\n", parents=True)

    def write_bytes(self, relative: str, content: bytes | str) -> Path:
        """Write ``content`` to ``relative`` atomically (its folders are created); return its path."""
        return write_atomic(self.path / relative, content, parents=True)

    def save_model(self, relative: str, model: "keras.Model") -> Path:
        """Save a ``keras.Model`` to ``relative`` (a ``.keras`` file) atomically; return its path.

        Keras writes archives only to a path, so the model is saved under a temporary name beside the target, fsynced
        and renamed over it: readers see the old model or the new one, never a partial archive.
        """
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix or '.keras'}")
        try:
            model.save(temporary)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        fsync_dir(target.parent)
        return target

    def write_training_state(self, key: str, state: bytes) -> Path:
        """Keep the training state a multi-fidelity promotion continues from (``training_state/KEY.npz``,
        atomically, before the evaluation that produced it is logged)."""
        return write_atomic(self.path / TRAINING_STATES / f"{key}.npz", state, parents=True)

    def read_training_state(self, key: str) -> bytes | None:
        """The training state kept under ``key``; None when there is none (never saved, or already deleted)."""
        path = self.path / TRAINING_STATES / f"{key}.npz"
        return path.read_bytes() if path.is_file() else None

    def delete_training_states(self) -> int:
        """Delete every kept training state (a generation's promotions are done); returns how many."""
        folder = self.path / TRAINING_STATES
        paths = sorted(folder.glob("*.npz")) if folder.is_dir() else []
        for path in paths:
            path.unlink()
        return len(paths)

    def write_weights(self, genome_hash: str, weights: bytes) -> Path:
        """Keep a genome's trained weights for children that inherit them (``inherit/HASH.weights``, atomically,
        before the evaluation that produced them is logged)."""
        return write_atomic(self.path / INHERITED_WEIGHTS / f"{genome_hash}.weights", weights, parents=True)

    def read_weights(self, genome_hash: str) -> bytes | None:
        """The trained weights kept for ``genome_hash``; None when there are none (never kept, or deleted)."""
        path = self.path / INHERITED_WEIGHTS / f"{genome_hash}.weights"
        return path.read_bytes() if path.is_file() else None

    def prune_weights(self, keep: Iterable[str]) -> int:
        """Delete the kept weights of every genome not in ``keep`` (no living member or child can inherit them);
        returns how many."""
        folder, keep = self.path / INHERITED_WEIGHTS, set(keep)
        paths = [p for p in sorted(folder.glob("*.weights")) if p.stem not in keep] if folder.is_dir() else []
        for path in paths:
            path.unlink()
        return len(paths)

    def subdir(self, name: str) -> Path:
        """The folder ``name`` inside the run folder, created if missing."""
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def tensorboard_dir(self, session: str | None = None, fresh: bool = False) -> Path:
        """The folder TensorBoard event files are written to: ``tensorboard/`` (the HParams experiment) or its
        sub-folder ``session`` (one evaluation), created if missing. ``fresh`` first deletes the event files already
        there (left by a write that was interrupted before it was recorded as done), so that nothing is doubled."""
        path = self.path / TENSORBOARD / session if session else self.path / TENSORBOARD
        path.mkdir(parents=True, exist_ok=True)
        if fresh:
            for events in path.glob("events.out.tfevents.*"):
                events.unlink()
        return path

    # -- reads ---------------------------------------------------------------------------------------------------
    def read_config(self) -> dict:
        """The recorded ``config.json``."""
        return read_config(self.path)

    def read_evaluations(self) -> list[dict]:
        """Every complete record of ``evaluations.jsonl``, retried attempts included (see :func:`latest_attempts`)."""
        return read_jsonl(self.path / EVALUATIONS)

    def read_generations(self) -> list[dict]:
        """Every complete record of ``generations.jsonl``."""
        return read_jsonl(self.path / GENERATIONS)

    def read_checkpoint(self) -> dict | None:
        """The newest readable checkpoint, falling back to the previous one (with a warning) if it is damaged."""
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            path = self.path / name
            if not path.exists():
                continue
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                warnings.warn(f"{path} is damaged; falling back to an older checkpoint and the evaluation log",
                              stacklevel=2)
        return None


def read_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` of the run folder ``path``; ConfigError if it is missing or not JSON."""
    config_path = Path(path) / CONFIG
    if not config_path.exists():
        raise ConfigError(f"{Path(path)} is not a run folder (no {CONFIG}); check the path")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{config_path} is not valid JSON ({error}); the run folder is damaged") from None


def list_runs(root: str | os.PathLike = "runs") -> list[Path]:
    """Run folders directly under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder")
    runs = [p for p in root.iterdir() if (p / CONFIG).is_file()]
    return sorted(runs, key=lambda p: (p / CONFIG).stat().st_mtime)


def config_differences(recorded: dict, given: dict, ignore: Iterable[str] = ()) -> list[str]:
    """Human-readable differences between two configs (dotted field names), ignoring top-level ``ignore`` keys."""
    ignore = set(ignore)
    differences: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if not prefix and key in ignore:
                    continue
                walk(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        elif json_safe(a) != json_safe(b):
            differences.append(f"{prefix}: recorded {json.dumps(json_safe(a))}, given {json.dumps(json_safe(b))}")

    walk(recorded, given, "")
    return differences
