"""The search's trials on Dask: a real scheduler and workers on 127.0.0.1, a worker that dies
mid-trial, a scheduler nobody runs, and a search killed with ``kill -9`` then resumed."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import main
from workbench.search.parallel import TrialPool
from workbench.store import ExperimentStore


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _processes(*commands):
    """Start each command in its own session; on exit kill each one's whole group."""
    started = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True) for command in commands]
    try:
        yield started
    finally:
        for process in started:
            with_group_killed(process)


def with_group_killed(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(count, timeout=120)


def _trial_counts(address: str) -> dict:
    """How many tasks of each kind the scheduler's workers computed (its task prefixes count
    every entry into a state)."""
    from distributed import Client

    def counts(dask_scheduler):
        return {name: prefix.state_counts["memory"]
                for name, prefix in dask_scheduler.task_prefixes.items()}

    with Client(address, timeout="30s") as client:
        return client.run_on_scheduler(counts)


def test_a_search_runs_on_a_loopback_cluster_and_the_client_stores_every_trial(
        fresh_workspace, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "dask"]
    scheduler = [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":")[-1],
                 "--no-dashboard"]
    worker = [*dask, "worker", address, "--nthreads", "1", "--no-dashboard",
              "--host", "127.0.0.1"]
    with _processes(scheduler):
        time.sleep(1)
        with _processes(worker, worker):
            _wait_for_workers(address, 2)
            out = tmp_path / "out"
            code = main(["optimize", "--device", "cortex_m7", "--max-drop", "1", "--trials",
                         "3", "--scheduler", address, "--workspace", str(fresh_workspace),
                         "--out", str(out)])
            computed = _trial_counts(address).get("compute_trial", 0)
    assert code == 0
    trials = pd.read_csv(out / "results.csv")
    rows = ExperimentStore(fresh_workspace).results().set_index("run_id")
    assert len(trials) == 3 and set(trials["run_id"]) <= set(rows.index)
    assert computed == trials["run_id"].nunique()  # each new variant ran on a worker, once
    assert rows.loc[list(trials["run_id"]), "machine"].str.contains("cores").all()


def _die_first_time(marker: str) -> str:
    if not os.path.exists(marker):
        Path(marker).write_text("died once")
        os._exit(1)  # the worker process dies mid-task
    return f"survived on {os.getpid()}"


def _always_die() -> None:
    os._exit(1)


def test_a_worker_that_dies_mid_trial_is_retried_once_then_the_trial_fails(tmp_path):
    marker = str(tmp_path / "marker")
    with TrialPool(workers=2) as pool:
        [(_, retried)] = pool.finished([pool.submit(_die_first_time, marker)], timeout=120)
        [(_, doomed)] = pool.finished([pool.submit(_always_die)], timeout=120)
        [(_, after)] = pool.finished([pool.submit(_die_first_time, marker)], timeout=120)
    assert retried.failure is None and retried.value.startswith("survived")
    assert doomed.value is None
    assert doomed.failure == "its worker died twice (a crash or out of memory)"
    assert after.value.startswith("survived")  # the pool goes on


def test_a_scheduler_nobody_runs_is_a_clear_error_within_seconds(fresh_workspace, tmp_path,
                                                                 capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    code = main(["optimize", "--device", "cortex_m7", "--scheduler", address, "--workspace",
                 str(fresh_workspace), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and f"No Dask scheduler answered at '{address}'" in error
    assert "dask scheduler" in error and time.monotonic() - started < 60  # no hang
    for flags, message in ((["--device", "toaster"], "toaster"),
                           (["--device", "cortex_m7", "--workers", "-1"], "workers 0 or more"),
                           (["--device", "cortex_m7", "--workers", "2", "--scheduler",
                             address], "without workers")):
        assert main(["optimize", *flags, "--workspace", str(fresh_workspace), "--out",
                     str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(Exception, match="workers 0 or more"):
        TrialPool(workers=-1)


def _finished_run_ids(study_file: Path) -> list[str]:
    """The run ids of the study's finished trials, read from its SQLite file."""
    if not study_file.exists():
        return []
    try:
        with sqlite3.connect(study_file, timeout=5) as db:
            found = db.execute(
                "SELECT value_json FROM trial_user_attributes JOIN trials USING (trial_id) "
                "WHERE state = 'COMPLETE' AND key = 'run_id'").fetchall()
    except sqlite3.OperationalError:  # the study's tables are not there yet
        return []
    return [json.loads(value) for (value,) in found]


def test_a_search_killed_with_kill_9_resumes_with_its_finished_trials(fresh_workspace,
                                                                      tmp_path):
    args = ["optimize", "--device", "cortex_m7", "--max-drop", "1", "--trials", "4",
            "--workspace", str(fresh_workspace)]
    study_file = fresh_workspace / "search" / "studies.db"
    command = [sys.executable, "-m", "workbench", *args, "--out", str(tmp_path / "first")]
    with _processes(command) as (search,):
        deadline = time.monotonic() + 500
        while len(_finished_run_ids(study_file)) < 2 and search.poll() is None:
            assert time.monotonic() < deadline, "the search never finished two trials"
            time.sleep(0.5)
        assert search.poll() is None, search.stderr.read().decode()[-2000:]
        os.killpg(search.pid, signal.SIGKILL)
        killed_at = time.time()
    finished = _finished_run_ids(study_file)
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    trials = pd.read_csv(tmp_path / "again" / "results.csv")
    after = ExperimentStore(fresh_workspace).results().set_index("run_id")
    assert len(trials) == 4 and set(finished) <= set(trials["run_id"])
    kept = pd.to_datetime(after.loc[finished, "created_at"])
    assert (kept.map(lambda t: t.timestamp()) < killed_at).all()  # reused, not computed again
    assert after["cache_key"].is_unique
    choice = json.loads((tmp_path / "again" / "choice.json").read_text())
    assert choice["run_id"] in set(trials["run_id"])
