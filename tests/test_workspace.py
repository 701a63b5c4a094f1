"""Workspaces under stress: two processes at once, a copied workspace, a read-only one, a
damaged store, a store written by the previous schema, and the setup check."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_cli
from workbench.cli import main
from workbench.errors import StoreError
from workbench.pipeline import run
from workbench.recipes import make_config
from workbench.store import SCHEMA_VERSION, ExperimentStore

QUICK = ["--latency-runs", "2", "--devices", "cortex_m7,edge_tpu"]


def _populated(folder: Path, task, recipes=("float32", "dynamic_range")) -> ExperimentStore:
    store = ExperimentStore(folder)
    for name in recipes:
        run(task, make_config(name), store, latency_runs=2, progress=False,
            devices=["cortex_m7"])
    return store


def test_two_processes_sweep_one_fresh_workspace(fresh_workspace, tmp_path):
    recipes = "float32,dynamic_range,float16"
    command = [sys.executable, "-m", "workbench", "sweep", "--recipes", recipes,
               "--workspace", str(fresh_workspace), *QUICK]
    processes = [subprocess.Popen([*command, "--out", str(tmp_path / f"out{i}")], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err
    frame = ExperimentStore(fresh_workspace).results()
    assert sorted(frame["recipe"]) == sorted(recipes.split(","))  # one row per variant
    assert all(Path(path).is_file() for path in frame["tflite_path"])
    assert frame["fits__cortex_m7"].notna().all() and frame["fits__edge_tpu"].notna().all()
    for i in range(2):  # each process reports the same stored variants, with estimates
        written = pd.read_csv(tmp_path / f"out{i}" / "results.csv")
        assert sorted(written["run_id"]) == sorted(frame["run_id"])
        assert written["fits__cortex_m7"].notna().all()


def _open_store(folder: str, start, answers) -> None:
    start.wait()  # both processes open the new store at the same moment
    try:
        ExperimentStore(folder)
        answers.put("opened")
    except StoreError as error:
        answers.put(str(error))


def test_two_processes_creating_one_store_at_once_both_open_it(tmp_path):
    # SQLite answers the loser of the race for the switch to WAL 'locked' at once (it failed
    # about 6 pairs in 10 here before the store tried again)
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(15):
        start, answers = context.Barrier(2), context.Queue()
        folder = tmp_path / f"store{attempt}"
        folder.mkdir()
        processes = [context.Process(target=_open_store, args=(str(folder), start, answers))
                     for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [answers.get(timeout=5) for _ in processes] == ["opened", "opened"]
        assert ExperimentStore(folder).results().empty


def test_a_copied_workspace_with_force_leaves_the_original_alone(fresh_workspace, tmp_path,
                                                                 default_task):
    original = _populated(fresh_workspace, default_task, ("float32",))
    before = original.results().iloc[0]
    copy = tmp_path.parent / f"{tmp_path.name}-copy"
    shutil.copytree(fresh_workspace, copy)
    code = main(["run", "--recipe", "float32", "--force", "--workspace", str(copy),
                 "--out", str(tmp_path / "out"), *QUICK])
    assert code == 0
    assert Path(before["tflite_path"]).is_file()  # the original's artifact survives
    assert list(original.results()["run_id"]) == [before["run_id"]]
    copied = ExperimentStore(copy).results().iloc[0]
    assert copied["run_id"] != before["run_id"]
    assert Path(copied["tflite_path"]).parent == copy / "artifacts"
    assert not (copy / "artifacts" / f"{before['run_id']}.tflite").exists()  # replaced there


def test_a_moved_workspace_keeps_working(fresh_workspace, tmp_path, default_task):
    _populated(fresh_workspace, default_task, ("float32",))
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.move(str(fresh_workspace), moved)
    store = ExperimentStore(moved)
    row = run(default_task, make_config("float32"), store, latency_runs=2, progress=False,
              devices=["cortex_m7"])
    assert row["cached"] and Path(row["tflite_path"]).parent == moved / "artifacts"
    assert Path(row["tflite_path"]).read_bytes() == store.read_tflite(row["run_id"])


def test_a_read_only_store_can_be_browsed_and_says_why_it_cannot_store(fresh_workspace,
                                                                        default_task):
    _populated(fresh_workspace, default_task, ("float32",))
    store = ExperimentStore(fresh_workspace, read_only=True)
    assert store.read_only and len(store.results()) == 1
    cached = run(default_task, make_config("float32"), store, latency_runs=2, progress=False,
                 devices=["edge_tpu"])
    assert cached["cached"] and cached["fits__edge_tpu"] in (0, 1)
    with pytest.raises(StoreError, match="is read-only: its stored variants can be browsed.*"
                                         "Expected a writable folder"):
        run(default_task, make_config("int8"), store, progress=False, devices=[])


def _read_only_modes(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def read_only_runner(folder: Path, scratch: Path):
    """A function running a command while ``folder`` cannot be written. A plain user: by its
    permissions. Root (who writes anything): by a read-only bind mount in a mount namespace of
    its own, or, where mount namespaces are not allowed, by running the command as ``nobody``
    (for whom the permissions hold again). ``scratch`` is a folder ``nobody`` may write (its
    home, the output folder)."""
    def run_command(command, prefix=(), env=None):
        return subprocess.run([*prefix, *command], cwd=REPO, capture_output=True, text=True,
                              timeout=600, env=env)

    if os.geteuid() != 0:
        _read_only_modes(folder)
        return run_command
    mount = (f'mount --bind "{folder}" "{folder}" && '
             f'mount -o remount,ro,bind "{folder}" "{folder}" && exec "$@"')
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount + " ", "sh", "touch",
                            str(folder / "probe")], capture_output=True, text=True) \
        if shutil.which("unshare") else None
    if probe is not None and "Read-only file system" in probe.stderr:
        return lambda command: run_command(command, ["unshare", "-m", "sh", "-c", mount, "sh"])
    _read_only_modes(folder)
    env = {**os.environ, "HOME": str(scratch), "KERAS_HOME": str(scratch / "keras"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return lambda command: run_command(command, ["setpriv", "--reuid=nobody", "--regid=nogroup",
                                                 "--clear-groups"], env)


def test_a_read_only_workspace_is_detected_and_browsed(default_task):
    import tempfile

    # a folder every user may enter: the commands may run as 'nobody' (see read_only_runner)
    shared = Path(tempfile.mkdtemp(prefix="wb-read-only-"))
    try:
        shared.chmod(0o755)
        scratch = shared / "scratch"
        scratch.mkdir(mode=0o777)
        scratch.chmod(0o777)
        _check_read_only_workspace(shared / "ws", scratch, default_task)
    finally:
        for path in [shared, *shared.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(shared)


def _check_read_only_workspace(workspace: Path, scratch: Path, default_task) -> None:
    _populated(workspace, default_task, ("float32",))
    (workspace / "models").mkdir()
    default_task.model.save(workspace / "models" / "default-v1.keras")
    runner = read_only_runner(workspace, scratch)
    base = [sys.executable, "-m", "workbench", "run", "--workspace", str(workspace),
            "--out", str(scratch / "out"), "--devices", "cortex_m7", "--latency-runs", "2"]
    cached = runner([*base, "--recipe", "float32"])
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.splitlines()[1].rstrip().endswith("True")  # the stored row, reused
    new = runner([*base, "--recipe", "int8"])
    assert new.returncode == 2
    assert "is read-only: its stored variants can be browsed" in new.stderr
    browse = runner([sys.executable, "-c", "from widgets import WorkbenchApp; "
                     f"app = WorkbenchApp({str(workspace)!r}); "
                     "print(list(app.state.results['recipe']), app.state.store.read_only)"])
    assert browse.returncode == 0 and "['float32'] True" in browse.stdout, browse.stderr


def test_a_damaged_store_is_repaired_from_the_artifacts(fresh_workspace, default_task, capsys):
    store = _populated(fresh_workspace, default_task)
    before = store.results()[["run_id", "recipe", "size_bytes", "accuracy"]]
    (fresh_workspace / "results.sqlite").write_bytes(b"\0garbage" * 512)
    with pytest.raises(StoreError, match=r"is damaged .*doctor --repair"):
        ExperimentStore(fresh_workspace)
    assert main(["doctor", "--workspace", str(fresh_workspace)]) == 1
    report = capsys.readouterr().out
    assert "[FAIL] experiment store" in report and "fix: python -m workbench doctor --repair" \
        in report
    assert main(["doctor", "--repair", "--workspace", str(fresh_workspace)]) == 0
    assert "rebuilt 2 row(s) from the artifacts" in capsys.readouterr().out
    after = ExperimentStore(fresh_workspace).results()[before.columns]
    pd.testing.assert_frame_equal(after.sort_values("run_id").reset_index(drop=True),
                                  before.sort_values("run_id").reset_index(drop=True))
    assert list(fresh_workspace.glob("results.sqlite.damaged-*"))


def test_the_app_opens_on_a_damaged_store_and_keeps_working(fresh_workspace):
    from widgets import WorkbenchApp

    (fresh_workspace / "results.sqlite").write_bytes(b"not a database" * 64)
    app = WorkbenchApp(fresh_workspace)
    assert app.state.message_kind == "error" and "doctor --repair" in app.state.message
    assert app.state.task.name == "default" and app.state.results.empty
    app.techniques.recipe.value = "float32"
    assert app.techniques.run() is None
    assert "is damaged" in app.techniques.status.text
    app.results.render()
    assert "No results yet" in app.results.table.value


def test_a_version_1_store_is_migrated(tmp_path):
    """Estimates used to be columns added at run time, and paths absolute."""
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "abc.tflite").write_bytes(b"x")
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute("CREATE TABLE results (run_id TEXT, model TEXT, tflite_path TEXT, "
                   "created_at TEXT, cache_key TEXT UNIQUE, est_ms__edge_tpu REAL, "
                   "fits__edge_tpu INTEGER)")
        db.execute("INSERT INTO results VALUES ('abc', 'm', '/old/place/artifacts/abc.tflite', "
                   "'2026-01-01', 'k', 2.5, 1)")
    store = ExperimentStore(tmp_path)
    frame = store.results()
    assert frame.loc[0, "est_ms__edge_tpu"] == 2.5 and frame.loc[0, "fits__edge_tpu"] == 1
    assert frame.loc[0, "tflite_path"] == str(tmp_path / "artifacts" / "abc.tflite")
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(results)")]
        stored_path = db.execute("SELECT tflite_path FROM results").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert "est_ms__edge_tpu" not in columns and stored_path == "artifacts/abc.tflite"
    assert version == SCHEMA_VERSION == 5  # estimates name their profile since version 5
    assert store.estimate_profiles() == {("abc", "edge_tpu"): None}  # moved, from no profile
    store.set_estimates("abc", {"est_ms__cortex_m7": 9.0}, {"cortex_m7": "f1"})  # a new device
    assert store.results().loc[0, "est_ms__cortex_m7"] == 9.0
    assert store.estimate_profiles()[("abc", "cortex_m7")] == "f1"


def test_a_version_4_store_gains_the_estimates_profile(tmp_path):
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute("CREATE TABLE results (run_id TEXT, model TEXT, cache_key TEXT UNIQUE)")
        db.execute("CREATE TABLE estimates (run_id TEXT NOT NULL, device TEXT NOT NULL, "
                   "measure TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, device, measure))")
        db.execute("INSERT INTO results VALUES ('abc', 'm', 'k')")
        db.execute("INSERT INTO estimates VALUES ('abc', 'edge_tpu', 'est_ms', 2.5)")
        db.execute("PRAGMA user_version = 4")
    store = ExperimentStore(tmp_path)
    assert store.results().loc[0, "est_ms__edge_tpu"] == 2.5
    assert store.estimate_profiles() == {("abc", "edge_tpu"): None}


def test_doctor_reports_versions_and_what_is_missing(tmp_path, capsys, monkeypatch):
    assert main(["doctor", "--workspace", str(tmp_path)]) == 0
    report = capsys.readouterr().out
    for line in ("[ok  ] python: 3.", "[ok  ] tensorflow", "[ok  ] keras 3 on tensorflow",
                 "[ok  ] converter and LiteRT", "[ok  ] workspace", "sound, 0 stored"):
        assert line in report, report
    assert report.strip().endswith("all good")
    monkeypatch.setenv("WORKBENCH_CHROMIUM", str(tmp_path / "no-chromium"))
    assert main(["doctor", "--workspace", str(tmp_path)]) == 0  # only the tests need it
    assert "[warn] chromium" in capsys.readouterr().out
    assert main(["doctor", "--tests", "--workspace", str(tmp_path)]) == 1
    report = capsys.readouterr().out
    assert "[FAIL] chromium" in report and "fix: sudo apt-get install chromium" in report


def test_doctor_in_a_process_exits_non_zero_on_an_unusable_workspace(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = run_cli("doctor", "--workspace", str(blocker / "ws"))
    assert done.returncode == 1
    assert "[FAIL] workspace" in done.stdout and "fix: pass --workspace" in done.stdout


def test_a_broken_profile_file_is_said_and_the_app_opens_with_the_other_devices(
        fresh_workspace, default_task):
    from widgets import WorkbenchApp
    from workbench.pipeline import run
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore

    run(default_task, make_config("float32"), ExperimentStore(fresh_workspace), latency_runs=2,
        progress=False)
    (fresh_workspace / "devices").mkdir(exist_ok=True)
    (fresh_workspace / "devices" / "broken.toml").write_text('name = "broken"\nkind = "cpu"\n')
    app = WorkbenchApp(fresh_workspace)
    assert app.state.message_kind == "warning"
    assert "broken.toml" in app.state.message and "left out" in app.state.message
    assert len(app.state.results) == 1 and "est_ms__cortex_m7" in app.state.results.columns
    assert "est_ms__broken" not in app.state.results.columns
