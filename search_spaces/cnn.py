"""The plain CNN space: 1-4 conv blocks and a dense head; the paper's Table-1 network is one point of it.

Genomes have a fixed length: the per-block genes (``filters_i``, ``kernel_i``, ``dropout_i``) of blocks beyond
``blocks`` are dormant. They are kept so that a later mutation of ``blocks`` can wake them, but :func:`expressed`
leaves them out, so genomes that differ only in dormant genes hash alike and are trained once.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

from nas.errors import ConfigError, InvalidGenomeError
from nas.space import Bool, Choice, Float, Int, LogFloat, SearchSpace, genome_hash

if TYPE_CHECKING:
    import keras

__all__ = ["MAX_BLOCKS", "GENES", "LINKAGE", "TABLE1", "DESIGNS", "SPACE", "space", "build", "repair", "expressed",
           "feature_map_size", "count_params", "count_flops"]

MAX_BLOCKS = 4
# Batch norm's moving statistics follow the batch statistics with this momentum (Keras' default is 0.99). A search
# scores genomes after an epoch or a few, a hundred steps or so, when 0.99's averages still hold the statistics of the
# network's first steps, and a batch-norm network looked no better than chance in inference mode. benchmarks/
# bn_momentum.py (modern.PLAIN4 cut to 3 stages, HAM10000 at 32 px, 2,000 images): validation balanced accuracy
# 0.1444 / 0.1759 after 1 / 3 epochs with 0.99, 0.3867 / 0.4515 with 0.9 (PyTorch's default). The modern space uses it.
BN_MOMENTUM = 0.9
BLOCK_GENES = ("filters", "kernel", "dropout")


def _block_genes(block: int) -> list:
    return [
        Choice(f"filters_{block}", [8, 16, 32, 64, 128, 256], ordered=True),
        Choice(f"kernel_{block}", [3, 5], ordered=True),
        Float(f"dropout_{block}", 0.0, 0.5, step=0.05),
    ]


GENES = [
    Int("blocks", 1, MAX_BLOCKS),
    *(gene for block in range(1, MAX_BLOCKS + 1) for gene in _block_genes(block)),
    Int("convs_per_block", 1, 3),
    Bool("batch_norm"),
    Choice("padding", ["valid", "same"]),
    Choice("pooling", ["max", "avg"]),
    Choice("head", ["flatten", "global_avg"]),
    Choice("dense_units", [32, 64, 128, 256, 512], ordered=True),
    Float("dense_dropout", 0.0, 0.6, step=0.05),
    LogFloat("learning_rate", 1e-4, 1e-2),
    Choice("optimizer", ["adam", "sgd", "rmsprop"]),
    Choice("batch_size", [16, 32, 64, 128], ordered=True),
]

# The paper's Table 1: 4,031,527 parameters at 100x100x3 with 7 classes. Blocks 3-4 are dormant; their values
# continue the filter doubling so that a mutation to more blocks starts from a sensible network.
TABLE1 = {
    "blocks": 2,
    "filters_1": 32, "kernel_1": 3, "dropout_1": 0.25,
    "filters_2": 64, "kernel_2": 3, "dropout_2": 0.25,
    "filters_3": 128, "kernel_3": 3, "dropout_3": 0.25,
    "filters_4": 256, "kernel_4": 3, "dropout_4": 0.25,
    "convs_per_block": 2, "batch_norm": False, "padding": "valid", "pooling": "max", "head": "flatten",
    "dense_units": 128, "dense_dropout": 0.5, "learning_rate": 1e-3, "optimizer": "adam", "batch_size": 32,
}

#: Named genomes of this space, for ``nas search --initial NAME`` (:func:`search_spaces.designs`).
DESIGNS = {"table1": TABLE1}


def _spatial(input_shape: Sequence[int]) -> tuple[int, int]:
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise ConfigError(f"input shape must be (height, width, channels) with positive sizes, "
                          f"got {tuple(input_shape)}")
    return int(input_shape[0]), int(input_shape[1])


def _side_after_blocks(side: int, genome: Mapping) -> int | None:
    """Size of one spatial side after the genome's active blocks, or None where a conv or pool would not fit."""
    valid = genome["padding"] == "valid"
    for block in range(1, genome["blocks"] + 1):
        kernel = genome[f"kernel_{block}"]
        for _ in range(genome["convs_per_block"]):
            if valid:
                if side < kernel:
                    return None
                side -= kernel - 1
        if side < 2:  # a 2x2 pool of a 1-pixel map has no output
            return None
        side //= 2
    return side


def feature_map_size(genome: Mapping, input_shape: Sequence[int]) -> int | None:
    """The smaller side of the last block's feature map at ``input_shape``, or None when the genome cannot be built."""
    sides = [_side_after_blocks(side, genome) for side in _spatial(input_shape)]
    return None if None in sides else min(sides)


def repair(genome: Mapping, input_shape: Sequence[int]) -> dict:
    """Make ``genome`` buildable at ``input_shape``: drop trailing blocks, and switch to "same" padding if even one
    "valid" block does not fit (then keeping as many of the original blocks as fit)."""
    genome = dict(genome)
    paddings = ["valid", "same"] if genome["padding"] == "valid" else ["same"]
    for padding in paddings:
        for blocks in range(genome["blocks"], 0, -1):
            candidate = {**genome, "blocks": blocks, "padding": padding}
            if feature_map_size(candidate, input_shape) is not None:
                return candidate
    height, width = _spatial(input_shape)
    raise InvalidGenomeError(f"input of {height}x{width} pixels is too small for space 'cnn': every block ends with a "
                             f"2x2 pooling, so images need at least 2x2 pixels; resize the images")


