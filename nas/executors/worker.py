"""The local executor's worker process: ``python -m nas.executors.worker FD``.

Receives the job (space, data, budget, seed, fitness) once over the socket FD, then evaluates genomes until told to
stop or until the search process goes away.
"""
from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection

from .base import rss_mb


def main(fd: int) -> None:
    """Evaluate the job's genomes sent over the socket ``fd`` until told to stop (None) or the other end closes."""
    # Ctrl-C reaches the whole process group; the search process decides what happens to the running evaluation.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cloudpickle

    connection = Connection(fd)
    try:
        job = cloudpickle.loads(connection.recv_bytes())
        while True:
            message = connection.recv()
            if message is None:
                return
            task_id, genome, genome_hash, work = message
            outcome = job.run(genome, genome_hash, work)
            outcome["worker_rss_mb"] = rss_mb()
            connection.send((task_id, outcome))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the search process ended (killed, interrupted): nothing is left to report to


if __name__ == "__main__":
    main(int(sys.argv[1]))
