"""The experiment store: cache hits, forced reruns, migrations, and surviving a killed sweep."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LATENCY_RUNS, REPO
from workbench.pipeline import run
from workbench.recipes import make_config
from workbench.store import RESULT_COLUMNS, ExperimentStore


def test_identical_run_is_a_cache_hit(fresh_workspace, default_task):
    store = ExperimentStore(fresh_workspace)
    config = make_config("dynamic_range")
    first = run(default_task, config, store, latency_runs=LATENCY_RUNS, progress=False)
    second = run(default_task, config, store, latency_runs=LATENCY_RUNS, progress=False)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["run_id"] == first["run_id"] and second["size_bytes"] == first["size_bytes"]
    assert len(store.results()) == 1


def test_force_recomputes_and_replaces_the_row(fresh_workspace, default_task):
    store = ExperimentStore(fresh_workspace)
    config = make_config("float16")
    first = run(default_task, config, store, latency_runs=LATENCY_RUNS, progress=False)
    forced = run(default_task, config, store, force=True, latency_runs=LATENCY_RUNS,
                 progress=False)
    assert not forced["cached"] and forced["run_id"] != first["run_id"]
    assert list(store.results()["run_id"]) == [forced["run_id"]]
    assert not Path(first["tflite_path"]).exists() and Path(forced["tflite_path"]).exists()


def test_other_config_is_another_row(fresh_workspace, default_task):
    store = ExperimentStore(fresh_workspace)
    for samples in (20, 21):
        config = make_config("int8", {"calibration_samples": samples})
        assert not run(default_task, config, store, latency_runs=2, progress=False)["cached"]
    frame = store.results()
    assert len(frame) == 2 and list(frame.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)


def test_missing_artifact_is_recomputed(fresh_workspace, default_task):
    store = ExperimentStore(fresh_workspace)
    config = make_config("float32")
    first = run(default_task, config, store, latency_runs=2, progress=False)
    Path(first["tflite_path"]).unlink()
    assert not run(default_task, config, store, latency_runs=2, progress=False)["cached"]


def test_older_store_gains_new_columns(tmp_path):
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute("CREATE TABLE results (run_id TEXT, model TEXT, cache_key TEXT UNIQUE)")
        db.execute("INSERT INTO results VALUES ('abc', 'm', 'k')")
    frame = ExperimentStore(tmp_path).results()
    assert frame.loc[0, "run_id"] == "abc" and "latency_ms_all_cores" in frame.columns


def _stored_rows(workspace: Path) -> list[tuple]:
    database = workspace / "results.sqlite"
    if not database.exists():
        return []
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return db.execute("SELECT run_id, recipe FROM results ORDER BY created_at").fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []


def test_killed_sweep_loses_no_finished_row(fresh_workspace, tmp_path):
    recipes = "float32,int16x8,dynamic_range,float16,int8"
    command = [sys.executable, "-m", "workbench", "sweep", "--recipes", recipes,
               "--workspace", str(fresh_workspace), "--out", str(tmp_path / "out"),
               "--latency-runs", "200"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _stored_rows(fresh_workspace) and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the sweep ended before it could be killed")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = _stored_rows(fresh_workspace)
    assert 0 < len(finished) < 5, "the kill must land between two recipes"

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = _stored_rows(fresh_workspace)
    assert [recipe for _, recipe in after] == recipes.split(",")
    assert after[: len(finished)] == finished  # the same rows, same run ids: reused, not redone
    summary = rerun.stdout.splitlines()
    cached = [line for line in summary if line.strip().startswith(("float32", "int16x8"))]
    assert cached and all(line.rstrip().endswith("True") for line in cached[: len(finished)])
