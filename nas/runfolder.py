"""The run folder: the only module that writes ``runs/<name>/``, and the reader behind :func:`nas.load_run`.

Everything is written so that a crash at any instant leaves a readable folder: JSONL files are appended one whole
line per ``write`` and fsynced (a torn last line is skipped by readers), other files are written to a temporary name,
fsynced and renamed over the old one.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError

CONFIG = "config.json"
EVALUATIONS = "evaluations.jsonl"
GENERATIONS = "generations.jsonl"
CHECKPOINT = "checkpoint.json"
PREVIOUS_CHECKPOINT = "checkpoint.prev.json"


def now() -> str:
    """The current UTC time as an ISO 8601 string (what every record uses)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def default_run_dir(root: str | os.PathLike = "runs") -> Path:
    """``runs/<timestamp>``, unique even for two runs started in the same second."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / stamp
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{stamp}-{suffix}"
    return path


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or infinity; writing them would make the line unreadable for strict parsers (jq, browsers).
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """One-line JSON with NaN/inf written as null."""
    return json.dumps(_json_safe(value), separators=(",", ":"), allow_nan=False)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` so that readers see the old or the new file, never a partial one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(content.encode() if isinstance(content, str) else content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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
        write_atomic(folder.path / CONFIG, json.dumps(_json_safe(config), indent=2) + "\n")
        return folder

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFolder":
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
        self._append(EVALUATIONS, record)

    def append_generation(self, record: dict) -> None:
        self._append(GENERATIONS, record)

    # -- files ---------------------------------------------------------------------------------------------------
    def write_checkpoint(self, state: dict) -> None:
        """Replace the checkpoint atomically, keeping the previous one as a fallback."""
        current = self.path / CHECKPOINT
        if current.exists():
            os.replace(current, self.path / PREVIOUS_CHECKPOINT)
        write_atomic(current, json.dumps(_json_safe(state)) + "\n")

    def write_json(self, relative: str, value: Any) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(_json_safe(value), indent=2) + "\n")
        return path

    def write_bytes(self, relative: str, content: bytes) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, content)
        return path

    def subdir(self, name: str) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reads ---------------------------------------------------------------------------------------------------
    def read_config(self) -> dict:
        return read_config(self.path)

    def read_evaluations(self) -> list[dict]:
        return read_jsonl(self.path / EVALUATIONS)

    def read_generations(self) -> list[dict]:
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
        elif _json_safe(a) != _json_safe(b):
            differences.append(f"{prefix}: recorded {json.dumps(_json_safe(a))}, given {json.dumps(_json_safe(b))}")

    walk(recorded, given, "")
    return differences
