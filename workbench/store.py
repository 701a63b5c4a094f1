"""The experiment store: result rows in SQLite, ``.tflite`` artifacts beside them.

``<workspace>/results.sqlite`` holds one row per variant (table ``results``) and the device
estimates in a long table (``estimates``: run_id, device, measure, value, and the fingerprint
of the profile they came from), so a new device never changes the schema while another process
writes. ``<workspace>/artifacts/`` holds each
variant's ``<run_id>.tflite`` and ``<run_id>.json`` (its row, from which ``rebuild`` restores
a lost store). Paths are kept relative to the workspace, and the store never writes or
deletes a file outside its own folder, so a workspace can be moved or copied.

Rows are committed one at a time, right after their artifact is written, so a crash or a
kernel restart loses nothing already finished. A workspace that cannot be written (a
read-only copy, a shared folder) opens read-only: its rows can be browsed and reused.

Example:
    >>> store = ExperimentStore("/tmp/ws")                         # doctest: +SKIP
    >>> store.results()[["recipe", "size_bytes", "accuracy"]]      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

from workbench.errors import StoreError
from workbench.workspace import resolve_workspace

# The public result columns, in order, with their SQLite types.
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
    "metric": "TEXT",
    "higher_is_better": "INTEGER",
    "score": "REAL",
    "float_score": "REAL",
    "score_drop": "REAL",
    "latency_ms": "REAL",
    "latency_p90_ms": "REAL",
    "latency_ms_all_cores": "REAL",
    "created_at": "TEXT",
    "machine": "TEXT",
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
# Per-device estimates, shown as columns '<measure>__<device>' in results frames.
DEVICE_MEASURES = ("est_ms", "fits", "accel_fraction")
SCHEMA_VERSION = 5
DATABASE = "results.sqlite"
LOCK_WAIT_S = 30  # how long a write waits for another process's
ARTIFACTS = "artifacts"
RECOVERY = ("To recover, run `python -m workbench doctor --repair --workspace {workspace}`: it "
            "moves {name} aside and rebuilds the rows from the artifacts.")


def new_run_id() -> str:
    """A fresh 12-character variant id that reads as text in any CSV reader.

    Plain uuid hex can look like a number ("123e45678901" is infinity to pandas, "001234567890"
    an integer without its zeros), so the id starts with one of the letters a-d or f.

    >>> run_id = new_run_id()
    >>> len(run_id), run_id[0] in "abcdf"
    (12, True)
    """
    digits = uuid.uuid4().hex
    return "abcdf"[int(digits[0], 16) % 5] + digits[1:12]


def device_column(measure: str, device: str) -> str:
    return f"{measure}__{device}"


def split_device_column(name: str) -> tuple[str, str] | None:
    """``'est_ms__edge_tpu'`` -> ``('est_ms', 'edge_tpu')``; None for other names."""
    measure, sep, device = str(name).partition("__")
    if not sep or measure not in DEVICE_MEASURES or not device.replace("_", "").isalnum():
        return None
    return measure, device


def device_columns_of(names) -> list[str]:
    """The per-device columns among ``names``, grouped by device then measure."""
    found = [name for name in names if split_device_column(name)]
    return sorted(found, key=lambda name: (split_device_column(name)[1], name))


class StoreLocked(StoreError):
    """Another process held the store for longer than ``LOCK_WAIT_S``."""


class ExperimentStore:
    """Result rows and artifacts of one workspace (see the module doc).

    ``read_only`` (default: detected) opens the store for reading only; saving then raises
    a ``StoreError`` that says so. Every database failure is a ``StoreError`` naming the
    file, what is wrong and how to recover.
    """

    def __init__(self, workspace: str | os.PathLike | None = None,
                 read_only: bool | None = None):
        self.workspace = resolve_workspace(workspace)
        self.database = self.workspace / DATABASE
        self.artifacts = self.workspace / ARTIFACTS
        self.read_only = _not_writable(self.workspace, self.database) if read_only is None \
            else read_only
        if not self.read_only:
            try:
                self.artifacts.mkdir(exist_ok=True)
            except OSError:
                self.read_only = True
        if self.read_only and not self.database.exists():
            return  # nothing stored yet, and nothing can be: an empty, read-only store
        self._create_or_migrate()

    # -- connections and failures -------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, write: bool = False):
        """A connection in autocommit mode; ``write`` wraps the block in one immediate
        transaction (committed on success, rolled back on error). Database failures become
        ``StoreError``s."""
        if write:
            self.require_writable()
        try:
            if self.read_only:
                connection = sqlite3.connect(f"{self.database.as_uri()}?immutable=1", uri=True,
                                             isolation_level=None)
            else:
                connection = sqlite3.connect(self.database, timeout=LOCK_WAIT_S,
                                             isolation_level=None)
        except sqlite3.Error as error:
            raise self._store_error(error) from None
        connection.row_factory = sqlite3.Row
        try:
            if write:
                connection.execute("BEGIN IMMEDIATE")
            yield connection
            if write:
                connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.rollback()
            raise self._store_error(error) from None
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise
        finally:
            connection.close()

    def _store_error(self, error: sqlite3.Error) -> StoreError:
        text = str(error)
        recovery = RECOVERY.format(name=DATABASE, workspace=self.workspace)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StoreError(f"The experiment store '{self.database}' is damaged ({text}). "
                              f"Expected an SQLite database written by the workbench. "
                              f"{recovery}")
        if "readonly" in text or "read-only" in text:
            return self._read_only_error()
        if "locked" in text or "busy" in text:
            return StoreLocked(f"The experiment store '{self.database}' stayed locked by "
                              "another process for 30 s. Expected it to be free: wait for "
                              "the other run to finish, then try again.")
        return StoreError(f"The experiment store '{self.database}' failed: {text}. "
                          f"If this persists, the file may be damaged. {recovery}")

    def _read_only_error(self) -> StoreError:
        return StoreError(
            f"The workspace '{self.workspace}' is read-only: its stored variants can be "
            "browsed, but a new one cannot be stored. Expected a writable folder: copy the "
            "workspace somewhere writable, or choose another with --workspace.")

    # -- schema ---------------------------------------------------------------------------

    def _create_or_migrate(self) -> None:
        """Create or migrate the schema. Two processes opening a new store at once race for
        its switch to WAL, and SQLite answers the loser 'locked' at once, without waiting:
        it tries again, for up to the same 30 s a write waits."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return self._create_or_migrate_once()
            except StoreLocked:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _create_or_migrate_once(self) -> None:
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The experiment store '{self.database}' was written by a newer workbench "
                    f"(schema {version}, this one reads up to {SCHEMA_VERSION}). Expected an "
                    "older or equal schema: upgrade the workbench, or use another workspace.")
            if self.read_only:
                return  # browse an older store as it is
            db.execute("PRAGMA journal_mode=WAL")
        with self._connect(write=True) as db:  # one process migrates; the others wait
            from workbench.store_schema import migrate

            migrate(db, self.workspace, SCHEMA_VERSION)

    # -- rows ---------------------------------------------------------------------------

    def artifact_path(self, run_id: str, suffix: str = ".tflite") -> Path:
        """Where the artifact of ``run_id`` lives in this workspace."""
        return self.artifacts / f"{Path(run_id).name}{suffix}"

    def _with_paths(self, row: sqlite3.Row | dict) -> dict:
        row = dict(row)
        row["tflite_path"] = str(self.artifact_path(row["run_id"]))
        return row

    def lookup(self, cache_key: str) -> dict | None:
        """The stored row with ``cache_key`` whose artifact still exists, else None."""
        if not self.database.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM results WHERE cache_key = ?", (cache_key,)).fetchone()
        if row is None or not self.artifact_path(row["run_id"]).is_file():
            return None
        return self._with_paths(row)

    def require_writable(self) -> None:
        """Raise the ``StoreError`` that ``save`` would raise on a read-only store."""
        if self.read_only:
            raise self._read_only_error()

    def save(self, row: dict, tflite: bytes, replace: bool = True) -> dict:
        """Write the artifact and its sidecar, then commit the row.

        A row with the same cache key whose artifact exists is replaced (its artifact
        deleted) when ``replace``; otherwise the stored row wins and is returned, so two
        processes computing the same variant at once end with one row.
        """
        self.require_writable()
        run_id = row["run_id"]
        row = {**row, "tflite_path": f"{ARTIFACTS}/{run_id}.tflite"}
        _write_atomically(self.artifact_path(run_id), bytes(tflite))
        _write_atomically(self.artifact_path(run_id, ".json"),
                          json.dumps({name: row.get(name) for name in ALL_COLUMNS},
                                     indent=1).encode())
        names = [name for name in ALL_COLUMNS if name in row]
        with self._connect(write=True) as db:
            old = db.execute("SELECT run_id FROM results WHERE cache_key = ?",
                             (row["cache_key"],)).fetchone()
            old_id = old["run_id"] if old is not None else None
            if old_id is not None and not replace and self.artifact_path(old_id).is_file():
                kept = db.execute("SELECT * FROM results WHERE run_id = ?", (old_id,)).fetchone()
                self._remove_artifacts(run_id)
                return self._with_paths(kept)
            db.execute(f"INSERT OR REPLACE INTO results ({', '.join(names)}) "
                       f"VALUES ({', '.join('?' for _ in names)})", [row[name] for name in names])
            if old_id is not None and old_id != run_id:
                db.execute("DELETE FROM estimates WHERE run_id = ?", (old_id,))
        if old_id is not None and old_id != run_id:
            self._remove_artifacts(old_id)
        return self._with_paths(row)

    def delete(self, run_id: str) -> bool:
        """Remove a variant: its row, its estimates and its artifact. False if unknown."""
        with self._connect(write=True) as db:
            gone = db.execute("DELETE FROM results WHERE run_id = ?", (run_id,)).rowcount
            db.execute("DELETE FROM estimates WHERE run_id = ?", (run_id,))
        self._remove_artifacts(run_id)
        return bool(gone)

    def _remove_artifacts(self, run_id: str) -> None:
        """Delete a run's files; only ever inside this workspace's artifacts folder."""
        for suffix in (".tflite", ".json"):
            path = self.artifact_path(run_id, suffix)
            if path.parent == self.artifacts:
                path.unlink(missing_ok=True)

    def set_estimates(self, run_id: str, columns: dict,
                      profiles: dict[str, str] | None = None) -> None:
        """Store a row's device estimates, given as ``{'<measure>__<device>': value}``, with
        the fingerprint of each device's profile (``profiles``: ``{device: fingerprint}``).
        A read-only store keeps nothing (the estimates are cheap to compute again)."""
        profiles = profiles or {}
        values = []
        for name, value in columns.items():
            parts = split_device_column(name)
            if parts is None:
                raise ValueError(f"'{name}' is not a per-device column name; expected "
                                 f"<measure>__<device> with a measure of {DEVICE_MEASURES}.")
            values.append((run_id, parts[1], parts[0], value, profiles.get(parts[1])))
        if not values or self.read_only:
            return
        with self._connect(write=True) as db:
            db.executemany("INSERT OR REPLACE INTO estimates (run_id, device, measure, value, "
                           "profile) VALUES (?, ?, ?, ?, ?)", values)

    def estimate_profiles(self) -> dict[tuple[str, str], str | None]:
        """``{(run_id, device): fingerprint}`` of the profile each stored estimate came from
        (None: stored before fingerprints were kept, or by a read-only copy)."""
        if not self.database.exists():
            return {}
        with self._connect() as db:
            if not _has_table(db, "estimates"):
                return {}
            has_profile = "profile" in [row[1] for row in
                                        db.execute("PRAGMA table_info(estimates)")]
            column = "profile" if has_profile else "NULL"
            return {(run_id, device): profile for run_id, device, profile in db.execute(
                f"SELECT run_id, device, MAX({column}) FROM estimates GROUP BY run_id, device")}

    def results(self, model: str | None = None):
        """All rows (or one model's) as a DataFrame, oldest first: result columns, then the
        bookkeeping ones, then the per-device estimates; ``tflite_path`` is absolute."""
        import pandas as pd

        rows, estimates = [], []
        if self.database.exists():
            query, params = "SELECT * FROM results", ()
            if model is not None:
                query, params = query + " WHERE model = ?", (model,)
            with self._connect() as db:
                rows = [self._with_paths(row)
                        for row in db.execute(query + " ORDER BY created_at", params)]
                if _has_table(db, "estimates"):
                    estimates = db.execute(
                        "SELECT run_id, device, measure, value FROM estimates").fetchall()
        by_run = {row["run_id"]: row for row in rows}
        for run_id, device, measure, value in estimates:
            if run_id in by_run:
                by_run[run_id][device_column(measure, device)] = value
        extra = device_columns_of({name for row in rows for name in row})
        frame = pd.DataFrame(rows, columns=[*ALL_COLUMNS, *extra])
        for column in extra:
            if column.startswith("fits__"):
                frame[column] = frame[column].astype("Int64")
        return frame

    def read_tflite(self, run_id: str) -> bytes:
        """The ``.tflite`` bytes of a stored variant (a clear error if the file is gone)."""
        path = self.artifact_path(run_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"The .tflite of variant {run_id} is missing: expected "
                             f"'{path}'. It was deleted or moved; run the recipe again "
                             "to rebuild it.") from None

    def rebuild(self) -> int:
        """Insert the row of every artifact that has its sidecar but no row; returns how many
        (``python -m workbench doctor --repair`` uses this on a fresh database)."""
        restored = 0
        for sidecar in sorted(self.artifacts.glob("*.json")):
            try:
                row = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                continue
            run_id = row.get("run_id")
            if not isinstance(row, dict) or not run_id or not self.artifact_path(run_id).is_file():
                continue
            names = [name for name in ALL_COLUMNS if name in row]
            with self._connect(write=True) as db:
                restored += db.execute(
                    f"INSERT OR IGNORE INTO results ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})",
                    [row[name] for name in names]).rowcount
        return restored

    def check(self) -> list[str]:
        """Problems found in the store (empty when sound): integrity, missing artifacts."""
        if not self.database.exists():
            return []
        with self._connect() as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            ids = [row[0] for row in db.execute("SELECT run_id FROM results")]
        problems = [] if verdict == "ok" else [f"integrity check: {verdict}"]
        missing = [run_id for run_id in ids if not self.artifact_path(run_id).is_file()]
        if missing:
            problems.append(f"{len(missing)} row(s) without their .tflite (e.g. {missing[0]}); "
                            "they are recomputed when run again")
        return problems


def _has_table(db, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def _not_writable(workspace: Path, database: Path) -> bool:
    if not os.access(workspace, os.W_OK):
        return True
    return database.exists() and not os.access(database, os.W_OK)


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    partial.replace(path)
