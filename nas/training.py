"""Fitness: train one genome for a short budget and score it on the validation split.

:func:`evaluate` runs wherever an executor puts it (in the calling process or in a Ray worker). It never raises for a
problem of the genome or of training: it returns a ``failed`` outcome with the error, so that the search goes on.
"""
from __future__ import annotations

import hashlib
import math
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .clock import now
from .errors import ConfigError, from_fields
from .flops import model_flops

if TYPE_CHECKING:
    import keras

    from .data import Dataset
    from .space import SearchSpace

#: Metrics every successful evaluation reports; objectives are chosen among them.
METRICS = ("val_accuracy", "val_balanced_accuracy", "val_loss", "params", "flops", "train_seconds")


@dataclass(frozen=True)
class Budget:
    """What one fitness evaluation may spend.

    Args:
        epochs: training epochs per evaluation.
        max_train_samples: train on at most this many images (the same seeded subset for every genome), None for all.
        max_val_samples: score on at most this many validation images, None for all.
        max_params: genomes whose model has more parameters are repaired or rejected before training.
        max_flops: genomes whose model needs more FLOPs for one image's forward pass (as :func:`nas.flops.model_flops`
            counts them: a multiply-accumulate is 2) are repaired or rejected before training. Parameters do not
            bound compute: a small conv net on large feature maps can be cheap in parameters and slow to train.
        max_epoch_seconds: stop an evaluation early, as failed, when its first epoch, projected from the time of its
            first batches, would take longer than this (:mod:`nas.epochtime`); the first epoch on each larger image
            count of ``samples_from_epoch`` is held to this limit scaled by its images (a limit per epoch, unscaled,
            failed 10 of the 13 promotions to the top rung of a HAM10000 search, the search's best genomes among
            them, and kept only the fastest). Unlike ``max_params`` and
            ``max_flops`` it bounds what training costs on this machine, and like any measured time it depends on the
            machine and its load: a search with it repeats only on the same machine under the same load. A
            re-evaluation replicate (``replicate`` > 0) is not limited: its genome already trained at that rung within
            the limit, and a replicate failed by the machine's load would drop a seed from its mean.
        class_weighted: weight the loss by inverse class frequency (for imbalanced data such as HAM10000); None (the
            default) does what the data asks for (``Dataset.class_weighted``: True for HAM10000), and is False with
            ``oversample``. ``nas.evolve`` records the resolved value in ``config.json``.
        oversample: draw every epoch's training images class-balanced (the rare classes repeated; see
            :class:`nas.epochs.EpochBatches`) instead of weighting the loss, so the search trains each genome the way
            the default retrain recipe (``nas.Recipe()``) trains the winner. Contradicts ``class_weighted=True``.
        samples_from_epoch: pairs ``(epoch, samples)``: from that epoch on (counting from 1) train on ``samples``
            images (None for all; the same seeded subset grown, so it holds the smaller ones) instead of
            ``max_train_samples``. A multi-fidelity search thus ranks genomes cheaply on few images at its low rungs
            and on many at its high ones, where a small subset would favour small networks that stop improving early
            (``Fidelity.samples_from_epoch`` gives the pairs for its rungs). Each epoch's images depend on the epoch
            alone, so a continued training is still the uninterrupted one.
        deterministic: make TensorFlow use deterministic kernels (``enable_op_determinism``): slower on GPUs, where
            several kernels (cuDNN convolution algorithms, atomic reductions) otherwise vary from run to run. On one
            CPU machine and install training is already repeatable without it; another machine or install may
            train the same genome to other figures (measured in docs/search.md), so compare on one.
        seeding: where each genome's training seed (weight initialisation, image order, dropout) comes from. "run"
            (the default): from the run seed alone, the same for every genome (common random numbers), so that two
            genomes are compared under the same luck and a one-gene mutation cannot re-roll a lucky seed. "genome":
            from (run seed, genome), as nas did before 0.2; a budget recorded without this field reads as "genome".
    """

    epochs: int = 1
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    max_params: int | None = None
    max_flops: int | None = None
    max_epoch_seconds: float | None = None
    class_weighted: bool | None = None
    oversample: bool = False
    samples_from_epoch: tuple[tuple[int, int | None], ...] = ()
    deterministic: bool = False
    seeding: str = "run"

    def __post_init__(self) -> None:
        if self.seeding not in SEEDINGS:
            raise ConfigError(f"Budget.seeding must be one of {', '.join(SEEDINGS)}, got {self.seeding!r}")
        for name in ("epochs", "max_train_samples", "max_val_samples", "max_params", "max_flops"):
            value = getattr(self, name)
            if value is None and name != "epochs":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Budget.{name} must be a positive integer{' or None' if name != 'epochs' else ''},"
                                  f" got {value!r}")
        if not isinstance(self.oversample, bool):
            raise ConfigError(f"Budget.oversample must be True or False, got {self.oversample!r}")
        if self.oversample and self.class_weighted:
            raise ConfigError("Budget.oversample=True and class_weighted=True both balance the classes; give one "
                              "(oversampling draws the rare classes more often, class weights weight their loss)")
        object.__setattr__(self, "samples_from_epoch", _schedule(self.samples_from_epoch))
        limit = self.max_epoch_seconds
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0):
            raise ConfigError(f"Budget.max_epoch_seconds must be a number of seconds above 0 or None, got {limit!r}")

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    def train_samples(self, epoch: int) -> int | None:
        """How many training images epoch ``epoch`` (counting from 0, as Keras does) trains on; None for all."""
        limit = self.max_train_samples
        for first, samples in self.samples_from_epoch:
            if epoch + 1 >= first:
                limit = samples
        return limit

    def for_data(self, data: "Dataset") -> "Budget":
        """This budget with ``class_weighted`` resolved from ``data`` where it was left to the data (None)."""
        if self.class_weighted is not None:
            return self
        return replace(self, class_weighted=bool(data.class_weighted) and not self.oversample)

    @classmethod
    def from_dict(cls, values: Mapping) -> "Budget":
        """The budget :meth:`to_dict` wrote (one written before ``seeding`` existed trained with a seed per genome);
        unknown keys raise :class:`ConfigError`."""
        return from_fields(cls, {"seeding": "genome", **values})


