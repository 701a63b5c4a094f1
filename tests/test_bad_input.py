"""Bad input, table-driven, through the command line, the Python API and the widgets.

Every case asserts the error's type (for the command line: exit code 2, one line starting
``error:``, no traceback), that the message names what was received and what was expected,
and that the workspace still holds every row and artifact it held before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import badfiles
from conftest import run_cli
from workbench.cli import main
from workbench.errors import DataError, ModelLoadError, RecipeError, StoreError, WorkbenchError
from workbench.pipeline import run
from workbench.recipes import make_config
from workbench.store import ExperimentStore

NOW = datetime.now(timezone.utc)


@dataclass
class Case:
    id: str
    surface: str  # cli | api | widget
    build: Callable[[Any], Any]  # ctx -> argv (cli), a callable (api), app -> status (widget)
    received: str  # regex: the message names what was received
    expected: str  # regex: ... and what was expected
    error: type = WorkbenchError


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, workspace, default_task):
    """Bad files in a folder, and a workspace holding two stored variants."""
    import shutil

    import keras

    class Context:
        pass

    c = Context()
    c.folder = tmp_path_factory.mktemp("bad")
    c.task = default_task
    c.data = default_task.dataset
    c.workspace = tmp_path_factory.mktemp("populated")
    shutil.copytree(workspace / "models", c.workspace / "models")
    c.store = ExperimentStore(c.workspace)
    c.rows = [run(default_task, make_config(name), c.store, latency_runs=2, progress=False,
                  devices=["cortex_m7"]) for name in ("float32", "dynamic_range")]
    inputs = keras.Input((8, 8, 1))
    c.small_model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    return c


def stored(store: ExperimentStore) -> list[tuple]:
    frame = store.results()
    return sorted((row.run_id, Path(row.tflite_path).read_bytes()) for row in frame.itertuples())


def _labels_beyond_classes(c):
    return badfiles.dataset_npz(c.folder, "beyond", c.data, y_test=np.full(len(c.data.y_test), 12))


def _mismatched(c):
    return badfiles.dataset_npz(c.folder, "mismatch", c.data, x_test=c.data.x_test[:, :4, :4])


CLI = [
    Case("negative labels", "cli", lambda c: ["--data", badfiles.dataset_npz(
        c.folder, "negative", c.data, y_train=np.where(c.data.y_train == 3, -1, c.data.y_train))],
        r"y_train\[\d+\] = -1", "Expected class indices 0..K-1"),
    Case("NaN in x_test", "cli", lambda c: ["--data", badfiles.dataset_npz(
        c.folder, "nan", c.data, x_test=np.where(np.arange(len(c.data.x_test))[:, None, None,
                                                 None] == 7, np.nan, c.data.x_test))],
        r"x_test\[7\] holds nan", "Expected finite inputs"),
    Case("labels beyond the classes", "cli", lambda c: ["--data", _labels_beyond_classes(c)],
         "labels up to 12", r"Expected labels in 0\.\.9"),
    Case("samples of another shape", "cli", lambda c: ["--data", badfiles.dataset_npz(
        c.folder, "shape", c.data, x_train=c.data.x_train[..., 0], x_test=c.data.x_test[..., 0])],
        r"samples of shape \(8, 8\)", r"expects inputs of shape \(8, 8, 1\)"),
    Case("train and test samples differ", "cli", lambda c: ["--data", _mismatched(c)],
         r"x_test samples have shape \(4, 4, 1\)", "expected the same shape"),
    Case("npz of random bytes", "cli", lambda c: ["--data", _write(c, "random.npz", bytes(
        np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)))],
        r"starts with b'", "Expected a file written by numpy.savez"),
    Case("npz missing arrays", "cli", lambda c: ["--data", badfiles.npz(
        c.folder / "partial.npz", x_train=c.data.x_train)],
        r"lacks the array\(s\) y_train, x_test, y_test", "Expected arrays x_train"),
    Case("npz expanding past the limit", "cli", lambda c: [
        "--data", badfiles.zip_bomb_npz(c.folder / "bomb.npz", 256), "--max-data-gb", "0.1"],
        r"need 0\.25 GB.*shape \(1048576, 8, 8, 1\)", r"the limit is 0\.10 GB.*--max-data-gb"),
    Case("npz truncated", "cli", lambda c: ["--data", _write(c, "cut.npz", Path(
        badfiles.dataset_npz(c.folder, "whole", c.data)).read_bytes()[:20_000])],
        "damaged .npz archive", "Expected a file written by numpy.savez"),
    Case("missing dataset file", "cli", lambda c: ["--data", str(c.folder / "absent.npz")],
         "No dataset file at", "Expected an .npz file"),
    Case("negative data limit", "cli", lambda c: [
        "--data", badfiles.dataset_npz(c.folder, "fine", c.data), "--max-data-gb", "-1"],
        r"Received a data limit of -1\.0 GB", "expected a positive number"),
    Case("missing model file", "cli", lambda c: ["--model", str(c.folder / "absent.keras")],
         "No model file or directory at", "Expected a .keras file"),
    Case("text named .keras", "cli", lambda c: ["--model", _write(c, "text.keras", b"plain")],
         "is not a model file", "Expected a .keras file"),
    Case("truncated .keras", "cli", lambda c: ["--model", _truncated_keras(c)],
         "damaged .keras archive", r"Save the model again"),
    Case("Lambda layer without --unsafe", "cli", lambda c: [
        "--model", badfiles.lambda_model(c.folder / "lambda.keras")],
        "contains a Lambda layer", "--unsafe"),
    Case("unknown zoo name", "cli", lambda c: ["--model", "mobilenet_v9"],
         "Unknown zoo model 'mobilenet_v9'", "Expected one of: default"),
    Case("zoo input too small", "cli", lambda c: ["--model", "mobilenet_v1:8"],
         "Received input size '8'", "at least 32"),
    Case("unknown recipe", "cli", lambda c: ["--recipe", "int4"],
         "Unknown recipe 'int4'", "Expected one of: float32"),
    Case("--set without a value", "cli", lambda c: ["--set", "integer_only"],
         "Received --set 'integer_only'", "expected KEY=VALUE"),
    Case("unknown option", "cli", lambda c: ["--set", "clusters=8"],
         r"has no option\(s\) clusters", "Its options are"),
    Case("option out of range", "cli", lambda c: ["--recipe", "prune", "--set", "sparsity=1.5"],
         "Received: sparsity=1.5", r"must lie in \[0\.0, 0\.999\]"),
    Case("option of the wrong type", "cli", lambda c: ["--recipe", "prune", "--set",
                                                       "epochs=two"],
         "Received: epochs='two'", "must be a whole number"),
    Case("option outside its choices", "cli", lambda c: ["--set", "inference_input_type=int4"],
         "Received: inference_input_type='int4'", "must be one of int8, uint8, float32"),
    Case("--latency-runs 0", "cli", lambda c: ["--latency-runs", "0"],
         "Received --latency-runs 0", "expected at least 1"),
    Case("--out is a file", "cli", lambda c: ["--out", _write(c, "a-file", b"x")],
         "Received --out .*a-file, which is a file", "Expected a folder"),
    Case("--out under a file", "cli", lambda c: ["--out", str(Path(_write(c, "f", b"x")) / "o")],
         "but '.*/f' is a file", "Expected a path under a folder"),
    Case("--workspace is a file", "cli", lambda c: ["--workspace", _write(c, "ws-file", b"x")],
         "The workspace '.*ws-file' is a file", "Expected a folder"),
    Case("unknown device", "cli", lambda c: ["--devices", "cortex_m7,nano"],
         "Unknown device 'nano'", "Available: host"),
    Case("training recipe on a zoo model", "cli", lambda c: [
        "--model", "mobilenet_v1:32", "--recipe", "qat"],
        "model 'mobilenet_v1:32' has no dataset", "Pass --data PATH.npz"),
    Case("damaged store", "cli", lambda c: ["--workspace", _damaged_workspace(c)],
         r"is damaged \(file is not a database\)", "Expected an SQLite database.*doctor --repair"),
    Case("estimate: missing .tflite", "cli", lambda c: [
        "estimate", "--tflite", str(c.folder / "none.tflite"), "--device", "cortex_m7"],
        "Received --tflite .*none.tflite, which is not a file", "Expected the path of a .tflite"),
    Case("estimate: not a .tflite", "cli", lambda c: [
        "estimate", "--tflite", _write(c, "x.tflite", b"\0" * 64), "--device", "cortex_m7"],
        "received 64 bytes starting with", "expected the identifier 'TFL3'"),
    Case("estimate: NaN rate in a profile", "cli", lambda c: [
        "estimate", "--tflite", c.rows[0]["tflite_path"], "--device",
        badfiles.profile(c.folder / "nan.toml", conv="nan")],
        r"'throughput\.int8\.conv' received nan", "Expected a finite number above 0"),
    Case("estimate: zero bandwidth", "cli", lambda c: [
        "estimate", "--tflite", c.rows[0]["tflite_path"], "--device",
        badfiles.profile(c.folder / "zero.toml", memory_bandwidth_gb_s="0.0")],
        "'memory_bandwidth_gb_s' received 0.0", "Expected a finite number above 0"),
    Case("estimate: infinite RAM", "cli", lambda c: [
        "estimate", "--tflite", c.rows[0]["tflite_path"], "--device",
        badfiles.profile(c.folder / "inf.toml", op_overhead_us="inf")],
        "'op_overhead_us' received inf", "Expected a finite number, 0 or more"),
    Case("estimate: profile without a field", "cli", lambda c: [
        "estimate", "--tflite", c.rows[0]["tflite_path"], "--device",
        badfiles.profile(c.folder / "nothreads.toml", threads=None)],
        "has no field 'threads'", "Expected a int there"),
    Case("estimate: profile not TOML", "cli", lambda c: [
        "estimate", "--tflite", c.rows[0]["tflite_path"], "--device",
        _write(c, "broken.toml", b"name = [unclosed")],
        "is not valid TOML", "Expected a TOML file"),
]


def _write(c, name: str, content: bytes) -> str:
    path = c.folder / name
    path.write_bytes(content)
    return str(path)


def _truncated_keras(c) -> str:
    whole = c.folder / "whole.keras"
    c.task.model.save(whole)
    return _write(c, "cut.keras", whole.read_bytes()[:5000])


def _damaged_workspace(c) -> str:
    folder = c.folder / "damaged-ws"
    folder.mkdir(exist_ok=True)
    (folder / "results.sqlite").write_bytes(b"this is not sqlite" * 100)
    return str(folder)


def _dataset(c, **replace):
    from workbench.data import Dataset

    arrays = {"x_train": c.data.x_train, "y_train": c.data.y_train, "x_test": c.data.x_test,
              "y_test": c.data.y_test, **replace}
    return lambda: Dataset("mine", **arrays)


API = [
    Case("float labels scored by top-1", "api", lambda c: lambda: _prepare(c.small_model, _dataset(
        c, y_test=np.full(len(c.data.y_test), 0.5))()), r"y_test\[0\] = 0\.5",
        r"Expected class indices 0\.\.K-1 \(whole numbers\).*--metric mae", DataError),
    Case("inf in x_train", "api", lambda c: _dataset(c, x_train=np.where(
        np.arange(len(c.data.x_train))[:, None, None, None] == 2, np.inf, c.data.x_train)),
        r"x_train\[2\] holds inf", "Expected finite inputs", DataError),
    Case("values beyond float32", "api", lambda c: _dataset(c, x_test=c.data.x_test.astype(
        "float64") * 1e300), r"holds NaN or infinite values \(as float32\)",
        "Expected finite inputs", DataError),
    Case("zero-length x_test", "api", lambda c: _dataset(c, x_test=c.data.x_test[:0],
                                                         y_test=c.data.y_test[:0]),
         r"x_test has shape \(0, 8, 8, 1\)", "Expected at least one sample", DataError),
    Case("one-hot labels", "api", lambda c: lambda: _prepare(c.small_model, _dataset(
        c, y_test=np.eye(10)[c.data.y_test])()), r"y_test has shape \(450, 10\)", "use argmax",
        DataError),
    Case("label count differs", "api", lambda c: _dataset(c, y_train=c.data.y_train[:10]),
         r"y_train has shape \(10,\)", "with the same N", DataError),
    Case("text inputs", "api", lambda c: _dataset(c, x_test=np.full((3, 8, 8, 1), "a")),
         "x_test has dtype <U1", "expected real numbers", DataError),
    Case("one output scored with top-1", "api", lambda c: lambda: _prepare(
        badfiles.one_output_model(), c.data, metric="top1"), r"outputs shape \(None, 1\)",
        r"needs class scores of shape \(batch, classes\).*Choose binary_accuracy", DataError),
    Case("top-5 on 3 classes", "api", lambda c: lambda: _prepare(
        badfiles.three_class_model(), _dataset(c, y_train=c.data.y_train % 3,
                                               y_test=c.data.y_test % 3)(), metric="top5"),
        r"outputs shape \(None, 3\)", "at least 5 classes", DataError),
    Case("two inputs, one array", "api", lambda c: lambda: _prepare(
        badfiles.two_input_model(), (np.zeros((8, 4)), np.zeros(8), np.zeros((8, 4)),
                                     np.zeros(8))), "gives one input array",
        r"has 2 inputs \(input_a, input_b\). Expected a dict keyed by these names", DataError),
    Case("unknown metric", "api", lambda c: lambda: _prepare(c.small_model, c.data, metric="top2"),
         "Unknown metric 'top2'", "Expected one of: top1, top5", DataError),
    Case("a metric function that raises", "api", lambda c: lambda: _prepare(
        c.small_model, c.data, metric=_broken_metric), "'_broken_metric' raised ZeroDivisionError",
        r"Expected metric\(y_true, y_pred\) -> float", DataError),
    Case("npz is a single .npy", "api", lambda c: lambda: _load_npz(c, "single.npy.npz", (
        np.lib.format.magic(1, 0) + b"\0" * 32)), "is a single .npy array",
        "Expected an .npz archive", DataError),
    Case("npz holding a pickle", "api", lambda c: lambda: _load(badfiles.pickled_npz(
        c.folder / "pickle.npz")), "holds Python objects", "Expected numeric arrays", DataError),
    Case("npz header claiming 32 GiB", "api", lambda c: lambda: _load(badfiles.npz_declaring(
        c.folder / "claims32g.npz", (2**33,))), r"declares shape \(8589934592,\).*"
        r"34,359,738,368 bytes", "damaged or truncated. Write it again", DataError),
    Case("npz header claiming 128 TiB", "api", lambda c: lambda: _load(badfiles.npz_declaring(
        c.folder / "claims128t.npz", (2**45,))), r"140,737,488,355,328 bytes",
        "damaged or truncated", DataError),
    Case("HDF5 named .keras", "api", lambda c: lambda: _load_model(
        badfiles.saved_under_another_name(c.small_model, c.folder, "legacy.h5", "legacy.keras")),
        "holds an HDF5 .legacy .h5. model under the name",
        "rename the file to 'legacy.h5'", ModelLoadError),
    Case(".keras named .h5", "api", lambda c: lambda: _load_model(
        badfiles.saved_under_another_name(c.small_model, c.folder, "zip.keras", "zip.h5")),
        r"holds a \.keras \(zip\) archive under the name 'zip\.h5'",
        "rename the file to 'zip.keras'", ModelLoadError),
    Case("SavedModel without variables", "api", lambda c: lambda: _load_model(
        badfiles.saved_model_without_variables(c.small_model, c.folder)),
        "has no variables/ folder", "Expected the whole folder", ModelLoadError),
    Case("folder that is no SavedModel", "api", lambda c: lambda: _load_model(
        _folder(c, "empty-dir")), "without saved_model.pb", "Expected a .keras file",
        ModelLoadError),
    Case("model from a number", "api", lambda c: lambda: _load_model(42),
         "Cannot load a model from a int", "Expected a .keras file", ModelLoadError),
    Case("damaged .tflite", "api", lambda c: lambda: _inspect(Path(
        c.rows[0]["tflite_path"]).read_bytes()[:3000]),
        "truncated or damaged .tflite .3000 bytes", "Expected a file written by the TFLite",
        ModelLoadError),
    Case("unknown device profile", "api", lambda c: lambda: _profile("nano"),
         "Unknown device 'nano'", "Available: host"),
    Case("representative data with NaN", "api", lambda c: lambda: _representative(
        np.full((4, 8, 8, 1), np.nan)), "in 4 of 4 samples", "Calibration needs finite inputs",
        DataError),
    Case("representative data of another shape", "api", lambda c: lambda: _representative(
        np.zeros((4, 5, 5, 1))), r"has shape \(4, 5, 5, 1\)", r"expects samples of shape "
        r"\(8, 8, 1\)", DataError),
    Case("max drop of 200 points", "api", lambda c: lambda: _recommend(200),
         "Received max_drop_points=200", "between 0 and 100"),
    Case("a missing artifact", "api", lambda c: lambda: c.store.read_tflite("0123456789ab"),
         "variant 0123456789ab is missing", "expected '.*0123456789ab.tflite'", StoreError),
    Case("recipe option of the wrong type in Python", "api", lambda c: lambda: make_config(
        "int8", {"calibration_samples": 2.5}), "Received: calibration_samples=2.5",
        "must be a whole number", RecipeError),
]


def _prepare(model, data, **options):
    from workbench.pipeline import prepare_task

    return prepare_task(model, data, progress=False, **options)


def _broken_metric(y_true, y_pred):
    return 1 / 0


def _load(path):
    from workbench.data import load_npz

    return load_npz(path)


def _load_npz(c, name, content):
    return _load(_write(c, name, content))


def _load_model(source):
    from workbench.loading import load_model

    return load_model(source)


def _folder(c, name):
    folder = c.folder / name
    folder.mkdir(exist_ok=True)
    return folder


def _inspect(data):
    from workbench.tflite_inspect import inspect_tflite

    return inspect_tflite(data)


def _profile(name):
    from workbench.devices import load_profile

    return load_profile(name)


def _representative(array):
    from workbench.data import representative_array

    return representative_array(array, (None, 8, 8, 1))


def _recommend(drop):
    from workbench.advisor import recommend

    return recommend("labelled", "cpu", "size", drop)


def _upload(panel, name: str, content: bytes, data: bool = False):
    widget = panel.data_upload if data else panel.model_upload
    widget.value = ({"name": name, "type": "", "size": len(content),
                     "content": memoryview(content), "last_modified": NOW},)
    panel.load()
    return panel.status


def _run_without_task(app):
    task, app.state.task = app.state.task, None
    try:
        app.techniques.run()
    finally:
        app.state.task = task
    return app.techniques.status


def _click_deleted_artifact(app, c):
    """The point of a stored variant whose .tflite was deleted behind the app's back."""
    row = app.state.results.iloc[0]
    path = Path(row["tflite_path"])
    aside = path.with_suffix(".aside")
    path.replace(aside)
    try:
        app.explorer.show(row["run_id"])
    finally:
        aside.replace(path)
    return app.explorer.status


