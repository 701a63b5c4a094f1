"""Streaming an image folder against holding it in memory: load, calibrate and evaluate an int8
variant on N generated 64x64 PNGs (default 10,000), once from the folder (batch by batch, read
with ``load_data`` as the CLI and the dashboard read it) and once from the same images as one
numpy array, side by side in one run.

Prints, each way: the time to scan the folder (every file opened and verified), the first pass
over its test split (decoding the PNGs, which also keeps the decoded split in the workspace),
the int8 evaluation's images per second (after the task was prepared, as every variant of a
sweep is evaluated), the time to prepare, calibrate and convert, and the peak resident memory
(in a fresh process each, so one does not inherit the other's peak). Writes
``bench/results/data.json``. Goal: the folder at least 0.7x the array's evaluation throughput,
its memory bounded by the batch.

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
        split = "test" if (index // CLASSES) % 5 == 0 else "train"  # a fifth of each class
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


def measure(folder: Path, way: str, workspace: Path) -> dict:
    """One way, in this process: prepare (the float model scored: the folder's first pass),
    calibrate and convert int8, evaluate the int8 variant in LiteRT."""
    from workbench.data import Dataset, load_data
    from workbench.pipeline import _measure, prepare_task
    from workbench.ptq import convert
    from workbench.recipes import make_config

    start = time.perf_counter()
    data = load_data(folder, workspace=workspace)  # as the CLI and the dashboard read it
    first_pass = scan = None
    if way == "folder":
        streamed = data.bind(model())  # every file opened and verified
        scanned = time.perf_counter()
        scan = scanned - start
        count = sum(len(batch) for batch in streamed.test_input_batches())
        first_pass = count / (time.perf_counter() - scanned)
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
            "scan_s": scan, "first_pass_images_per_s": first_pass,
            "images_per_s": task.dataset.test_size / (done - evaluated),
            "prepare_calibrate_convert_s": evaluated - start, "score": figures["score"],
            "max_rss_mb": _max_rss_mb()}


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measured_in_a_child(folder: Path, way: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "bench.data", "--way", way, "--folder", str(folder),
         "--workspace", str(folder.parent / f"workspace-{way}")],
        capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"the {way} measurement failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--way", choices=("folder", "array"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:  # the child process of one measurement
        print(json.dumps(measure(Path(args.folder), args.way, Path(args.workspace))))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = write_folder(Path(temporary) / "images", args.count)
        rows = [_measured_in_a_child(folder, way) for way in ("folder", "array")]
    folder_row, array_row = rows
    ratio = folder_row["images_per_s"] / array_row["images_per_s"]
    print(f"{'way':8} {'scan (s)':>9} {'first pass (images/s)':>22} "
          f"{'int8 evaluation (images/s)':>27} {'prepare+convert (s)':>20} "
          f"{'max RSS (MB)':>13} {'score':>7}")
    for row in rows:
        scan, first = (row[key] or float("nan") for key in ("scan_s", "first_pass_images_per_s"))
        print(f"{row['way']:8} {scan:9.1f} {first:22.0f} {row['images_per_s']:27.0f} "
              f"{row['prepare_calibrate_convert_s']:20.1f} {row['max_rss_mb']:13.0f} "
              f"{row['score']:7.3f}")
    print(f"folder / array throughput: {ratio:.2f}x (goal at least 0.7x)")
    path = write_results("data", {"count": args.count, "rows": rows,
                                  "throughput_ratio": ratio})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
