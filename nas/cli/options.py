"""Option types, option groups and exit codes shared by the ``nas`` sub-commands.

Importing it imports no TensorFlow: the executors are imported when :func:`executor` is called.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM

RAY_OPTIONS = ("ray_address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "trial_timeout")


def positive_int(text: str) -> int:
    """An argparse type: ``text`` as an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def sample_counts(text: str) -> tuple[int | None, ...]:
    """An argparse type: comma-separated image counts, ``all`` for every image (``4000,all``)."""
    return tuple(None if part.strip().lower() == "all" else positive_int(part.strip()) for part in text.split(","))


def duration(text: str) -> float:
    """An argparse type: a time limit in seconds, or with a unit: ``90``, ``90s``, ``30m``, ``1.5h``."""
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:].lower(), None)
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a time limit such as 90, 90s, 30m or 1.5h, got {text!r}")
    return seconds


def positive_float(text: str) -> float:
    """An argparse type: ``text`` as a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_executor_options(parser: argparse.ArgumentParser, default: str | None = "local") -> None:
    """Add ``--executor`` and the Ray option group; ``default`` None means the executor the run was started with."""
    default_help = "default: one worker process" if default else "default: the executor the run was started with"
    parser.add_argument("--executor", choices=("local", "inline", "ray"), default=default,
                        help=f"local (one worker process), inline (this process) or ray (parallel, on this machine "
                             f"or a cluster); {default_help}")
    ray = parser.add_argument_group("Ray (with --executor ray)")
    ray.add_argument("--ray-address", default=None, metavar="ADDRESS",
                     help="auto (the cluster this machine joined with `ray start`), HOST:PORT or ray://HOST:10001; "
                          "default: start a local Ray instance")
    ray.add_argument("--cpus-per-trial", type=positive_float, default=None, help="CPUs per trial (default 1)")
    ray.add_argument("--gpus-per-trial", type=float, default=None,
                     help="GPUs per trial; fractions such as 0.5 pack several trainings on one GPU (default 0)")
    ray.add_argument("--max-concurrent", type=positive_int, default=None,
                     help="trials at once (default: as many as the cluster's resources allow)")
    ray.add_argument("--trial-timeout", type=positive_float, default=None, metavar="SECONDS",
                     help="cancel a trial running longer than this and record it failed")
    ray.add_argument("--reuse-workers", action=argparse.BooleanOptionalAction, default=None,
                     help="reuse a worker process for up to 10 trials, clearing the Keras session between them "
                          "(default); --no-reuse-workers starts a fresh process for every trial")


def ray_options_given(args: argparse.Namespace) -> list[str]:
    """The Ray options given on the command line, as the user spelled them (``--ray-address``, ...)."""
    given = [f"--{name.replace('_', '-')}" for name in RAY_OPTIONS if getattr(args, name) is not None]
    if args.reuse_workers is not None:
        given.append("--[no-]reuse-workers")
    return given


def executor(args: argparse.Namespace, evaluate: Callable[..., Any] | None = None) -> Any:
    """The executor the command line asks for; ``evaluate`` replaces the fitness (simulated or recorded runs)."""
    from ..errors import ConfigError
    from ..executors import resolve

    if args.executor != "ray":
        given = ray_options_given(args)
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --executor ray")
        return resolve(args.executor, evaluate)
    from ..executors import RayExecutor

    options = {name: getattr(args, name) for name in (*RAY_OPTIONS[1:], "reuse_workers")
               if getattr(args, name) is not None}
    return RayExecutor(address=args.ray_address, evaluate=evaluate, **options)