def _schedule(pairs: Any) -> tuple[tuple[int, int | None], ...]:
    """``Budget.samples_from_epoch`` checked and as tuples (a budget read from JSON has lists)."""
    try:
        schedule = tuple((first, samples) for first, samples in pairs)
    except (TypeError, ValueError):
        raise ConfigError(f"Budget.samples_from_epoch must be pairs (epoch, samples), got {pairs!r}") from None
    previous = 1
    for first, samples in schedule:
        if isinstance(first, bool) or not isinstance(first, int) or first <= previous:
            raise ConfigError(f"Budget.samples_from_epoch: epochs must be integers above 1, increasing, got {first!r} "
                              f"in {pairs!r} (epoch 1 trains on max_train_samples)")
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
            raise ConfigError(f"Budget.samples_from_epoch: samples must be a positive integer or None (all), got "
                              f"{samples!r} in {pairs!r}")
        previous = first
    return schedule


#: Where a genome's training seed comes from: see :class:`Budget` ``seeding``.
SEEDINGS = ("run", "genome")


def training_seed(run_seed: int, genome_hash: str, seeding: str = "genome", replicate: int = 0) -> int:
    """The seed one genome trains with, fixed by the run seed and (``seeding="genome"``) the genome, so a score does
    not depend on evaluation order. ``replicate`` > 0 gives the other seeds of a re-evaluation."""
    key = f"{run_seed}:{genome_hash}" if seeding == "genome" else f"{run_seed}:common"
    digest = hashlib.sha256((key + (f":{replicate}" if replicate else "")).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def subset(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """Indices of a seeded subset of ``limit`` out of ``n`` items (None when all are used)."""
    if limit is None or limit >= n:
        return None
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true``."""
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def _where() -> dict:
    return {"node": socket.gethostname(), "worker": f"pid-{os.getpid()}"}


def predict(model: "keras.Model", x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities by direct calls in batches: for one-off scoring this skips tracing ``model.predict``."""
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False), dtype=np.float64)
                           for i in range(0, len(x), batch_size)])


