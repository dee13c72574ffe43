"""The Ray executor's former module, kept for code that imports it: the executor lives in
:mod:`nas.executors.ray_cluster`."""
from __future__ import annotations

from .executors.ray_cluster import (
                                    DEFAULT_PORTS,
                                    TRIALS_PER_WORKER,
                                    RayExecutor,
                                    configure_gpus,
                                    parse_address,
)

__all__ = ["DEFAULT_PORTS", "TRIALS_PER_WORKER", "RayExecutor", "configure_gpus", "parse_address"]