WIDGET = [
    Case("upload: not a model", "widget", lambda c: lambda app: _upload(
        app.model_panel, "broken.keras", b"garbage"), "'broken.keras' is not a model file",
        "Expected a .keras file"),
    Case("upload: wrong file type", "widget", lambda c: lambda app: _upload(
        app.model_panel, "notes.txt", b"hi"), "Received 'notes.txt'", "expected a .keras file"),
    Case("upload: NUL byte in the name", "widget", lambda c: lambda app: _upload(
        app.model_panel, "a\x00b.keras", b"x"), r"named 'a\\x00b\.keras'",
        "cannot be empty or hold control characters"),
    Case("upload: over the size limit", "widget", lambda c: lambda app: _upload(
        app.model_panel, "huge.keras", bytes(200 * 2**20 + 1)),
        r"is 209,715,201 bytes \(200\.0 MB\)", r"the limit is 209,715,200 bytes \(200 MB\)"),
    Case("upload: dataset with negative labels", "widget", lambda c: lambda app: _upload(
        app.model_panel, "my data.npz", Path(badfiles.dataset_npz(
            c.folder, "neg-upload", c.data, y_test=-np.ones(len(c.data.y_test), int)))
        .read_bytes(), data=True), r"y_test\[0\] = -1", "Expected class indices"),
    Case("upload: truncated .npz names the upload", "widget", lambda c: lambda app: _upload(
        app.model_panel, "cut data.npz", Path(badfiles.dataset_npz(c.folder, "w2", c.data))
        .read_bytes()[:9000], data=True), "'cut data.npz' is a damaged .npz",
        "Expected a file written by numpy.savez"),
    Case("run with no model loaded", "widget", lambda c: _run_without_task,
         "No model is loaded", "Expected one: load it in the Model and data tab"),
    Case("details of a deleted artifact", "widget", lambda c: lambda app:
         _click_deleted_artifact(app, c), r"variant [0-9a-f]{12} is missing",
         r"expected '.*[0-9a-f]{12}\.tflite'"),
]

