"""Speed of the web page: the prediction behind it per image, and `nas serve` under load through Gradio's HTTP API.

    python benchmarks/serve_load.py [--images 20] [--requests 200] [--clients 8] [--timeout 120] [--run RUN]

Latency: a 1600x1200 phone-photo JPEG through ``Predictor.predict`` (decode, resize, model, Grad-CAM, overlay), after
one warm-up prediction, for (1) the search's best genome of RUN at its input size (default: a fresh cnn search at
32 px on synthetic lesions), (2) the paper's Table-1 CNN at 100x100 (4.0M parameters, the paper's input size) and
(3) ResNet-50 at 224x224 (weights=None: the same arithmetic as with ImageNet weights). Target: under 1 s per image
for the cnn.

Memory: the peak memory of one request (``Predictor.predict`` on the uploaded file, what the page's handler runs) for
a 39-megapixel PNG (7200x5400, just under the 40-megapixel limit), in a fresh process after a warm-up: the rise of the
resident set size over the process's size before the call (Linux: the kernel's peak is reset just before it) and
numpy's share (tracemalloc's peak; Pillow's and TensorFlow's own buffers are not traced).

Load: ``nas serve RUN`` in a subprocess on a free port; ``--clients`` threads, each with its own gradio_client, send
``--requests`` uploads of different photos in all. Prints throughput, p50/p95 latency, error responses (the server
answered, with something other than a verdict) and dropped requests (the server never answered: connection refused or
reset, or no answer within ``--timeout`` seconds); target 0 and 0.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import numpy as np  # noqa: E402

import nas  # noqa: E402
from nas.serve import Predictor  # noqa: E402


def phone_photos(folder: Path, count: int) -> list[Path]:
    """``count`` different 1600x1200 JPEGs of generated lesions (upscaled), the size of a phone photo after the
    camera app shrinks it. Different photos, as different patients send: Gradio names its cached result images by
    their content, so many identical uploads at once race on the same cache file, which real traffic does not."""
    from PIL import Image

    lesions = nas.data.synthetic_lesions(n=max(21, count), image_size=128, seed=3)
    images = np.concatenate([lesions.x_train, lesions.x_val, lesions.x_test])[:count]
    paths = []
    for index, lesion in enumerate(images):
        path = folder / f"phone_{index:03d}.jpg"
        Image.fromarray(np.round(lesion * 255).astype(np.uint8)).resize((1600, 1200), Image.BICUBIC).save(
            path, quality=90)
        paths.append(path)
    return paths


def big_photo(folder: Path) -> Path:
    """A 39-megapixel PNG (7200x5400) of a generated lesion, upscaled: under the page's 50 MB upload limit."""
    from PIL import Image

    lesion = nas.data.synthetic_lesions(n=21, image_size=128, seed=5).x_test[0]
    path = folder / "dermatoscope_39mp.png"
    Image.fromarray(np.round(lesion * 255).astype(np.uint8)).resize((7200, 5400), Image.BICUBIC).save(path)
    return path


_MEMORY_PROBE = """
import json, sys, tracemalloc
from nas.serve import Predictor

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith(field + ":"))

run, photo, warm = sys.argv[1:4]
predictor = Predictor.from_run(run)
predictor.warm_up()
predictor.predict(warm)
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # the kernel's peak resident set size (VmHWM) starts again from the current size
predictor.predict(photo)
peak = status("VmHWM")
tracemalloc.start()
predictor.predict(photo)
numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
print(json.dumps({"rss_before_mb": before, "rss_peak_mb": peak, "numpy_peak_mb": numpy_peak}))
"""


def memory(run_path: Path, photo: Path, warm: Path, pythonpath: str | None = None) -> dict:
    """Peak memory of one ``Predictor.predict(photo)`` in a fresh process (see the module docstring); ``pythonpath``
    puts another copy of ``nas`` first (to measure an older version the same way)."""
    env = dict(os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {}))
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(run_path), str(photo), str(warm)], env=env,
                          cwd=photo.parent, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    from PIL import Image

    with Image.open(photo) as image:
        width, height = image.size
    return {"photo": f"{width}x{height} PNG", "megapixels": width * height / 1e6,
            "file_mb": photo.stat().st_size / 2**20, **figures,
            "request_peak_mb": figures["rss_peak_mb"] - figures["rss_before_mb"]}


def latency(predictor: Predictor, photo: Path, images: int) -> dict:
    predictor.warm_up()
    payload = photo.read_bytes()
    seconds = []
    for _ in range(images):
        clock = time.perf_counter()
        predictor.predict(payload)
        seconds.append(time.perf_counter() - clock)
    return {"params": int(predictor.model.count_params()), "input": list(predictor.input_size),
            "p50_seconds": float(np.percentile(seconds, 50)), "p95_seconds": float(np.percentile(seconds, 95))}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dropped(error: BaseException) -> bool:
    """True when the server never answered, False when it answered with an error (gradio_client's AppError). Measured
    with gradio_client 2: nothing listening raises httpx.ConnectError, no answer within the timeout TimeoutError, and
    a server that dies while the request waits CancelledError."""
    from concurrent.futures import CancelledError

    import httpx

    return isinstance(error, (httpx.TransportError, ConnectionError, TimeoutError, CancelledError))


