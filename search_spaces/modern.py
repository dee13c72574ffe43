"""The modern space: a stem, 1-5 stages of plain, residual or (inverted) depthwise-separable blocks, a global head.

Where the ``cnn`` space stacks convolutions, pools and a large dense layer, this space is made of the parts that small
image classifiers are built from today: batch norm, ResNet's basic residual block, MobileNet's depthwise-separable
and inverted-residual blocks, squeeze-and-excitation and a global-pooling head. The genome stays small because depth
and width are stage-wise: a stage count, one number of blocks per stage and a base width that doubles per stage.

The network, all convolutions "same"-padded (BN: batch norm, present where ``batch_norm``; a convolution followed
by batch norm has no bias):

* ``centre``: [0, 1] images to [-1, 1], as in the ``cnn`` space;
* stem: one ``stem_kernel`` convolution of ``stem_filters`` with stride ``stem_stride``, BN, ReLU;
* ``stages`` stages of ``blocks_per_stage`` blocks of type ``block``; stage ``s`` has ``width * 2**(s - 1)`` filters,
  at most :data:`MAX_FILTERS`; every stage after the first starts by halving the feature map (rounding up), with a
  stride-2 first block or a 2x2 max pooling (``downsample``);
* blocks, with kernel ``kernel``: ``plain`` conv-BN-ReLU twice; ``residual`` ResNet's basic block (conv-BN-ReLU,
  conv-BN, plus the shortcut, ReLU) with a 1x1 conv-BN projection as shortcut when the shape changes;
  ``separable`` MobileNet's depthwise conv-BN-ReLU and pointwise 1x1 conv-BN-ReLU; ``inverted`` MobileNetV2's
  1x1 expansion to ``expansion`` times the channels-BN-ReLU, depthwise conv-BN-ReLU, linear 1x1 projection-BN, plus
  the input when the shape is unchanged;
* ``se``: a squeeze-and-excitation gate on each block's output, before the shortcut is added (global average,
  dense of channels / ``se_ratio`` units with ReLU, dense with sigmoid, multiply);
* head: global average pooling (``global_pool="avg+max"`` concatenates global max pooling), dropout ``dropout``,
  an optional ReLU dense layer of ``dense_units`` (0: none) with dropout ``dense_dropout``, softmax.

Dormant genes, which :func:`expressed` leaves out so that they do not change the hash: ``se_ratio`` without ``se``,
``expansion`` unless ``block`` is "inverted", ``dense_dropout`` without a dense layer and ``downsample`` with a single
stage. :func:`repair` fits a genome to small images by dropping trailing stages (then the stem's stride) whose
downsampling would act on a 1-pixel feature map.

:data:`PLAIN4` is the well-known plain design as a point of the space; seed a search with it:
``nas.evolve("modern", data, initial=[search_spaces.modern.PLAIN4])``. :data:`DESIGNS` names it for ``nas search
--initial``, with ``plain4-stride2`` (the same with a stride-2 stem, a quarter of the FLOPs), the design seeded in the
HAM10000 searches of docs/ham10000.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from nas.errors import InvalidGenomeError
from nas.space import Bool, Choice, Float, Int, LogFloat, SearchSpace, genome_hash
from search_spaces.cnn import BN_MOMENTUM, _spatial

if TYPE_CHECKING:
    import keras

__all__ = ["MAX_STAGES", "MAX_FILTERS", "BLOCK_TYPES", "GENES", "LINKAGE", "PLAIN4", "DESIGNS", "SPACE", "space",
           "build", "repair", "expressed", "count_params", "stage_filters", "downsamplings", "max_downsamplings"]

MAX_STAGES = 5
MAX_FILTERS = 256  # the doubling stops here: wider stages cost more than a 2-core CPU budget can train
BLOCK_TYPES = ("plain", "residual", "separable", "inverted")

GENES = [
    Choice("stem_filters", (8, 16, 24, 32, 48, 64), ordered=True),
    Choice("stem_kernel", (3, 5, 7), ordered=True),
    Choice("stem_stride", (1, 2), ordered=True),
    Int("stages", 1, MAX_STAGES),
    Int("blocks_per_stage", 1, 3),
    Choice("width", (16, 24, 32, 48, 64), ordered=True),
    Choice("block", BLOCK_TYPES),
    Choice("expansion", (2, 4, 6), ordered=True),
    Choice("kernel", (3, 5), ordered=True),
    Bool("batch_norm"),
    Bool("se"),
    Choice("se_ratio", (4, 8, 16), ordered=True),
    Choice("downsample", ("stride", "max_pool")),
    Choice("global_pool", ("avg", "avg+max")),
    Float("dropout", 0.0, 0.5, step=0.05),
    Choice("dense_units", (0, 64, 128, 256), ordered=True),
    Float("dense_dropout", 0.0, 0.5, step=0.05),
    LogFloat("learning_rate", 1e-4, 1e-2),
    Choice("optimizer", ("adam", "sgd", "rmsprop")),
    Choice("batch_size", (16, 32, 64, 128), ordered=True),
]

# The plain design: a 3x3 stem, four stages of one plain block (two conv-BN-ReLU) at 32/64/128/256 filters with max
# pooling between them, and a global-average head. The dormant genes hold what a mutation waking them starts from.
PLAIN4 = {
    "stem_filters": 32, "stem_kernel": 3, "stem_stride": 1, "stages": 4, "blocks_per_stage": 1, "width": 32,
    "block": "plain", "expansion": 4, "kernel": 3, "batch_norm": True, "se": False, "se_ratio": 8,
    "downsample": "max_pool", "global_pool": "avg", "dropout": 0.3, "dense_units": 0, "dense_dropout": 0.3,
    "learning_rate": 1e-3, "optimizer": "adam", "batch_size": 32,
}

#: Named genomes of this space, for ``nas search --initial NAME`` (:func:`search_spaces.designs`).
DESIGNS = {"plain4": PLAIN4, "plain4-stride2": {**PLAIN4, "stem_stride": 2}}


def stage_filters(genome: Mapping, stage: int) -> int:
    """The filters of stage ``stage`` (1-based): ``width`` doubled per stage, at most :data:`MAX_FILTERS`."""
    return min(MAX_FILTERS, genome["width"] * 2 ** (stage - 1))


def downsamplings(genome: Mapping) -> int:
    """How many times the genome's network halves the feature map: the stem's stride 2, then every stage but the
    first."""
    return int(genome["stem_stride"] == 2) + genome["stages"] - 1


def max_downsamplings(input_shape: Sequence[int]) -> int:
    """How many halvings (rounding up) the smaller side of ``input_shape`` takes before it is 1 pixel."""
    return (min(_spatial(input_shape)) - 1).bit_length()


def _blocks(genome: Mapping) -> Iterator[tuple[int, int, int, int, int]]:
    """(stage, block, input channels, output channels, stride) of every block, in order."""
    channels = genome["stem_filters"]
    for stage in range(1, genome["stages"] + 1):
        filters = stage_filters(genome, stage)
        for block in range(1, genome["blocks_per_stage"] + 1):
            downsampling = stage > 1 and block == 1 and genome["downsample"] == "stride"
            yield stage, block, channels, filters, 2 if downsampling else 1
            channels = filters


def _require_fit(genome: Mapping, input_shape: Sequence[int]) -> None:
    if downsamplings(genome) > max_downsamplings(input_shape):
        raise InvalidGenomeError(f"genome does not fit input shape {tuple(input_shape)}: it halves the feature map "
                                 f"{downsamplings(genome)} times, the input allows {max_downsamplings(input_shape)}; "
                                 f"call SPACE.repair(genome, input_shape) first")


def repair(genome: Mapping, input_shape: Sequence[int]) -> dict:
    """Make ``genome`` buildable at ``input_shape``: drop trailing stages whose downsampling would act on a 1-pixel
    feature map, and the stem's stride 2 when even the input is 1 pixel. Every input of at least 1x1 can be fitted."""
    allowed = max_downsamplings(input_shape)
    stem_stride = genome["stem_stride"] if allowed >= 1 else 1
    stages = min(genome["stages"], allowed - int(stem_stride == 2) + 1)
    return {**genome, "stem_stride": stem_stride, "stages": stages}


