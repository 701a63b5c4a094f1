"""Streaming an image folder against holding it in memory: load, calibrate and evaluate an int8
variant on N generated 64x64 PNGs (default 10,000), once from the folder (batch by batch) and
once from the same images as one numpy array, side by side in one run.

Prints images per second and the peak resident memory each way (measured in a fresh process
each, so one does not inherit the other's peak) and writes ``bench/results/data.json``. Goal:
the folder at least 0.7x the array's throughput, its memory bounded by the batch.

    python -m bench.data [--count 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_results

SIZE = 64
CLASSES = 10


def write_folder(root: Path, count: int) -> Path:
    """``count`` PNGs, class k a noisy pattern of brightness k, split into train/ and test/."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(count):
        label = index % CLASSES
        split = "test" if index % 5 == 0 else "train"
        pixels = np.clip(rng.normal(20 + 22 * label, 30, (SIZE, SIZE, 3)), 0, 255)
        folder = root / split / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.astype("uint8")).save(folder / f"{index:05d}.png")
    return root


def model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(x), name="bench_cnn")


def measure(folder: Path, way: str) -> dict:
    """One way, in this process: prepare, calibrate and convert int8, evaluate in LiteRT."""
    from workbench.data import Dataset, ImageFolder
    from workbench.pipeline import _measure, prepare_task
    from workbench.ptq import convert
    from workbench.recipes import make_config

    start = time.perf_counter()
    data = ImageFolder(folder)
    if way == "array":
        streamed = data.bind(model())
        x_test = np.concatenate(list(streamed.test_input_batches()))
        x_train = streamed.calibration_inputs(len(streamed.train.file_paths))
        data = Dataset("array", x_train, np.zeros(len(x_train), "int64"), x_test,
                       streamed.y_test)
    task = prepare_task(model(), data, progress=False)
    tflite = convert(task.model, make_config("int8"), task.representative_data(200),
                     progress=False)
    evaluated = time.perf_counter()
    figures = _measure(task, tflite, latency_runs=2, progress=False)
    done = time.perf_counter()
    return {"way": way, "test_images": task.dataset.test_size,
            "images_per_s": task.dataset.test_size / (done - evaluated),
            "load_calibrate_convert_s": evaluated - start, "score": figures["score"],
            "max_rss_mb": _max_rss_mb()}


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--way", choices=("folder", "array"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:  # the child process of one measurement
        print(json.dumps(measure(Path(args.folder), args.way)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = write_folder(Path(temporary) / "images", args.count)
        rows = [json.loads(subprocess.run(
            [sys.executable, "-m", "bench.data", "--way", way, "--folder", str(folder)],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for way in ("folder", "array")]
    folder_row, array_row = rows
    ratio = folder_row["images_per_s"] / array_row["images_per_s"]
    print(f"{'way':8} {'images/s':>10} {'max RSS (MB)':>13} {'score':>7}")
    for row in rows:
        print(f"{row['way']:8} {row['images_per_s']:10.0f} {row['max_rss_mb']:13.0f} "
              f"{row['score']:7.3f}")
    print(f"folder / array throughput: {ratio:.2f}x (goal at least 0.7x)")
    path = write_results("data", {"count": args.count, "rows": rows,
                                  "throughput_ratio": ratio})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