class NaNLossError(Exception):
    """Training diverged: the loss or the predictions became NaN or infinite."""


def build(genome: Mapping, *, space: "SearchSpace", data: "Dataset", budget: Budget, seed: int,
          genome_hash: str | None = None, info: dict | None = None, replicate: int = 0) -> "keras.Model":
    """The compiled, untrained model an evaluation of ``genome`` starts from: Keras seeded by the training seed
    (:func:`training_seed`), the model built and checked against ``budget.max_params`` and ``budget.max_flops``.
    ``info`` (if given) receives ``params`` and ``flops``."""
    import keras

    info = {} if info is None else info
    if budget.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(training_seed(seed, genome_hash or space.hash(genome), budget.seeding, replicate))
    model = space.build(genome, data.input_shape, data.num_classes)
    info["params"] = params = int(model.count_params())
    if budget.max_params is not None and params > budget.max_params:
        raise ConfigError(f"model has {params:,} parameters, more than Budget.max_params={budget.max_params:,}")
    info["flops"] = flops = model_flops(model)
    if budget.max_flops is not None and flops > budget.max_flops:
        raise ConfigError(f"model needs {flops:,} FLOPs per image, more than Budget.max_flops={budget.max_flops:,}")
    space.compile(model, genome)
    return model


def fit(model: "keras.Model", genome: Mapping, *, data: "Dataset", budget: Budget, seed: int,
        epochs: int | None = None, initial_epoch: int = 0, callbacks: Sequence = (),
        info: dict | None = None, order_seed: int | None = None) -> None:
    """Train ``model`` from epoch ``initial_epoch`` up to ``epochs`` (default ``budget.epochs``) as an evaluation
    does: the seeded training subset (of each epoch's size, ``Budget.train_samples``), the genome's batch size,
    class weights or oversampling where the budget asks for them.

    Epoch ``e`` visits the images in an order seeded by (``order_seed``, default ``seed``; ``e``), so training that
    stops after an epoch and continues from a :func:`nas.epochs.snapshot` gives the model an uninterrupted training
    gives. ``callbacks`` run after Keras's NaN guard. ``info`` (if given) receives train_seconds, epochs (trained in
    this call), train_samples and train_loss, also when training fails. Raises :class:`NaNLossError` when it
    diverges, :class:`nas.epochtime.TooSlowError` when an epoch would last longer than ``budget.max_epoch_seconds``.
    """
    import keras

    from .epochs import EpochBatches
    from .epochtime import EpochTimeLimit, TooSlowError

    info = {} if info is None else info
    stop = budget.epochs if epochs is None else epochs
    class_weight = data.class_weights() if budget.for_data(data).class_weighted else None
    losses: list[float] = []
    samples, clock = 0, time.perf_counter()
    for first, last, limit in _segments(budget, initial_epoch, stop):
        picked = subset(len(data.x_train), limit, seed)
        x_train, y_train = (data.x_train, data.y_train) if picked is None else (data.x_train[picked],
                                                                                 data.y_train[picked])
        samples = int(len(x_train))
        batches = EpochBatches(x_train, y_train, int(genome.get("batch_size", 32)),
                               seed if order_seed is None else order_seed, first, balanced=budget.oversample)
        guards = [keras.callbacks.TerminateOnNaN()]
        if budget.max_epoch_seconds is not None:  # for an epoch of the first epoch's images, scaled to this one's
            base = min(len(data.x_train), budget.train_samples(0) or len(data.x_train))
            scaled = (f"Budget.max_epoch_seconds for {base} images scaled to {samples}: " if samples != base else "")
            guards.append(EpochTimeLimit(budget.max_epoch_seconds * samples / base, len(batches), scaled=scaled))
        try:
            history = model.fit(batches, epochs=last, initial_epoch=first, class_weight=class_weight, shuffle=False,
                                verbose=0, callbacks=[*guards, *callbacks])
        except TooSlowError:
            info.update(train_seconds=round(time.perf_counter() - clock, 3), epochs=len(losses),
                        train_samples=samples, train_loss=float(losses[-1]) if losses else None)
            raise
        trained = history.history.get("loss", [])
        losses += trained
        if len(trained) < last - first or not all(math.isfinite(v) for v in trained):
            break
    info.update(train_seconds=round(time.perf_counter() - clock, 3), epochs=len(losses), train_samples=samples,
                train_loss=float(losses[-1]) if losses else None)
    if not losses or not all(math.isfinite(v) for v in losses):
        raise NaNLossError(f"training loss became NaN or infinite at epoch {initial_epoch + len(losses)} (learning "
                           f"rate {genome.get('learning_rate', 'default')} too high?)")


