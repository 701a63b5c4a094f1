"""The panels, headless: build them, set values, click, and check the state and the results
they produced with the real workbench (default task, small settings)."""

import html
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from conftest import REPO
from widgets import WorkbenchApp
from workbench.tflite_inspect import inspect_tflite

NOW = datetime.now(timezone.utc)


@pytest.fixture
def app(fresh_workspace):
    return WorkbenchApp(fresh_workspace)


def answer(wizard, **answers):
    for key, value in answers.items():
        wizard.answers[key].value = value


def test_opening_on_a_workspace_with_results_shows_them(workspace, ptq_rows):
    app = WorkbenchApp(workspace)
    assert app.state.task.name == "default"
    assert set(ptq_rows) <= set(app.state.results["recipe"])
    assert len(app.explorer.figure.data) >= 1
    assert "int8" in app.results.table.value
    layers = app.model_panel.layers.value
    assert "<th>macs</th>" in layers and "294912" in layers  # down_conv: 8x8 -> 4x4x32, 3x3x32
    names = [trace.name for trace in app.explorer.figure.data]
    assert "Pareto front" in names


def test_wizard_recommends_and_runs_int8_for_the_edge_tpu(app):
    wizard = app.wizard
    assert wizard.run_button.disabled
    shown = [step.layout.display != "none" for step in wizard.steps]
    assert shown == [True, False, False, False]  # one question at a time
    answer(wizard, data="unlabelled")
    assert [step.layout.display != "none" for step in wizard.steps] == [True, True, False, False]
    answer(wizard, hardware="edge_tpu", priority="latency")
    assert all(step.layout.display != "none" for step in wizard.steps)
    assert "representative sample" not in wizard.recommendation.value
    assert "calibrates activation ranges" in wizard.explanations["data"].value
    assert "Edge TPU runs only full-integer int8" in wizard.explanations["hardware"].value
    assert "<b>int8</b>" in wizard.recommendation.value
    assert app.state.device == "edge_tpu" and not wizard.run_button.disabled
    wizard.run_button.click()
    job = app.state.job.wait(600)
    assert job.state == "finished", job.error
    assert list(app.state.results["recipe"]) == ["int8"]
    assert app.state.results["fits__edge_tpu"].iloc[0] == 1
    assert app.explorer.device.value == "est_ms__edge_tpu"
    plotted = [trace for trace in app.explorer.figure.data if trace.name == "default"]
    assert plotted and list(plotted[0].text) == ["int8"]
    assert app.state.message.startswith("Finished")


def test_no_data_and_integer_hardware_recommends_nothing_runnable(app):
    answer(app.wizard, data="none", hardware="microcontroller", priority="size")
    assert app.wizard.run_button.disabled
    assert "representative sample" in app.wizard.recommendation.value


def test_technique_options_come_from_the_recipe_config(app):
    panel = app.techniques
    panel.recipe.value = "prune"
    sparsity = panel.option_widgets["sparsity"]
    assert (sparsity.value, sparsity.max) == (0.8, pytest.approx(0.99, abs=0.01))
    assert panel.option_widgets["schedule"].options == ("polynomial", "constant")
    panel.option_widgets["epochs"].value = 1
    assert panel.config().epochs == 1


def test_cancel_stops_cleanly_and_stores_nothing_partial(app):
    panel = app.techniques
    panel.recipe.value = "prune"
    panel.option_widgets["epochs"].value = 5
    job = panel.run()
    panel.cancel_button.click()
    job.wait(600)
    assert job.state == "cancelled"
    assert panel.progress.bar_style == "warning" and not panel.run_button.disabled
    assert app.state.results.empty
    assert "cancelled" in panel.log_area.value