def expressed(genome: Mapping) -> dict:
    """``genome`` without its dormant genes: ``se_ratio`` without ``se``, ``expansion`` unless the blocks are
    inverted residuals, ``dense_dropout`` without a dense layer, ``downsample`` with a single stage."""
    dormant = {name for name, asleep in (("se_ratio", not genome["se"]),
                                         ("expansion", genome["block"] != "inverted"),
                                         ("dense_dropout", not genome["dense_units"]),
                                         ("downsample", genome["stages"] == 1)) if asleep}
    return {name: value for name, value in genome.items() if name not in dormant}


# -- counting ------------------------------------------------------------------------------------------------------
def _conv_params(genome: Mapping, inputs: int, filters: int, kernel: int) -> int:
    """A convolution and its batch norm (gamma, beta and two moving statistics); no bias before a batch norm. A
    depthwise convolution counts as ``inputs=1``."""
    if genome["batch_norm"]:
        return kernel * kernel * inputs * filters + 4 * filters
    return kernel * kernel * inputs * filters + filters


def _se_params(genome: Mapping, channels: int) -> int:
    if not genome["se"]:
        return 0
    squeezed = max(1, channels // genome["se_ratio"])
    return channels * squeezed + squeezed + squeezed * channels + channels


def _block_params(genome: Mapping, inputs: int, filters: int, stride: int) -> int:
    kind, kernel = genome["block"], genome["kernel"]
    if kind in ("plain", "residual"):
        total = _conv_params(genome, inputs, filters, kernel) + _conv_params(genome, filters, filters, kernel)
        if kind == "residual" and (stride != 1 or inputs != filters):
            total += _conv_params(genome, inputs, filters, 1)
    elif kind == "separable":
        total = _conv_params(genome, 1, inputs, kernel) + _conv_params(genome, inputs, filters, 1)
    else:
        wide = inputs * genome["expansion"]
        total = (_conv_params(genome, inputs, wide, 1) + _conv_params(genome, 1, wide, kernel)
                 + _conv_params(genome, wide, filters, 1))
    return total + _se_params(genome, filters)


def count_params(genome: Mapping, input_shape: Sequence[int], num_classes: int) -> int:
    """The parameter count of the genome's model, computed without building it (for fast ``max_params`` checks)."""
    _require_fit(genome, input_shape)
    total = _conv_params(genome, int(input_shape[2]), genome["stem_filters"], genome["stem_kernel"])
    total += sum(_block_params(genome, inputs, filters, stride) for _, _, inputs, filters, stride in _blocks(genome))
    features = stage_filters(genome, genome["stages"]) * (2 if genome["global_pool"] == "avg+max" else 1)
    if genome["dense_units"]:
        total += features * genome["dense_units"] + genome["dense_units"]
        features = genome["dense_units"]
    return total + features * num_classes + num_classes


# -- building ------------------------------------------------------------------------------------------------------
def _unit(x: Any, genome: Mapping, name: str, filters: int | None, kernel: int, stride: int = 1,
          relu: bool = True) -> Any:
    """A convolution (depthwise where ``filters`` is None), its batch norm and a ReLU, named ``name_...``."""
    from keras import layers

    bias = not genome["batch_norm"]
    if filters is None:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=bias, name=f"{name}_dwconv")(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=bias, name=f"{name}_conv")(x)
    if genome["batch_norm"]:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _squeeze_excite(x: Any, genome: Mapping, channels: int, name: str) -> Any:
    from keras import layers

    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
    gate = layers.Dense(max(1, channels // genome["se_ratio"]), activation="relu", name=f"{name}_se_reduce")(gate)
    gate = layers.Dense(channels, activation="sigmoid", name=f"{name}_se_expand")(gate)
    return layers.Multiply(name=f"{name}_se_excite")([x, gate])


def _block(x: Any, genome: Mapping, inputs: int, filters: int, stride: int, name: str) -> Any:
    from keras import layers

    kind, kernel, block_input = genome["block"], genome["kernel"], x
    if kind in ("plain", "residual"):
        x = _unit(x, genome, f"{name}_1", filters, kernel, stride)
        x = _unit(x, genome, f"{name}_2", filters, kernel, relu=kind == "plain")
    elif kind == "separable":
        x = _unit(x, genome, f"{name}_depthwise", None, kernel, stride)
        x = _unit(x, genome, f"{name}_pointwise", filters, 1)
    else:
        x = _unit(x, genome, f"{name}_expand", inputs * genome["expansion"], 1)
        x = _unit(x, genome, f"{name}_depthwise", None, kernel, stride)
        x = _unit(x, genome, f"{name}_project", filters, 1, relu=False)
    if genome["se"]:
        x = _squeeze_excite(x, genome, filters, name)
    same_shape = stride == 1 and inputs == filters
    if kind == "residual":
        shortcut = block_input if same_shape else _unit(block_input, genome, f"{name}_shortcut", filters, 1, stride,
                                                        relu=False)
        return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, shortcut]))
    if kind == "inverted" and same_shape:
        return layers.Add(name=f"{name}_add")([x, block_input])
    return x