def load(run_path: Path, photos: list[Path], requests: int, clients: int, timeout: float) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "nas", "serve", str(run_path), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"nas serve did not come up at {url}") from error
                time.sleep(0.5)
        queue = list(range(requests))
        lock = threading.Lock()
        seconds: list[float] = []
        errors: list[str] = []  # the server answered, but not with a verdict
        lost: list[str] = []  # the server never answered

        def client() -> None:
            try:
                connection = Client(url, verbose=False)
            except Exception as error:  # noqa: BLE001 - this client's share goes to the others
                with lock:
                    lost.append(f"client: {type(error).__name__}: {error}"[:200])
                return
            while True:
                with lock:
                    if not queue:
                        return
                    photo = photos[queue.pop() % len(photos)]
                clock = time.perf_counter()
                try:
                    job = connection.submit(handle_file(str(photo)), api_name="/analyse")
                    verdict = job.result(timeout=timeout)[0]
                except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the load
                    with lock:
                        (lost if dropped(error) else errors).append(f"{type(error).__name__}: {error}"[:200])
                    continue
                if not verdict.startswith("## "):
                    with lock:
                        errors.append(verdict.splitlines()[0][:200] if verdict else "an empty verdict")
                    continue
                with lock:
                    seconds.append(time.perf_counter() - clock)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        clock = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - clock
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Dropped: every request that got no answer, those a failed client never sent included.
    return {"requests": requests, "clients": clients, "timeout_seconds": timeout, "answered": len(seconds),
            "errors": len(errors), "dropped": requests - len(seconds) - len(errors), "first_errors": errors[:3],
            "first_dropped": lost[:3],
            "wall_seconds": wall, "throughput_per_second": len(seconds) / wall,
            "p50_seconds": float(np.percentile(seconds, 50)) if seconds else None,
            "p95_seconds": float(np.percentile(seconds, 95)) if seconds else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20, help="timed predictions per model")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a request may wait for its answer "
                                                                     "before it counts as dropped")
    parser.add_argument("--run", default=None, help="a run folder to serve (default: a fresh tiny cnn search)")
    args = parser.parse_args()

    from search_spaces import cnn, resnet50

    load_average = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nas-bench-serve-"))
    photos = phone_photos(work, args.requests)
    if args.run is None:
        data = nas.data.synthetic_lesions(n=350, image_size=32, seed=0)
        run = nas.evolve("cnn", data, population=4, generations=1, budget=nas.Budget(max_params=1_000_000),
                         executor="inline", run_dir=work / "run", seed=0, verbose=False)
    else:
        run = nas.load_run(args.run)
    lesions = nas.data.LESION_CLASSES
    resnet = resnet50.SPACE
    resnet_genome = resnet.repair(resnet.sample(random.Random(0)), (224, 224, 3))
    models = {
        "search_best": lambda: Predictor.from_run(run),
        "table1_cnn_100px": lambda: Predictor(cnn.SPACE.build(cnn.TABLE1, (100, 100, 3), 7), lesions),
        "resnet50_224px": lambda: Predictor(resnet.build(resnet_genome, (224, 224, 3), 7), lesions),
    }
    per_image = {}
    for name, make in models.items():
        per_image[name] = latency(make(), photos[0], args.images)
        print(f"{name}: {per_image[name]}", flush=True)
    ratio = per_image["resnet50_224px"]["p50_seconds"] / per_image["table1_cnn_100px"]["p50_seconds"]
    peak = memory(run.path, big_photo(work), photos[0])
    print(f"memory: {peak}", flush=True)
    served = load(run.path, photos, args.requests, args.clients, args.timeout)

    path = save("serve", {"photos": "1600x1200 JPEG, a different one per request", "images": args.images,
                          "run": str(run.path), "load_average_before": load_average, "per_image": per_image,
                          "resnet50_over_table1_p50": ratio, "memory_per_request": peak, "load": served})
    print(f"results: {path}")
    for name, figures in per_image.items():
        print(f"per image, {name} ({figures['params']:,} parameters at {figures['input'][0]}x{figures['input'][1]}): "
              f"p50 {figures['p50_seconds']:.3f} s, p95 {figures['p95_seconds']:.3f} s (model + Grad-CAM + overlay)")
    print(f"ResNet-50 at 224 / Table-1 CNN at 100, per image: {ratio:.1f}x")
    print(f"one request with a {peak['photo']} ({peak['megapixels']:.1f} megapixels): the process grew by "
          f"{peak['request_peak_mb']:.0f} MB at its peak (from {peak['rss_before_mb']:.0f} MB), numpy's share "
          f"{peak['numpy_peak_mb']:.1f} MB")
    print(f"load, {served['requests']} requests from {served['clients']} clients through Gradio's HTTP API: "
          f"{served['throughput_per_second']:.2f} requests/s, p50 {served['p50_seconds']:.3f} s, p95 "
          f"{served['p95_seconds']:.3f} s, {served['errors']} error responses, {served['dropped']} dropped")


if __name__ == "__main__":
    main()
