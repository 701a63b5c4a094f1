"""Helpers shared by the benchmarks: published reference tables, timing, result files."""

from __future__ import annotations

import csv
import json
import platform
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
REFERENCE = REPO.parent / "shared" / "reference"


def published_table(name: str) -> dict[str, dict[str, str]]:
    """Rows of ``../shared/reference/<name>.csv`` keyed by their first column ({} if absent)."""
    path = REFERENCE / f"{name}.csv"
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    key = next(iter(rows[0])) if rows else None
    return {row[key]: row for row in rows}


@contextmanager
def stopwatch(totals: dict, key: str):
    """Add the wall time of the block, in seconds, to ``totals[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - start


def write_results(name: str, payload: dict) -> Path:
    """Write ``bench/results/<name>.json`` with the machine it ran on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                           "system": platform.system()}, **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def show_and_write(name: str, rows: list[dict], payload: dict, digits: int = 4) -> Path:
    """Print ``rows`` as a table, then write ``payload`` to ``bench/results/<name>.json``."""
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.{digits}g}"))
    path = write_results(name, payload)
    print(f"\nwrote {path}")
    return path


def epoch_seconds(keras_module):
    """A callback (for Keras 3 or tf_keras) whose ``seconds`` lists each epoch's wall time."""

    class EpochSeconds(keras_module.callbacks.Callback):
        seconds: list

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochSeconds()


def gzip_size(data: bytes) -> int:
    import gzip

    return len(gzip.compress(bytes(data), compresslevel=9, mtime=0))


def kernel_stats(kernels) -> dict:
    """Sparsity over all kernels and the most unique values in any one of them."""
    import numpy as np

    elements = sum(k.size for k in kernels)
    zeros = sum(int(np.sum(k == 0)) for k in kernels)
    return {"sparsity": zeros / elements, "max_unique": max(int(np.unique(k).size) for k in kernels)}


TIMING_ROUNDS = 3


def alternating_epoch_times(*fits, rounds: int = TIMING_ROUNDS) -> tuple[list, ...]:
    """Epoch times of each way of training (``fit(seed)`` returns a fit's epoch seconds), each
    fitted in turn ``rounds`` times so that all meet the same machine load; each fit's first
    epoch (tracing, warm-up) is left out. Each fit gets the round's number as its seed, so the
    rounds also measure the spread of what training reaches.

        plain, pruned = alternating_epoch_times(fit_plain, fit_pruned)
    """
    times = tuple([] for _ in fits)
    for seed in range(rounds):
        for fit, seconds in zip(fits, times):
            seconds += fit(seed)[1:]
    return times


def timed_fit(keras_module, model, x, y, epochs: int, learning_rate: float, seed: int,
              from_logits: bool, callbacks=()) -> list:
    """Adam and sparse cross-entropy, batches of 32, the same in Keras 3 and tf_keras; each
    epoch's seconds."""
    keras_module.utils.set_random_seed(seed)
    model.compile(keras_module.optimizers.Adam(learning_rate),
                  keras_module.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    timer = epoch_seconds(keras_module)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[*callbacks, timer])
    return timer.seconds


# QAT's cost on a network where the convolutions, not fixed costs, take the time: generated
# images and labels, the same on both sides.
QAT_NETWORK = {"zoo_name": "mobilenet_v2:96", "builder": "MobileNetV2", "size": 96,
               "classes": 1000, "images": 256, "epochs": 3, "learning_rate": 1e-4}


def qat_network_data(folder) -> Path:
    """The generated images and labels of ``QAT_NETWORK``, written once for both sides."""
    import numpy as np

    rng = np.random.default_rng(0)
    size, count = QAT_NETWORK["size"], QAT_NETWORK["images"]
    path = Path(folder) / "qat_network_data.npz"
    np.savez(path, x=rng.normal(size=(count, size, size, 3)).astype("float32"),
             y=rng.integers(0, QAT_NETWORK["classes"], count))
    return path


def spread(values: list) -> dict:
    """Mean, sample standard deviation, min and max of figures measured over seeds."""
    import statistics

    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "values": list(values)}


def median_ratio(numerator: list, denominator: list) -> float:
    import statistics

    return statistics.median(numerator) / statistics.median(denominator)