def _head(x: Any, genome: Mapping, num_classes: int) -> Any:
    from keras import layers

    pooled = layers.GlobalAveragePooling2D(name="global_avg")(x)
    if genome["global_pool"] == "avg+max":
        pooled = layers.Concatenate(name="global_pool")([pooled, layers.GlobalMaxPooling2D(name="global_max")(x)])
    x = layers.Dropout(genome["dropout"], name="dropout")(pooled)
    if genome["dense_units"]:
        x = layers.Dense(genome["dense_units"], activation="relu", name="dense")(x)
        x = layers.Dropout(genome["dense_dropout"], name="dense_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def build(genome: Mapping, input_shape: Sequence[int], num_classes: int) -> "keras.Model":
    """An uncompiled Keras model of ``genome`` (repair it for ``input_shape`` first). Layers are named
    ``stem_...``, ``stage{s}_pool``, ``stage{s}_block{b}_...`` and, in the head, ``global_avg`` ... ``predictions``."""
    SPACE.check(genome)
    _require_fit(genome, input_shape)
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(2.0, offset=-1.0, name="centre")(inputs)
    x = _unit(x, genome, "stem", genome["stem_filters"], genome["stem_kernel"], genome["stem_stride"])
    for stage, block, channels, filters, stride in _blocks(genome):
        if stage > 1 and block == 1 and genome["downsample"] == "max_pool":
            x = layers.MaxPooling2D(2, padding="same", name=f"stage{stage}_pool")(x)
        x = _block(x, genome, channels, filters, stride, f"stage{stage}_block{block}")
    return keras.Model(inputs, _head(x, genome, num_classes), name=f"modern_{genome_hash(expressed(genome))}")


#: Genes a linked crossover passes on together: the stem, the block design, the head, the training settings.
LINKAGE = [["stem_filters", "stem_kernel", "stem_stride"], ["block", "expansion", "kernel", "se", "se_ratio"],
           ["global_pool", "dropout", "dense_units", "dense_dropout"], ["optimizer", "learning_rate", "batch_size"]]

SPACE = SearchSpace("modern", GENES, build=build, repair=repair, expressed=expressed, count_params=count_params,
                    linkage=LINKAGE,
                    description="stem, 1-5 stages of plain/residual/separable/inverted blocks (optional SE), "
                                "global-pooling head")


def space() -> SearchSpace:
    """The modern space (it takes no options)."""
    return SPACE
