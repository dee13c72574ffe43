"""Is the input pipeline the bottleneck? Images per second of the training pipeline alone (shuffle, batch, augment,
prefetch) against the training step of the paper's Table-1 CNN, on HAM10000 at 64 px, plus the time to
decode the 10,015 images.

    python benchmarks/pipeline.py [--data PATH] [--image-size 64] [--batches 60]

--data is the HAM10000 folder (default: $NAS_HAM10000, else ../shared/data/ham10000 beside the repository).

Prints the load time (first and second load), images/s of the pipeline with and without augmentation, images/s of the
training step fed from memory and of the same step fed by the augmenting pipeline, and the ratio pipeline / training
step (above 1: the pipeline keeps up).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402
from _ham_data import add_data_option, data_folder  # noqa: E402

import nas  # noqa: E402
from nas.augment import Augmentation, pipeline  # noqa: E402
from search_spaces import cnn  # noqa: E402

BATCH = 32


def images_per_second(batches, count: int) -> float:
    iterator = iter(batches)
    next(iterator)  # the first batch pays for tracing and filling the shuffle buffer
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return count * BATCH / (time.perf_counter() - start)


def training_rate(model, batches, count: int) -> float:
    model.fit(batches.take(2), epochs=1, verbose=0, shuffle=False)  # traces the step
    start = time.perf_counter()
    model.fit(batches.take(count), epochs=1, verbose=0, shuffle=False)
    return count * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=60)
    add_data_option(parser)
    args = parser.parse_args()
    ham = data_folder(args)
    import tensorflow as tf

    loads = []
    for _ in range(2):
        start = time.perf_counter()
        data = nas.data.ham10000(ham, image_size=args.image_size)
        loads.append(time.perf_counter() - start)
    images = len(data.y_train) + len(data.y_val) + len(data.y_test)
    x, y = data.x_train, data.y_train
    plain = images_per_second(pipeline(x, y, batch_size=BATCH, training=True).repeat(), args.batches)
    augmenting = pipeline(x, y, batch_size=BATCH, training=True, augmentation=Augmentation()).repeat()
    augmented = images_per_second(augmenting, args.batches)

    model = cnn.build(cnn.TABLE1, data.input_shape, data.num_classes)
    cnn.SPACE.compile(model, cnn.TABLE1)
    in_memory = tf.data.Dataset.from_tensors((x[:BATCH], y[:BATCH])).repeat()
    step = training_rate(model, in_memory, args.batches)
    fed = training_rate(model, augmenting, args.batches)

    figures = {"image_size": args.image_size, "images": images, "load_seconds_first": round(loads[0], 2),
               "load_seconds_second": round(loads[1], 2), "decode_images_per_second": round(images / loads[0]),
               "pipeline_images_per_second": round(plain), "augmented_pipeline_images_per_second": round(augmented),
               "train_step_images_per_second": round(step), "train_with_pipeline_images_per_second": round(fed),
               "ratio_augmented_pipeline_to_train_step": round(augmented / step, 2),
               "slowdown_of_training_fed_by_pipeline": round(step / fed, 2), "model_params": model.count_params()}
    save("pipeline", figures)
    print(f"load {images} images at {args.image_size} px: {loads[0]:.1f} s first, {loads[1]:.1f} s second "
          f"({images / loads[0]:.0f} images/s)")
    print(f"pipeline alone: {plain:.0f} images/s plain, {augmented:.0f} images/s with augmentation")
    print(f"Table-1 training step ({model.count_params():,} params): {step:.0f} images/s from memory, {fed:.0f} "
          f"images/s fed by the augmenting pipeline")
    print(f"ratio augmented pipeline / training step: {augmented / step:.1f}x; training fed by the pipeline runs at "
          f"{fed / step:.2f} of the in-memory step")


if __name__ == "__main__":
    main()
