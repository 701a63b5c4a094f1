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