def _convs(genome: Mapping, input_shape: Sequence[int]) -> tuple[list[tuple[int, int, int, int, int]], tuple]:
    """The genome's convolutions as (kernel, input channels, filters, output height, output width), and the shape
    (height, width, channels) of the last block's pooled feature map."""
    if feature_map_size(genome, input_shape) is None:
        raise InvalidGenomeError(f"genome does not fit input shape {tuple(input_shape)}; repair it first")
    height, width = _spatial(input_shape)
    channels, convs = int(input_shape[2]), []
    shrink = genome["padding"] == "valid"
    for block in range(1, genome["blocks"] + 1):
        filters, kernel = genome[f"filters_{block}"], genome[f"kernel_{block}"]
        for _ in range(genome["convs_per_block"]):
            if shrink:
                height, width = height - kernel + 1, width - kernel + 1
            convs.append((kernel, channels, filters, height, width))
            channels = filters
        height, width = height // 2, width // 2
    return convs, (height, width, channels)


def count_params(genome: Mapping, input_shape: Sequence[int], num_classes: int) -> int:
    """The parameter count of the genome's model, computed without building it (for fast ``max_params`` checks)."""
    convs, (height, width, channels) = _convs(genome, input_shape)
    norm = 4 if genome["batch_norm"] else 0  # gamma, beta and the two moving statistics
    total = sum((kernel * kernel * inputs + 1 + norm) * filters for kernel, inputs, filters, _, _ in convs)
    features = height * width * channels if genome["head"] == "flatten" else channels
    units = genome["dense_units"]
    return total + features * units + units + units * num_classes + num_classes


def count_flops(genome: Mapping, input_shape: Sequence[int], num_classes: int) -> int:
    """FLOPs of one image's forward pass through the genome's model, computed without building it (for fast
    ``max_flops`` checks); the same count as :func:`nas.flops.model_flops` of the built model (a multiply-accumulate
    is 2 FLOPs; biases, batch norm, pooling and the input rescaling count too, activations and dropout do not)."""
    convs, (height, width, channels) = _convs(genome, input_shape)
    total = 2 * math.prod(_spatial(input_shape)) * int(input_shape[2])  # the input's rescaling: a multiply, an add
    for index, (kernel, inputs, filters, out_height, out_width) in enumerate(convs, start=1):
        outputs = out_height * out_width * filters
        total += (2 * kernel * kernel * inputs + 1) * outputs + (2 * outputs if genome["batch_norm"] else 0)
        if index % genome["convs_per_block"] == 0:  # the block's 2x2 pooling: 4 operands per output
            total += 4 * (out_height // 2) * (out_width // 2) * filters
    if genome["head"] == "flatten":
        features = height * width * channels
    else:
        features = channels
        total += height * width * channels  # global average pooling: one add per input element
    units = genome["dense_units"]
    return total + (2 * features + 1) * units + (2 * units + 1) * num_classes


def expressed(genome: Mapping) -> dict:
    """``genome`` without the per-block genes of blocks beyond ``blocks``."""
    dormant = {f"{gene}_{block}" for gene in BLOCK_GENES for block in range(genome["blocks"] + 1, MAX_BLOCKS + 1)}
    return {name: value for name, value in genome.items() if name not in dormant}


def build(genome: Mapping, input_shape: Sequence[int], num_classes: int) -> "keras.Model":
    """An uncompiled Keras model of ``genome`` (repair it for ``input_shape`` first)."""
    SPACE.check(genome)
    if feature_map_size(genome, input_shape) is None:
        raise InvalidGenomeError(f"genome does not fit input shape {tuple(input_shape)}: a conv or pooling would "
                                 f"shrink the feature map below 1x1; call SPACE.repair(genome, input_shape) first")
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    pool = layers.MaxPooling2D if genome["pooling"] == "max" else layers.AveragePooling2D
    # Images arrive in [0, 1] with a bright skin background; centring them on 0 lets short trainings learn (measured on
    # synthetic_lesions: 0.24 -> 0.47 validation accuracy after 3 epochs of a small CNN). No parameters, so Table 1's
    # count is unchanged, and an exported model still takes [0, 1] images.
    x = layers.Rescaling(2.0, offset=-1.0, name="centre")(inputs)
    for block in range(1, genome["blocks"] + 1):
        for conv in range(1, genome["convs_per_block"] + 1):
            x = layers.Conv2D(genome[f"filters_{block}"], genome[f"kernel_{block}"], padding=genome["padding"],
                              activation="relu", name=f"block{block}_conv{conv}")(x)
            if genome["batch_norm"]:
                x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{block}_bn{conv}")(x)
        x = pool(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(genome[f"dropout_{block}"], name=f"block{block}_dropout")(x)
    if genome["head"] == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="global_avg")(x)
    x = layers.Dense(genome["dense_units"], activation="relu", name="dense")(x)
    x = layers.Dropout(genome["dense_dropout"], name="dense_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"cnn_{genome_hash(expressed(genome))}")


#: Genes a linked crossover passes on together: each block's own genes, the head, and the training settings (an
#: optimizer's good learning rates differ: SGD's are not Adam's).
LINKAGE = [*([f"{gene}_{block}" for gene in BLOCK_GENES] for block in range(1, MAX_BLOCKS + 1)),
           ["head", "dense_units", "dense_dropout"], ["optimizer", "learning_rate", "batch_size"]]

SPACE = SearchSpace("cnn", GENES, build=build, repair=repair, expressed=expressed, count_params=count_params,
                    count_flops=count_flops, linkage=LINKAGE,
                    description="1-4 conv blocks (conv x convs_per_block, 2x2 pool, dropout) and a dense head")


def space() -> SearchSpace:
    """The CNN space (it takes no options)."""
    return SPACE
