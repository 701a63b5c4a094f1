"""The experiment store: cache hits, forced reruns, migrations, and surviving a killed sweep."""

import io
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import LATENCY_RUNS, REPO
from workbench.pipeline import run
from workbench.recipes import make_config
from workbench.store import RESULT_COLUMNS, ExperimentStore, new_run_id


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


def test_estimates_follow_a_profile_edited_or_added_after_the_run(fresh_workspace, default_task):
    """Reading the results estimates a stored variant again on a profile edited since (and on
    one added since) and keeps the new figures; other devices keep theirs."""
    from workbench.devices import estimate_tflite
    from workbench.devices.profiles import BUILTIN_FOLDER
    from workbench.pipeline import current_results

    store = ExperimentStore(fresh_workspace)
    row = run(default_task, make_config("int8"), store, latency_runs=2, progress=False)
    before = store.results().iloc[0]
    text = (BUILTIN_FOLDER / "cortex_m7.toml").read_text()
    edited = text.replace("invoke_overhead_us = 30.0", "invoke_overhead_us = 5030.0")
    assert edited != text
    (fresh_workspace / "devices").mkdir(exist_ok=True)
    (fresh_workspace / "devices" / "cortex_m7.toml").write_text(edited)
    (fresh_workspace / "devices" / "my_board.toml").write_text(
        edited.replace('name = "cortex_m7"', 'name = "my_board"'))
    browsing = current_results(ExperimentStore(fresh_workspace, read_only=True))
    assert store.results().loc[0, "est_ms__cortex_m7"] == before["est_ms__cortex_m7"]
    frame = current_results(store)
    assert browsing.loc[0, "est_ms__cortex_m7"] == pytest.approx(frame.loc[0, "est_ms__cortex_m7"])
    expected = estimate_tflite(Path(row["tflite_path"]).read_bytes(), "cortex_m7",
                               fresh_workspace).latency_ms
    assert expected == pytest.approx(before["est_ms__cortex_m7"] + 5.0)  # 5 ms more per invoke
    assert frame.loc[0, "est_ms__cortex_m7"] == pytest.approx(expected)
    assert frame.loc[0, "est_ms__my_board"] == pytest.approx(expected)
    assert frame.loc[0, "est_ms__edge_tpu"] == before["est_ms__edge_tpu"]
    assert store.results().loc[0, "est_ms__cortex_m7"] == pytest.approx(expected)  # kept
    stored = store.estimate_profiles()
    assert current_results(store).equals(frame) and store.estimate_profiles() == stored
    # a profile removed, another broken: the one's estimates are gone, the rest still shown
    (fresh_workspace / "devices" / "my_board.toml").unlink()
    (fresh_workspace / "devices" / "broken.toml").write_text(
        edited.replace("memory_bandwidth_gb_s", "# memory_bandwidth_gb_s"))
    frame = current_results(store)
    assert "est_ms__my_board" not in frame.columns and "est_ms__broken" not in frame.columns
    assert frame.loc[0, "est_ms__cortex_m7"] == pytest.approx(expected) and len(frame) == 1
    with pytest.warns(UserWarning, match="broken.toml.*memory_bandwidth_gb_s.*left out"):
        again = run(default_task, make_config("int8"), store, latency_runs=2, progress=False)
    assert again["cached"] and again["est_ms__cortex_m7"] == pytest.approx(expected)


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


def test_run_ids_read_back_from_a_one_row_csv_as_the_same_text():
    # plain uuid hex reads as a number about 1 time in 300 ("123e45678901" is inf to pandas)
    ids = [new_run_id() for _ in range(5000)]
    read_back = [pd.read_csv(io.StringIO(f"run_id\n{run_id}\n"))["run_id"][0] for run_id in ids]
    assert read_back == ids
    assert len(set(ids)) == len(ids) and {len(run_id) for run_id in ids} == {12}
