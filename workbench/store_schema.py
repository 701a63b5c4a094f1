"""The experiment store's schema and how an older store is brought up to it.

Schema versions (SQLite ``PRAGMA user_version``):

- 0: a new file, or a store written before versions were recorded (version 1's layout);
- 1: device estimates as columns ``est_ms__<device>`` of ``results`` (added while running,
  which raced when two processes added the same column), absolute ``tflite_path``;
- 2: estimates in their own long table; ``tflite_path`` relative to the workspace;
- 3: the task's metric on every row (``metric``, ``higher_is_better``, ``score``,
  ``float_score``, ``score_drop``); older rows were scored by top-1 accuracy.
- 4: the machine that measured each row (``machine``).
- 5: each estimate names the device profile it came from (``estimates.profile``, a
  fingerprint), so estimates of an edited profile are computed again; older ones have none.

``migrate`` runs inside the caller's immediate transaction, so one process migrates and any
other waits, then finds the work done.

Example:
    >>> with store._connect(write=True) as db:                    # doctest: +SKIP
    ...     migrate(db, store.workspace, SCHEMA_VERSION)
"""

from __future__ import annotations

import sqlite3

from workbench.store import ALL_COLUMNS, ARTIFACTS, split_device_column

DROP_COLUMN_SQLITE = (3, 35, 0)


def migrate(db, workspace, target: int) -> None:
    """Create the tables, or bring an older store to schema ``target``; idempotent."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= target:
        return  # another process did it while this one waited for the lock
    columns = ", ".join(f"{name} {kind}" for name, kind in ALL_COLUMNS.items())
    db.execute(f"CREATE TABLE IF NOT EXISTS results ({columns}, UNIQUE(cache_key))")
    present = [row[1] for row in db.execute("PRAGMA table_info(results)")]
    for name, kind in ALL_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
    db.execute("CREATE TABLE IF NOT EXISTS estimates (run_id TEXT NOT NULL, device TEXT NOT "
               "NULL, measure TEXT NOT NULL, value REAL, profile TEXT, "
               "PRIMARY KEY (run_id, device, measure))")
    if "profile" not in [row[1] for row in db.execute("PRAGMA table_info(estimates)")]:
        db.execute("ALTER TABLE estimates ADD COLUMN profile TEXT")
    for name in present:
        _move_estimate_column(db, name)
    db.execute(f"UPDATE results SET tflite_path = '{ARTIFACTS}/' || run_id || '.tflite'")
    db.execute("UPDATE results SET metric = 'top1', higher_is_better = 1, score = accuracy, "
               "float_score = float_accuracy, score_drop = float_accuracy - accuracy "
               "WHERE metric IS NULL AND accuracy IS NOT NULL")
    db.execute(f"PRAGMA user_version = {int(target)}")


def _move_estimate_column(db, name: str) -> None:
    """Copy a version-1 estimate column into the long table, then drop it (or empty it where
    this SQLite cannot drop columns)."""
    parts = split_device_column(name)
    if parts is None:
        return
    measure, device = parts
    db.execute(f'INSERT OR REPLACE INTO estimates (run_id, device, measure, value) '
               f'SELECT run_id, ?, ?, "{name}" FROM results WHERE "{name}" IS NOT NULL',
               (device, measure))
    if sqlite3.sqlite_version_info >= DROP_COLUMN_SQLITE:
        db.execute(f'ALTER TABLE results DROP COLUMN "{name}"')
    else:
        db.execute(f'UPDATE results SET "{name}" = NULL')
