"""python -m workbench run|sweep: outputs on success, one-line errors on bad input."""

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from workbench.cli import main
from workbench.recipes import RECIPES
from workbench.stages import STAGES
from workbench.store import RESULT_COLUMNS


def test_run_writes_results_tflite_and_report(fresh_workspace, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--recipe", "int8", "--set", "inference_input_type=float32",
                 "--workspace", str(fresh_workspace), "--out", str(out), "--latency-runs", "3"])
    assert code == 0
    frame = pd.read_csv(out / "results.csv")
    assert list(frame.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS) and len(frame) == 1
    from workbench.devices import available_devices

    # then three estimate columns per device profile
    assert len(frame.columns) == len(RESULT_COLUMNS) + 3 * len(available_devices())
    row = frame.iloc[0]
    assert row["recipe"] == "int8" and '"inference_input_type": "float32"' in row["config"]
    assert (out / row["tflite_path"].split("/")[-1]).stat().st_size == row["size_bytes"]
    assert row["accuracy"] >= 0.95 and row["latency_ms_all_cores"] > 0
    report = (out / "report.html").read_text()
    assert "plotly" in report and "<td>int8</td>" in report
    assert "<td>inference_input_type=float32</td>" in report  # the options the run used
    assert f"<td>{row['run_id']}</td>" in report
    assert 'src="http' not in report  # standalone: opens without a network
    assert "wrote" in capsys.readouterr().out


def test_run_composes_stages_with_dotted_options(fresh_workspace, tmp_path):
    out = tmp_path / "out"
    code = main(["run", "--recipe", "cluster+dynamic_range", "--set", "cluster.clusters=4",
                 "cluster.epochs=0", "--workspace", str(fresh_workspace), "--out", str(out),
                 "--latency-runs", "2", "--devices", "host"])
    assert code == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["recipe"] == "cluster+dynamic_range"
    assert '"cluster.clusters": 4' in row["config"] and '"cluster.epochs": 0' in row["config"]
    from workbench.tflite_inspect import inspect_tflite

    tflite = out / row["tflite_path"].split("/")[-1]
    assert inspect_tflite(tflite).max_unique_weights(per_channel=True) <= 4  # shared values kept
    assert "<td>cluster.clusters=4, cluster.epochs=0</td>" in (out / "report.html").read_text()
    code = main(["run", "--recipe", "cluster+dynamic_range", "--set", "clusters=4",
                 "--workspace", str(fresh_workspace), "--out", str(out)])
    assert code == 2


def test_sweep_on_zoo_model_leaves_accuracy_empty(tmp_path):
    out = tmp_path / "out"
    code = main(["sweep", "--model", "mobilenet_v1:32", "--recipes", "float32,int8",
                 "--workspace", str(tmp_path / "ws"), "--out", str(out), "--latency-runs", "3"])
    assert code == 0
    frame = pd.read_csv(out / "results.csv")
    assert list(frame["recipe"]) == ["float32", "int8"]
    assert frame["accuracy"].isna().all() and frame["float_accuracy"].isna().all()
    assert frame.loc[1, "size_bytes"] < 0.3 * frame.loc[0, "size_bytes"]
    assert set(frame["model"]) == {"mobilenet_v1:32"}


def _npz(path, x_train, y_train, x_test, y_test):
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


@pytest.fixture
def bad_inputs(tmp_path, default_task):
    data = default_task.dataset
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("plain text")
    truncated = tmp_path / "cut.keras"
    default_task.model.save(tmp_path / "whole.keras")
    truncated.write_bytes((tmp_path / "whole.keras").read_bytes()[:5000])
    nan_train = data.x_train.copy()
    nan_train[5] = np.nan
    return {
        "missing file": (["--model", str(tmp_path / "absent.keras")], "No model file"),
        "not a model": (["--model", str(not_a_model)], "is not a model file"),
        "truncated .keras": (["--model", str(truncated)], "damaged .keras archive"),
        "npz missing arrays": (["--data", str(tmp_path / "x.npz")], None),
        "npz wrong shape": (["--data", _npz(tmp_path / "shape.npz", data.x_train[..., 0],
                                            data.y_train, data.x_test[..., 0], data.y_test)],
                            r"samples of shape (8, 8) but model 'default' expects inputs of "
                            r"shape (8, 8, 1)"),
        "NaN in representative data": (["--data", _npz(tmp_path / "nan.npz", nan_train,
                                                       data.y_train, data.x_test, data.y_test)],
                                       "NaN or infinite values"),
        "unknown zoo name": (["--model", "mobilenet_v9"], "Unknown zoo model 'mobilenet_v9'"),
        "bad --set": (["--set", "integer_only"], "expected KEY=VALUE"),
        "--set twice": (["--set", "calibration_samples=8", "calibration_samples=4"],
                        "Received --set calibration_samples twice ('8' and '4'); give each "
                        "option once."),
    }


def test_bad_inputs_end_with_one_line_errors(bad_inputs, fresh_workspace, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x_train=np.zeros((2, 8, 8, 1)))
    bad_inputs["npz missing arrays"] = (bad_inputs["npz missing arrays"][0],
                                        "lacks the array(s) y_train, x_test, y_test")
    for case, (arguments, message) in bad_inputs.items():
        code = main(["run", "--recipe", "int8", "--workspace", str(fresh_workspace),
                     "--out", str(tmp_path / "out"), *arguments])
        err = capsys.readouterr().err.strip()
        assert code == 2, case
        assert err.startswith("error: ") and "\n" not in err, (case, err)
        assert message in err, (case, err)


def test_unknown_recipe_in_a_subprocess_has_no_traceback(tmp_path):
    result = run_cli("sweep", "--recipes", "float32,int4", "--workspace", str(tmp_path),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: Unknown recipe 'int4' (did you mean int8?). Expected one of: "
        f"{', '.join(RECIPES)}; or stage names "
        f"joined by '+', the export last (stages: {', '.join(STAGES)}), e.g. prune+cluster+int8.")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_sweep_names_every_bad_recipe_before_any_work(tmp_path, capsys):
    code = main(["sweep", "--recipes", "float32,cluster+prune+int8,prnue+int8",
                 "--workspace", str(tmp_path / "ws"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "\n" not in err.strip()
    assert "prune cannot come after cluster" in err and "'prnue' (did you mean prune?)" in err
    assert not (tmp_path / "ws").exists() and not (tmp_path / "out").exists()


def test_lambda_model_needs_unsafe(tmp_path, capsys):
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(
        lambda t: t * 1.0)(inputs)))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    common = ["run", "--recipe", "float32", "--model", str(path), "--workspace",
              str(tmp_path / "ws"), "--out", str(tmp_path / "out"), "--latency-runs", "2"]
    assert main(common) == 2
    assert "--unsafe" in capsys.readouterr().err
    assert main([*common, "--unsafe"]) == 0