def _segments(budget: Budget, start: int, stop: int) -> list[tuple[int, int, int | None]]:
    """Epochs ``start`` to ``stop`` (Keras's ``initial_epoch`` and ``epochs``) cut into runs ``(first, last,
    samples)`` that train on the same number of images."""
    runs: list[tuple[int, int, int | None]] = []
    for epoch in range(start, stop):
        limit = budget.train_samples(epoch)
        if runs and runs[-1][2] == limit:
            runs[-1] = (runs[-1][0], epoch + 1, limit)
        else:
            runs.append((epoch, epoch + 1, limit))
    return runs


def train(genome: Mapping, *, space: "SearchSpace", data: "Dataset", budget: Budget, seed: int,
          genome_hash: str | None = None, info: dict | None = None, epochs: int | None = None,
          replicate: int = 0) -> "keras.Model":
    """Build, compile and train ``genome`` exactly as one evaluation of a search with this ``seed`` does (for
    ``epochs``, default ``budget.epochs``: a multi-fidelity search records the epochs of each evaluation).

    On the same machine this gives back the very model the search scored. Returns the trained ``keras.Model``;
    ``info`` (if given) receives params, flops, train_seconds, epochs, train_samples and train_loss, also when
    training fails part-way. Raises on any failure.
    """
    info = {} if info is None else info
    genome = dict(genome)
    genome_hash = genome_hash or space.hash(genome)
    model = build(genome, space=space, data=data, budget=budget, seed=seed, genome_hash=genome_hash, info=info,
                  replicate=replicate)
    fit(model, genome, data=data, budget=budget, seed=seed, epochs=epochs, info=info,
        order_seed=training_seed(seed, genome_hash, budget.seeding, replicate))
    return model


def score(model: "keras.Model", data: "Dataset", budget: Budget, seed: int) -> dict:
    """Validation metrics of a trained model: val_accuracy, val_balanced_accuracy, val_loss."""
    picked = subset(len(data.x_val), budget.max_val_samples, seed)
    x_val, y_val = (data.x_val, data.y_val) if picked is None else (data.x_val[picked], data.y_val[picked])
    probabilities = predict(model, x_val)
    if not np.all(np.isfinite(probabilities)):
        raise NaNLossError("the model predicts NaN on the validation split")
    predicted = probabilities.argmax(axis=1)
    picked_probability = np.clip(probabilities[np.arange(len(y_val)), y_val], 1e-7, 1.0)
    return {"val_accuracy": float(np.mean(predicted == y_val)),
            "val_balanced_accuracy": balanced_accuracy(y_val, predicted),
            "val_loss": float(-np.mean(np.log(picked_probability)))}


def train_metrics(logs: Mapping | None) -> dict[str, float]:
    """The training metrics Keras logged for one epoch (``loss``, ``accuracy`` and the other compiled metrics), as
    floats; ``val_`` entries are left to :func:`score`."""
    return {name: float(value) for name, value in (logs or {}).items() if not name.startswith("val_")}


def validation_metrics(entry: Mapping) -> dict:
    """The validation metrics of one ``curve`` entry (what an outcome's ``metrics`` takes from its last epoch)."""
    return {name: value for name, value in entry.items() if name.startswith("val_")}


