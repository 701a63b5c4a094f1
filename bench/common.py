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


def alternating_epoch_times(fit_plain, fit_pruned, rounds: int = TIMING_ROUNDS):
    """Epoch times of plain and pruned training, fitted in turn ``rounds`` times so that both
    meet the same machine load; each fit's first epoch (tracing, warm-up) is left out. Each
    fit gets the round's number as its seed (``fit_plain(seed)``), so the rounds also measure
    the spread of what training reaches."""
    plain, pruned = [], []
    for seed in range(rounds):
        plain += fit_plain(seed)[1:]
        pruned += fit_pruned(seed)[1:]
    return plain, pruned


def spread(values: list) -> dict:
    """Mean, sample standard deviation, min and max of figures measured over seeds."""
    import statistics

    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "values": list(values)}


def median_ratio(numerator: list, denominator: list) -> float:
    import statistics

    return statistics.median(numerator) / statistics.median(denominator)
