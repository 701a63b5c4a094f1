"""The experiment store: one SQLite table of result rows plus ``.tflite`` artifacts.

Rows are committed one at a time, right after their artifact is written, so a
crash or a kernel restart loses nothing already finished. A row is found again
by its cache key (model hash, recipe config, data hash, workbench version).

Example:
    >>> store = ExperimentStore("/tmp/ws")                         # doctest: +SKIP
    >>> store.results()[["recipe", "size_bytes", "accuracy"]]      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from workbench.workspace import resolve_workspace

# The public result columns, in order, with their SQLite types. Later features
# append columns here; opening an older store adds them (empty) automatically.
RESULT_COLUMNS = {
    "run_id": "TEXT",
    "model": "TEXT",
    "recipe": "TEXT",
    "config": "TEXT",
    "tflite_path": "TEXT",
    "size_bytes": "INTEGER",
    "gzip_bytes": "INTEGER",
    "accuracy": "REAL",
    "float_accuracy": "REAL",
    "agreement": "REAL",
    "latency_ms": "REAL",
    "latency_p90_ms": "REAL",
    "latency_ms_all_cores": "REAL",
    "created_at": "TEXT",
    "weight_sparsity": "REAL",
    "max_unique_weights": "INTEGER",
    "int8_ops_fraction": "REAL",
    "notes": "TEXT",
}
# Bookkeeping columns: what the cache key is made of.
KEY_COLUMNS = {
    "cache_key": "TEXT",
    "model_hash": "TEXT",
    "dataset": "TEXT",
    "data_hash": "TEXT",
    "workbench_version": "TEXT",
}
ALL_COLUMNS = {**RESULT_COLUMNS, **KEY_COLUMNS}
# Per-device estimate columns, one set per device profile: '<prefix><device>'.
DEVICE_COLUMN_TYPES = {"est_ms__": "REAL", "fits__": "INTEGER", "accel_fraction__": "REAL"}


def device_column_type(name: str) -> str | None:
    """The SQLite type of a per-device column name, or None if it is not one."""
    prefix = next((p for p in DEVICE_COLUMN_TYPES if name.startswith(p)), None)
    if prefix is None or not name[len(prefix):].replace("_", "").isalnum():
        return None
    return DEVICE_COLUMN_TYPES[prefix]


def device_columns_of(names) -> list[str]:
    """The per-device columns among ``names``, grouped by device then measure."""
    found = [name for name in names if device_column_type(name)]
    return sorted(found, key=lambda name: (name.split("__", 1)[1], name))


class ExperimentStore:
    """Result rows and artifacts in ``<workspace>/results.sqlite`` and ``<workspace>/artifacts``."""

    def __init__(self, workspace: str | os.PathLike | None = None):
        self.workspace = resolve_workspace(workspace)
        self.database = self.workspace / "results.sqlite"
        self.artifacts = self.workspace / "artifacts"
        self.artifacts.mkdir(exist_ok=True)
        self._create_or_migrate()

    @contextlib.contextmanager
    def _connect(self):
        """A connection that commits on success, rolls back on error, and always closes."""
        connection = sqlite3.connect(self.database, timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def _create_or_migrate(self) -> None:
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            columns = ", ".join(f"{name} {kind}" for name, kind in ALL_COLUMNS.items())
            db.execute(f"CREATE TABLE IF NOT EXISTS results ({columns}, UNIQUE(cache_key))")
            present = {row["name"] for row in db.execute("PRAGMA table_info(results)")}
            for name, kind in ALL_COLUMNS.items():
                if name not in present:
                    db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")

    def set_device_columns(self, run_id: str, values: dict) -> None:
        """Store per-device estimates for a row, adding the columns the first time."""
        if not values:
            return
        with self._connect() as db:
            present = {row["name"] for row in db.execute("PRAGMA table_info(results)")}
            for name in values:
                kind = device_column_type(name)
                if kind is None:
                    raise ValueError(f"'{name}' is not a per-device column name.")
                if name not in present:
                    db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
            db.execute(f"UPDATE results SET {', '.join(f'{name} = ?' for name in values)} "
                       "WHERE run_id = ?", [*values.values(), run_id])

    def lookup(self, cache_key: str) -> dict | None:
        """The stored row with ``cache_key`` whose artifact still exists, else None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM results WHERE cache_key = ?", (cache_key,)).fetchone()
        if row is None or not Path(row["tflite_path"]).is_file():
            return None
        return dict(row)

    def save(self, row: dict, tflite: bytes) -> dict:
        """Write the artifact, then commit the row (replacing one with the same cache key)."""
        path = self.artifacts / f"{row['run_id']}.tflite"
        partial = path.with_suffix(".partial")
        partial.write_bytes(tflite)
        partial.replace(path)
        row = {**row, "tflite_path": str(path)}
        names = [name for name in ALL_COLUMNS if name in row]
        with self._connect() as db:
            old = db.execute(
                "SELECT tflite_path FROM results WHERE cache_key = ?", (row["cache_key"],)
            ).fetchone()
            db.execute(
                f"INSERT OR REPLACE INTO results ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                [row[name] for name in names],
            )
        if old is not None and old["tflite_path"] != str(path):
            Path(old["tflite_path"]).unlink(missing_ok=True)
        return row

    def results(self, model: str | None = None):
        """All rows (or one model's) as a DataFrame, oldest first: result columns, then the
        bookkeeping ones, then per-device estimates."""
        import pandas as pd

        query, params = "SELECT * FROM results", ()
        if model is not None:
            query, params = query + " WHERE model = ?", (model,)
        with self._connect() as db:
            rows = [dict(row) for row in db.execute(query + " ORDER BY created_at", params)]
        extra = device_columns_of(rows[0]) if rows else []
        return pd.DataFrame(rows, columns=[*ALL_COLUMNS, *extra])

    def read_tflite(self, run_id: str) -> bytes:
        return (self.artifacts / f"{run_id}.tflite").read_bytes()