def _continue(genome: dict, *, space: "SearchSpace", data: "Dataset", budget: Budget, seed: int, genome_hash: str,
              info: dict, epochs: int | None, initial_epoch: int, state: bytes | None, replicate: int,
              curve: list, inherit: bytes | None = None) -> tuple["keras.Model", int | None]:
    """Build the genome's model (with the training ``state`` of its first ``initial_epoch`` epochs put back, or the
    parent's weights ``inherit`` copied in where layers match) and train it on to ``epochs``, appending each
    epoch's validation and training metrics to ``curve``. Returns the model and the number of layers inherited
    (None without ``inherit``)."""
    import keras

    from .epochs import inherit as inherit_weights, restore

    model = build(genome, space=space, data=data, budget=budget, seed=seed, genome_hash=genome_hash, info=info,
                  replicate=replicate)
    inherited = inherit_weights(model, inherit) if inherit is not None else None
    if initial_epoch:
        if state is None:
            raise ConfigError(f"initial_epoch={initial_epoch} needs the training state saved after that epoch")
        restore(model, state)
    scorer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: curve.append(
        {"epoch": epoch + 1, **score(model, data, budget, seed), **train_metrics(logs)}))
    fit(model, genome, data=data, budget=budget, seed=seed, epochs=epochs, initial_epoch=initial_epoch,
        callbacks=[scorer], info=info, order_seed=training_seed(seed, genome_hash, budget.seeding, replicate))
    return model, inherited


def evaluate(genome: Mapping, *, space: "SearchSpace", data: "Dataset", budget: Budget, seed: int,
             genome_hash: str | None = None, epochs: int | None = None, initial_epoch: int = 0,
             state: bytes | None = None, keep_state: bool = False, replicate: int = 0, inherit: bytes | None = None,
             keep_weights: bool = False) -> dict:
    """Train ``genome`` within ``budget`` and score it on ``data``'s validation split after every epoch; never raises.

    A multi-fidelity search trains to ``epochs`` (default ``budget.epochs``), continuing from epoch
    ``initial_epoch`` with the training ``state`` an earlier evaluation returned; ``keep_state`` returns the state
    after the last epoch (:func:`nas.epochs.snapshot` bytes) as ``state``. ``replicate`` > 0 trains with another
    seed (re-evaluation), without ``budget.max_epoch_seconds``. ``inherit`` (a parent's
    :func:`nas.epochs.layer_weights` bytes) starts every layer whose name and weight shapes match from the parent's
    weights (the outcome's ``inherited_layers`` counts them);
    ``keep_weights`` returns the trained model's :func:`~nas.epochs.layer_weights` as ``weights``. Returns an
    outcome dict: ``status`` ("ok" or "failed"), ``metrics`` (see
    :data:`METRICS`, plus ``epochs``, ``train_samples`` and ``train_loss``; the scores are the last epoch's),
    ``curve`` (after each epoch trained here: ``epoch``, the validation metrics and the training metrics Keras
    logged, such as ``loss`` and ``accuracy``), ``error`` (one line or None), ``traceback``
    (failed only), ``started``, ``finished``, ``seconds``, ``node``, ``worker``.
    """
    import keras

    from .epochs import layer_weights, snapshot

    started, clock = now(), time.perf_counter()
    if replicate:  # see Budget.max_epoch_seconds: the genome passed the limit at this rung already
        budget = replace(budget, max_epoch_seconds=None)
    metrics: dict[str, Any] = {}
    curve: list[dict] = []
    outcome: dict[str, Any] = {"status": "ok", "metrics": metrics, "curve": curve, "error": None, "started": started,
                               **_where()}
    model = None
    try:
        model, inherited = _continue(dict(genome), space=space, data=data, budget=budget, seed=seed,
                                     genome_hash=genome_hash or space.hash(genome), info=metrics, epochs=epochs,
                                     initial_epoch=initial_epoch, state=state, replicate=replicate, curve=curve,
                                     inherit=inherit)
        metrics.update(validation_metrics(curve[-1]))
        if inherited is not None:
            outcome["inherited_layers"] = inherited
        if keep_state:
            outcome["state"] = snapshot(model)
        if keep_weights:
            outcome["weights"] = layer_weights(model)
    except Exception as error:  # noqa: BLE001 - any failure of one genome must not stop the search
        outcome["status"] = "failed"
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        outcome["error"] = message if isinstance(error, NaNLossError) else f"{type(error).__name__}: {message}"[:500]
        outcome["traceback"] = "".join(traceback.format_exception(error))[-4000:]
    finally:
        del model
        keras.backend.clear_session()  # frees the graph and runs the garbage collector
    outcome["finished"] = now()
    outcome["seconds"] = round(time.perf_counter() - clock, 3)
    return outcome