CASES = CLI + API + WIDGET


def test_the_table_is_big_enough():
    assert len(CASES) >= 50
    assert {case.surface for case in CASES} == {"cli", "api", "widget"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def app(ctx):
    from widgets import WorkbenchApp

    return WorkbenchApp(ctx.workspace)


def _cli_argv(ctx, argv: list[str]) -> list[str]:
    command = ["run"] if argv[0] != "estimate" else []
    extra = [] if "--workspace" in argv else ["--workspace", str(ctx.workspace)]
    if command and "--out" not in argv:
        extra += ["--out", str(ctx.folder / "out")]
    if command and "--recipe" not in argv:
        extra += ["--recipe", "int8"]
    return [*command, *argv, *extra]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case, ctx, capsys, request):
    before = stored(ctx.store)
    if case.surface == "cli":
        code = main(_cli_argv(ctx, case.build(ctx)))
        captured = capsys.readouterr()
        message = captured.err.strip()
        assert code == 2, message
        assert message.startswith("error: ") and "\n" not in message, message
        assert "Traceback" not in captured.out + captured.err
    elif case.surface == "api":
        with pytest.raises(case.error) as raised:
            case.build(ctx)()
        message = str(raised.value)
    else:
        app = request.getfixturevalue("app")
        status = case.build(ctx)(app)
        message = status.text
        assert "wb-error" in status.value, message
        assert app.state.task is not None and app.state.task.name == "default"
        assert str(ctx.workspace / "uploads") not in message  # names the upload, not the path
    assert re.search(case.received, message), (case.received, message)
    assert re.search(case.expected, message), (case.expected, message)
    assert stored(ctx.store) == before


def test_logs_never_come_before_the_one_line_error(tmp_path):
    """In a real process, TensorFlow's and absl's log lines are silenced (--debug shows them)."""
    junk = tmp_path / "junk.keras"
    junk.write_text("junk")
    for args in (["run", "--recipe", "int8", "--model", str(junk)],
                 ["run", "--recipe", "int8", "--out", str(junk)],
                 ["estimate", "--tflite", str(junk), "--device", "cortex_m7"]):
        done = run_cli(*args, "--workspace", str(tmp_path / "ws"))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    debug = run_cli("run", "--recipe", "int8", "--model", str(junk), "--workspace",
                    str(tmp_path / "ws"), "--debug")
    assert "Traceback" in debug.stderr and debug.returncode != 0
