"""Shared fixtures: tiny real data, a generated HAM10000 folder (and the real one where NAS_HAM10000 names it) and a
tiny, fast search space for engine tests."""
from __future__ import annotations

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import nas


@pytest.fixture(scope="session")
def tiny_data():
    """Real synthetic lesions at 16 px: 20 images per class."""
    return nas.data.synthetic_lesions(n=140, image_size=16, seed=0)


@pytest.fixture(scope="session")
def generated_ham(tmp_path_factory):
    """A small generated folder in the official HAM10000 layout (see tests/_ham_fixture.py), as a HamSource."""
    from _ham_fixture import generated_source

    return generated_source(tmp_path_factory.mktemp("ham10000"))


@pytest.fixture(scope="session")
def real_ham():
    """The real HAM10000 copy named by NAS_HAM10000, as a HamSource: skipped when the variable is unset, failed when
    it names no HAM10000 folder."""
    from _ham_fixture import real_source

    return real_source()


def _build_dense(genome, input_shape, num_classes):
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(genome["units"], activation=genome["activation"])(x)
    if genome.get("mode") == "die":  # the process training this genome is killed, as the kernel's OOM killer would
        os.kill(os.getpid(), signal.SIGKILL)
    if genome.get("mode") == "raise":
        raise RuntimeError("this genome is built to fail")
    if genome.get("mode") == "oom":  # what TensorFlow raises when a tensor does not fit is caught the same way
        raise MemoryError("this genome does not fit in memory")
    if genome.get("mode") == "nan":
        x = keras.layers.Lambda(lambda t: t * float("nan"))(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def dense_space(modes=("ok",), units=(4, 8, 16, 32, 64)):
    """A one-hidden-layer space that trains in well under a second; ``modes`` can add failing genomes."""
    return nas.SearchSpace("dense", [
        nas.Choice("units", list(units), ordered=True),
        nas.Choice("activation", ["relu", "tanh", "sigmoid"]),
        nas.LogFloat("learning_rate", 1e-3, 3e-2),
        nas.Choice("mode", list(modes)),
    ], build=_build_dense)


def scripted_fitness(genome, *, space, data, budget, seed, genome_hash=None, marker_dir=None, sleep=0.0, **work):
    """A fitness for executor tests, chosen by the genome's ``mode``: ``ok`` scores like :func:`nas.training.simulate`
    after sleeping ``sleep`` seconds; ``raise`` raises; ``hang`` sleeps for a minute; ``die`` SIGKILLs its process;
    ``die_once`` SIGKILLs its process the first time a genome is tried (a marker file in ``marker_dir`` remembers);
    ``die_promoted`` the first time a multi-fidelity promotion continues it. ``work`` (epochs, training state) goes
    to ``simulate``."""
    import time

    from nas.training import simulate

    mode = genome.get("mode", "ok")
    if mode == "raise":
        raise RuntimeError("this fitness is scripted to fail")
    if mode == "hang":
        time.sleep(60)
    promoted = work.get("initial_epoch", 0) > 0 and mode == "die_promoted"
    if (mode == "die" or mode == "die_once" and not _first_try_done(marker_dir, genome_hash)
            or promoted and not _first_try_done(marker_dir, f"{genome_hash}-{work['epochs']}")):
        os.kill(os.getpid(), signal.SIGKILL)
    return simulate(genome, space=space, data=data, budget=budget, seed=seed, genome_hash=genome_hash, seconds=sleep,
                    **work)


def _first_try_done(marker_dir, genome_hash) -> bool:
    marker = os.path.join(marker_dir, genome_hash)
    if os.path.exists(marker):
        return True
    open(marker, "w").close()
    return False


def chromium_or_skip(binary: str) -> str:
    """``binary`` when it is an executable Chromium; else the test is skipped, or fails under CI=true (where `make
    test` installs Chromium, so its absence is a fault)."""
    if not os.access(binary, os.X_OK):
        message = (f"{binary} is missing: install Debian's chromium (apt-get install chromium, as `make test` does "
                   f"when run as root) or set NAS_CHROMIUM to a Chromium binary")
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI={os.environ['CI']}: {message}", pytrace=False)
        pytest.skip(message)
    return binary