def test_a_broken_upload_shows_an_error_in_its_panel_and_the_app_keeps_working(app):
    panel = app.model_panel
    panel.model_upload.value = ({"name": "broken.keras", "type": "", "size": 7,
                                 "content": memoryview(b"garbage"), "last_modified": NOW},)
    assert panel.load() is None
    assert "wb-error" in panel.status.value and "broken.keras" in panel.status.text
    assert str(app.state.workspace) not in panel.status.text  # the upload, not the server path
    assert "Traceback" not in panel.status.text
    assert app.state.task.name == "default"  # the loaded model stays
    panel.model_upload.value = ({"name": "notes.txt", "type": "", "size": 2,
                                 "content": memoryview(b"hi"), "last_modified": NOW},)
    assert panel.load() is None and "expected a .keras file" in panel.status.text


def test_details_and_comparison(workspace, ptq_rows):
    app = WorkbenchApp(workspace)
    row = app.state.results.set_index("recipe").loc["int8"].copy()
    row["recipe"] = "int8"
    details = html.unescape(app.explorer.show(row))
    assert "download the .tflite" in details and "workbench.make_config('int8'" in details
    assert "FULLY_CONNECTED" in details
    (histogram,) = app.explorer.histogram.data
    assert histogram.x.min() >= -128 and histogram.x.max() <= 127  # int8 codes
    kernels = inspect_tflite(row["tflite_path"]).weight_tensors()
    assert len(histogram.x) == sum(kernel.data.size for kernel in kernels)
    ids = list(app.state.results.set_index("recipe").loc[["int8", "float32"], "run_id"])
    app.results.pick.value = tuple(ids)
    assert "default / int8" in app.results.comparison.value


def test_the_core_never_imports_the_ui():
    code = "import sys, workbench, workbench.pipeline; print('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.stdout.strip() == "False", done.stderr


HOSTILE = "<img src=x onerror=alert(1)>"


def page_texts(widget) -> list[str]:
    """Every string the app puts on the page: HTML values, labels, plot names and texts."""
    import ipywidgets as w

    found = []
    if isinstance(widget, (w.HTML, w.Label, w.HTMLMath)):
        found.append(widget.value)
    if hasattr(widget, "data") and hasattr(widget, "layout") and hasattr(widget, "to_dict"):
        found.append(str(widget.to_dict()))  # a plotly FigureWidget: traces and layout
    for child in getattr(widget, "children", ()):
        found += page_texts(child)
    return found


def _upload_model(panel, name: str, model, folder) -> None:
    model.save(folder / "upload.keras")
    content = (folder / "upload.keras").read_bytes()
    panel.model_upload.value = ({"name": name, "type": "", "size": len(content),
                                 "content": memoryview(content), "last_modified": NOW},)


def test_names_from_users_and_files_are_escaped_everywhere(fresh_workspace, tmp_path):
    import keras

    from workbench.report import write_report

    app = WorkbenchApp(fresh_workspace)
    inputs = keras.Input((8, 8, 1))
    hostile_layer = keras.layers.Flatten(name="<b onmouseover=alert(2)>flat")(inputs)
    _upload_model(app.model_panel, "layers.keras",
                  keras.Model(inputs, keras.layers.Dense(10)(hostile_layer)), tmp_path)
    assert app.model_panel.load() is True
    assert "&lt;b onmouseover=alert(2)&gt;flat" in app.model_panel.layers.value
    app.techniques.recipe.value = "float32"
    app.techniques.run().wait(600)  # refused before any work, the layer named, escaped
    assert "cannot be converted" in app.state.message and "<b onmouseover" in app.state.message

    plain = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    _upload_model(app.model_panel, f"{HOSTILE}.keras", plain, tmp_path)
    assert app.model_panel.load() is True and app.state.task.name == HOSTILE
    job = app.techniques.run().wait(600)
    assert job.state == "finished" and not job.result.failures, (job.error, job.result)
    row = app.state.results.iloc[0]
    app.explorer.show(row)
    app.results.pick.value = (row["run_id"],)
    shown = "\n".join(page_texts(app))
    assert HOSTILE not in shown and "<b onmouseover" not in shown
    assert html.escape(HOSTILE) in shown  # the name is there, as text
    report = write_report(app.state.results, tmp_path / "report.html").read_text()
    assert HOSTILE not in report and html.escape(HOSTILE) in report
