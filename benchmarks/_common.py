"""Helpers shared by the benchmark scripts: quiet TensorFlow, RSS, machine description, writing results, the epochs a
search spent."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def save(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    return path


def epochs_spent(run) -> int:
    """Epochs a search really trained (cache hits trained nothing; a promotion only its added epochs)."""
    return sum(int(r["metrics"].get("epochs") or 0) for r in run.evaluations if r["status"] != "cached")