def _simulated(seed: int, genome_hash: str, salt: str) -> float:
    digest = hashlib.sha256(f"simulated:{seed}:{genome_hash}{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2 ** 32


def simulate(genome: Mapping, *, space: "SearchSpace", data: "Dataset", budget: Budget, seed: int,
             genome_hash: str | None = None, seconds: float = 0.0, epochs: int | None = None,
             initial_epoch: int = 0, state: bytes | None = None, keep_state: bool = False,
             replicate: int = 0, inherit: bytes | None = None, keep_weights: bool = False) -> dict:
    """A stand-in for :func:`evaluate` that trains nothing, for exercising the search machinery (executors, resume,
    multi-fidelity, benchmarks) in milliseconds, after sleeping ``seconds``. Use it with
    ``executor=nas.InlineExecutor(evaluate=nas.training.simulate)``.

    Each genome has a quality ``q`` in [0, 1) drawn from (seed, genome hash); after ``e`` epochs it scores
    ``q ** (1 / e)`` (so ``q`` after one epoch, and the ranking of genomes is the same at every epoch; its curve's
    training accuracy is that score to the power 0.8, a little above it, and its training loss one minus that),
    plus, for ``replicate`` > 0, noise of up to +-0.02 drawn from the replicate (clipped to [0, 1]). A continued
    evaluation (``initial_epoch`` > 0) needs the ``state`` bytes an earlier one returned with ``keep_state``.
    Weight inheritance is not simulated: ``inherit`` changes no score (``inherited_layers`` is 0) and
    ``keep_weights`` returns stand-in ``weights`` bytes.
    """
    started, clock = now(), time.perf_counter()
    if seconds:
        time.sleep(seconds)
    genome_hash = genome_hash or space.hash(genome)
    target = budget.epochs if epochs is None else epochs
    if initial_epoch and state != f"simulated:{genome_hash}:{initial_epoch}".encode():
        return {"status": "failed", "error": f"no training state of {genome_hash} after epoch {initial_epoch}",
                "metrics": {}, "started": started, "finished": now(), "seconds": 0.0, **_where()}
    quality = _simulated(seed, genome_hash, "")
    noise = 0.04 * (_simulated(seed, genome_hash, f":{replicate}") - 0.5) if replicate else 0.0
    scores = {e: min(1.0, max(0.0, quality ** (1 / e) + noise)) for e in range(initial_epoch + 1, target + 1)}
    curve = [{"epoch": e, "val_accuracy": s, "val_balanced_accuracy": s, "val_loss": 1.0 - s, "loss": 1.0 - s ** 0.8,
              "accuracy": s ** 0.8} for e, s in scores.items()]
    digest = hashlib.sha256(f"simulated:{seed}:{genome_hash}".encode()).digest()
    outcome = {"status": "ok", "error": None, "started": started, "finished": now(),
               "seconds": round(time.perf_counter() - clock, 3), **_where(), "curve": curve,
               "metrics": {**validation_metrics(curve[-1]), "epochs": len(curve),
                           "params": int.from_bytes(digest[4:8], "little") % 1_000_000,
                           "flops": int.from_bytes(digest[8:12], "little") % 100_000_000, "train_seconds": seconds}}
    if keep_state:
        outcome["state"] = f"simulated:{genome_hash}:{target}".encode()
    if inherit is not None:
        outcome["inherited_layers"] = 0
    if keep_weights:
        outcome["weights"] = f"simulated-weights:{genome_hash}".encode()
    return outcome
