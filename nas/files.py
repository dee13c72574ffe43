"""General file helpers: strict one-line JSON and crash-safe (atomic, fsynced) file writes.

Run folders are written only by :class:`nas.runs.writer.RunFolder`, which builds on these; code that writes to a path
the user chose (``nas export --out``, ``nas.explain.save_panel``, ``Dataset.write_splits``) uses them directly.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, in nested dicts, lists and tuples too.

    JSON has no NaN or infinity; writing them would make the file unreadable for strict parsers (jq, browsers).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """One-line JSON with NaN/inf written as null."""
    return json.dumps(json_safe(value), separators=(",", ":"), allow_nan=False)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened (Windows)."""
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


def write_atomic(path: str | os.PathLike, content: str | bytes, parents: bool = False) -> Path:
    """Write ``content`` to ``path`` so that readers see the old or the new file, never a partial one.

    The content goes to a temporary name beside ``path``, is fsynced and renamed over ``path``. ``parents`` creates
    the missing folders first. Returns ``path``.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(content.encode() if isinstance(content, str) else content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path
