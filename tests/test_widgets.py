"""The panels, headless: build them, set values, click, and check the state and the values they
show, with the real workbench (default task, small settings)."""

import base64
import html
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from widgets import WorkbenchApp
from widgets.options import option_widget
from workbench.recipes import RECIPES, make_config
from workbench.tflite_inspect import inspect_tflite

NOW = datetime.now(timezone.utc)


@pytest.fixture
def app(fresh_workspace):
    return WorkbenchApp(fresh_workspace)


def answer(wizard, **answers):
    for key, value in answers.items():
        wizard.answers[key].value = value


def traces(chart) -> dict:
    """The chart's traces by name."""
    return {trace["name"]: trace for trace in chart.figure["data"]}


def test_opening_on_a_workspace_with_results_shows_them(workspace, ptq_rows):
    app = WorkbenchApp(workspace)
    assert app.state.task.name == "default"
    assert set(ptq_rows) <= set(app.state.results["recipe"])
    shown = traces(app.explorer.chart)
    assert {"float32", "int8", "Pareto front"} <= set(shown)
    assert [row[0] for row in shown["int8"]["customdata"]] == \
        list(app.state.model_results().query("recipe == 'int8'")["run_id"])
    counted = re.search(r"(\d+) of (\d+) plotted are on it",
                        html.unescape(app.explorer.explanation.value))
    plotted = sum(len(trace.get("customdata") or []) for trace in shown.values()
                  if trace["name"] != "Pareto front")
    assert (int(counted.group(1)), int(counted.group(2))) == \
        (len(shown["Pareto front"]["x"]), plotted)  # the sentence counts what is drawn
    table = app.results.table.value
    assert "<th>Size (KB)</th>" in table and "<th>Lost vs float</th>" in table
    layers = app.model_panel.layers.value
    assert "<th>macs</th>" in layers and "294912" in layers  # down_conv: 8x8 -> 4x4x32, 3x3x32


def test_every_option_widget_starts_at_its_config_default_and_keeps_typed_values():
    for name, recipe in RECIPES.items():
        widgets = {spec.name: option_widget(spec) for spec in recipe.options()}
        untouched = make_config(name, {key: widget.value for key, widget in widgets.items()})
        assert untouched == make_config(name), name
    prune = {spec.name: option_widget(spec) for spec in RECIPES["prune"].options()}
    assert prune["learning_rate"].value == 0.001 and prune["sparsity"].value == 0.8
    prune["learning_rate"].text.value = 0.000375  # typed
    prune["learning_rate"].slider.value = 0.00037501  # the slider's own snapping, echoed back
    prune["sparsity"].value = 0.7992
    config = make_config("prune", {key: widget.value for key, widget in prune.items()})
    assert (config.learning_rate, config.sparsity) == (0.000375, 0.7992)
    prune["learning_rate"].slider.value = 0.01  # a real drag writes a rounded value
    assert prune["learning_rate"].value == 0.01


def test_wizard_recommends_runs_and_judges_int8_for_the_edge_tpu(app):
    wizard = app.wizard
    assert wizard.run_button.disabled
    shown = [step.layout.display != "none" for step in wizard.steps]
    assert shown == [True, False, False, False]  # one question at a time
    answer(wizard, data="unlabelled")
    assert [step.layout.display != "none" for step in wizard.steps] == [True, True, False, False]
    answer(wizard, hardware="edge_tpu", priority="latency")
    assert "calibrates activation ranges" in wizard.explanations["data"].value
    assert "<b>int8</b>" in wizard.recommendation.value
    assert "at most 1 point(s) of test accuracy" in wizard.drop_meaning.value
    assert app.state.device == "edge_tpu" and not wizard.run_button.disabled
    wizard.run_button.click()
    job = app.state.job.wait(600)
    assert job.state == "finished", job.error
    assert wizard.progress.value == 1.0
    assert list(app.state.results["recipe"]) == ["float32", "int8"]  # baseline added
    assert app.state.results["fits__edge_tpu"].iloc[0] == 1
    assert "int8 meets the target" in wizard.outcome.value
    assert wizard.next_button.layout.display == "none"
    assert app.explorer.device.value == "est_ms__edge_tpu"
    assert [row[0] for row in traces(app.explorer.chart)["int8"]["customdata"]] == \
        list(app.state.results.query("recipe == 'int8'")["run_id"])
    app.state.device = "cortex_m7"  # the verdict on screen follows the device
    assert "estimated on cortex_m7" in wizard.outcome.value
    assert "edge_tpu" not in wizard.outcome.value


def test_wizard_recommends_the_next_step_when_int8_loses_too_much(fresh_workspace):
    app = WorkbenchApp(fresh_workspace, model="digits_outlier")
    wizard = app.wizard
    answer(wizard, data="labelled", hardware="edge_tpu", priority="latency")
    wizard.drop.value = 1.0
    wizard.run_button.click()
    assert app.state.job.wait(600).state == "finished"
    assert "No variant meets the target yet: int8 loses" in wizard.outcome.value
    assert wizard.next_button.layout.display is None
    assert wizard.next_button.description == "Run the next step: qat"
    assert "quantization-aware training" in wizard.outcome.value


def test_find_it_for_me_searches_the_device_draws_each_trial_and_stop_keeps_them(app):
    import time

    wizard, search = app.wizard, app.wizard.search
    assert search.find_button.disabled  # nothing answered yet
    answer(wizard, data="labelled", hardware="microcontroller", priority="size")
    assert app.state.device == "cortex_m7" and not search.find_button.disabled
    search.trials.value = 2
    search.find_button.click()
    job = app.state.job.wait(600)
    assert job.state == "finished", job.error
    result = job.result
    assert result.device == "cortex_m7" and "within 1 point" in result.reason
    assert len(result.trials) == 2 and [r["trial"] for r in search.heard] == [1, 2]
    drawn = sorted(x for trace in search.chart.figure["data"] if trace["mode"] == "markers"
                   and trace["xaxis"] == "x" for x in trace["x"])
    assert drawn == [1, 2]  # every trial on the history chart, by its number
    assert f"Found: {result.choice['variant']}" in search.outcome.value
    assert set(result.trials["run_id"]) <= set(app.state.results["run_id"])  # in Results
    assert "float32" in set(app.state.results["recipe"])  # the baseline came first
    search.find_button.click()  # the same search again: it resumes, nothing left to run
    again = app.state.job.wait(600)
    assert again.state == "finished" and list(again.result.trials["run_id"]) == \
        list(result.trials["run_id"])
    assert all(row.get("earlier") for row in search.heard) and len(search.heard) == 2
    assert sorted(x for trace in search.chart.figure["data"] if trace["mode"] == "markers"
                  and trace["xaxis"] == "x" for x in trace["x"]) == [1, 2]
    search.status.error("an earlier search's error")
    app.state.device = "edge_tpu"  # an answer for cortex_m7 does not stay under edge_tpu
    assert search.outcome.value == "" and search.chart.layout.display == "none"
    assert search.status.text == ""
    app.state.device = "cortex_m7"
    wizard.drop.value = 2.0  # another budget: another study
    search.trials.value = 10
    search.find_button.click()
    deadline = time.monotonic() + 600
    while not search.heard and app.state.job.active:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    heard_at_stop = len(search.heard)
    search.stop_button.click()
    stopped = app.state.job.wait(600)
    assert stopped.state == "finished", stopped.error
    assert stopped.result.reason.startswith("Stopped by the user")
    kept = list(stopped.result.trials["run_id"])
    assert sorted(kept) == sorted(row["run_id"] for row in search.heard if "run_id" in row)
    # no new trial after Stop: only those running then could still finish (one per worker)
    assert heard_at_stop <= len(kept) <= heard_at_stop + (os.cpu_count() or 1)
    assert set(kept) <= set(app.state.results["run_id"])
    assert "within 2 points" in stopped.result.reason
    assert search.stop_button.layout.display == "none"


def test_no_data_and_integer_hardware_recommends_nothing_runnable(app):
    answer(app.wizard, data="none", hardware="microcontroller", priority="size")
    assert app.wizard.run_button.disabled
    assert "representative sample" in app.wizard.recommendation.value


def test_the_wizard_targets_the_users_own_board_of_the_answered_kind(fresh_workspace):
    from workbench.devices.profiles import load_profile

    (fresh_workspace / "devices").mkdir()
    text = open(load_profile("cortex_m7").source.strip("'")).read()
    (fresh_workspace / "devices" / "board.toml").write_text(
        text.replace('name = "cortex_m7"', 'name = "board"'))
    app = WorkbenchApp(fresh_workspace)
    answer(app.wizard, data="unlabelled", hardware="microcontroller", priority="size")
    assert app.state.device == "board"
    assert "Judged on: board (also of this kind: cortex_m7" in app.wizard.recommendation.value
    app.wizard.answers["hardware"].value = "edge_tpu"  # not a microcontroller: the built-in
    assert app.state.device == "edge_tpu"


def test_training_shows_epochs_live_progress_forward_and_a_result_line(app):
    panel = app.techniques
    panel.recipe.value = "prune"
    panel.option_widgets["epochs"].value = 2
    fractions = []
    app.state.observe(lambda change: change["new"].add_listener(
        lambda job: fractions.append(job.overall_fraction)), names="job")
    job = panel.run().wait(600)
    assert job.state == "finished", job.error
    assert [epoch["epoch"] for epoch in job.epochs] == [1, 2]
    loss = panel.chart.figure["data"][0]
    assert loss["name"] == "loss" and len(loss["y"]) == 2 and loss["y"][0] > 0
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # never backwards
    assert re.search(r"prune \(epochs=2\) on default: top1 \d+\.\d% "
                     r"\((\d+\.\d points (lost|gained)|as the float model)\)", panel.result.value)
    assert re.search(r"\d\d:\d\d:\d\d  finished: float32, prune \(epochs=2\) on default",
                     panel.log_view.value)  # the baseline comes first


def test_a_composed_recipe_runs_and_its_code_rebuilds_it(app):
    panel = app.techniques
    panel.recipe.value = "compose stages…"
    composer = panel.composer
    assert composer.layout.display is None and composer.name == "int8"
    for stage in ("qat", "cluster"):  # an order the stages refuse: shown, Run disabled
        composer.stage.value = stage
        composer.add_button.click()
    assert composer.name == "" and panel.run_button.disabled
    assert "cluster cannot come after qat" in html.unescape(composer.chain.value)
    assert panel.run() is None and "cluster cannot come after qat" in panel.status.value
    composer.remove_button.click()
    composer.remove_button.click()
    composer.stage.value = "prune_2x4"
    composer.add_button.click()
    panel.option_widgets["prune_2x4.epochs"].value = 1  # kept as the chain grows
    composer.stage.value = "cluster"
    composer.add_button.click()
    composer.export.value = "dynamic_range"
    assert composer.name == "prune_2x4+cluster+dynamic_range" and not panel.run_button.disabled
    assert panel.option_widgets["prune_2x4.epochs"].value == 1
    composer.stage.value = "qat"  # an invalid chain, then back: the typed value stays
    composer.add_button.click()
    assert composer.name == "" and panel.option_widgets == {}
    composer.remove_button.click()
    panel.recipe.value = "int8"  # another recipe, then back: the typed value stays
    panel.recipe.value = "compose stages…"
    assert panel.option_widgets["prune_2x4.epochs"].value == 1
    panel.option_widgets["cluster.epochs"].value = 0
    panel.option_widgets["cluster.clusters"].value = 8
    job = panel.run().wait(600)
    assert job.state == "finished", job.error
    row = app.state.results.query("recipe == 'prune_2x4+cluster+dynamic_range'").iloc[-1]
    assert row["weight_sparsity"] >= 0.49
    assert inspect_tflite(row["tflite_path"]).max_unique_weights(per_channel=True) <= 8
    app.explorer.show(row["run_id"])
    code = html.unescape(app.explorer.details.extra.value)
    call = re.search(r"workbench\.make_config\(.*\)", code).group(0)
    import workbench

    rebuilt = eval(call, {"workbench": workbench})
    assert rebuilt == panel.config() and rebuilt.to_json() == make_config(
        row["recipe"], json.loads(row["config"])).to_json()


def test_cancel_stops_cleanly_and_stores_nothing_partial(app):
    panel = app.techniques
    panel.recipe.value = "prune"
    panel.option_widgets["epochs"].value = 5
    job = panel.run()
    panel.cancel_button.click()
    job.wait(600)
    assert job.state == "cancelled"
    assert panel.progress.bar_style == "warning" and not panel.run_button.disabled
    assert set(app.state.results["recipe"]) <= {"float32"}  # at most the baseline, no prune
    assert "cancelled" in panel.log_view.value


def test_a_broken_upload_shows_an_error_in_its_panel_and_the_app_keeps_working(app):
    panel = app.model_panel
    panel.model_upload.value = ({"name": "broken.keras", "type": "", "size": 7,
                                 "content": memoryview(b"garbage"), "last_modified": NOW},)
    assert panel.load() is None
    assert "wb-error" in panel.status.value and "broken.keras" in panel.status.text
    assert str(app.state.workspace) not in panel.status.text  # the upload, not the server path
    assert app.state.task.name == "default"  # the loaded model stays
    panel.model_upload.value = ({"name": "notes.txt", "type": "", "size": 2,
                                 "content": memoryview(b"hi"), "last_modified": NOW},)
    assert panel.load() is None and "expected a .keras file" in panel.status.text


def test_model_menu_follows_the_loaded_model_and_lists_earlier_uploads(app, tmp_path):
    import keras

    panel = app.model_panel
    assert panel.choice.value == "default"
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))).save(
        tmp_path / "mine.keras")
    content = (tmp_path / "mine.keras").read_bytes()
    panel.model_upload.value = ({"name": "mine.keras", "type": "", "size": len(content),
                                 "content": memoryview(content), "last_modified": NOW},)
    assert panel.load() is True
    assert panel.choice.value == "upload: mine.keras"
    assert "without a dataset: its variants will have no score" in panel.status.text
    panel.choice.value = "digits_outlier"
    assert panel.load() is True and app.state.task.name == "digits_outlier"
    panel.choice.value = "upload: mine.keras"  # an earlier upload, reused
    assert panel.load() is True and app.state.task.name == "mine"


@pytest.fixture
def explored(fresh_workspace, default_task):
    """An app on a workspace holding float32, int8 and prune (one epoch) of the default model."""
    from workbench.pipeline import sweep
    from workbench.store import ExperimentStore

    configs = [make_config("float32"), make_config("int8"), make_config("prune", {"epochs": 1})]
    sweep(default_task, configs, ExperimentStore(fresh_workspace), latency_runs=2,
          progress=False, devices=["cortex_m7", "host"])
    return WorkbenchApp(fresh_workspace)


def test_clicking_each_point_shows_that_variant(explored):
    explorer = explored.explorer
    shown = traces(explorer.chart)
    points = [(name, row) for name, trace in shown.items() if name != "Pareto front"
              for row in trace["customdata"]]
    # one legend entry per variant: options set away from the defaults are named
    assert sorted(name for name, _ in points) == ["float32", "int8", "prune (epochs=1)"]
    for name, customdata in points:
        explorer.chart.click([{"trace": 0, "index": 0, "customdata": customdata}])
        assert explorer.details.shown_run_id == customdata[0]
        assert f">{customdata[0]}</code>" in explorer.details.header.value
        assert f": {name}</h4>" in explorer.details.header.value


def test_the_host_estimate_can_be_chosen_beside_the_host_measurement(explored):
    explorer, state = explored.explorer, explored.state
    estimated = state.results.set_index("recipe").loc["int8", "est_ms__host"]
    explorer.device.value = "est_ms__host"  # both are "host": it used to snap back to measured
    assert (explorer.device.value, state.device) == ("est_ms__host", "host")
    assert traces(explorer.chart)["int8"]["customdata"][0][3] == pytest.approx(estimated)
    state.device = "cortex_m7"
    assert explorer.device.value == "est_ms__cortex_m7"
    state.device = "host"  # another panel choosing the host: its measured latency
    assert explorer.device.value == "latency_ms"


def test_details_show_deltas_verdict_where_time_goes_and_weights(explored):
    explorer, state = explored.explorer, explored.state
    state.device = "cortex_m7"
    rows = state.results.set_index("recipe")
    int8, float32 = rows.loc["int8"], rows.loc["float32"]
    explorer.show(int8["run_id"])
    details = explorer.details
    ratio = float32["size_bytes"] / int8["size_bytes"]
    assert f"{ratio:.1f}x smaller than the float32 variant" in details.figures.value
    assert re.search(r"(\d\.\d points (lost|gained) against|as) the float model",
                     details.figures.value)
    assert "On <b>cortex_m7</b>" in details.verdict.value and "524,288" not in \
        details.verdict.value and "of 512 KB" in details.verdict.value
    bars = details.time_chart.figure["data"][0]
    assert len(bars["x"]) > 0 and abs(sum(bars["x"]) - 0) > 0
    real, codes = details.histogram.figure["data"]
    kernels = inspect_tflite(int8["tflite_path"]).weight_tensors()
    assert sum(codes["y"]) == sum(kernel.data.size for kernel in kernels) == sum(real["y"])
    assert min(codes["x"]) >= -128 and max(codes["x"]) <= 127  # int8 codes
    explorer.show(float32["run_id"])  # a float model: one histogram of real values
    assert len(details.histogram.figure["data"]) == 1
    assert "workbench.make_config('float32'" in html.unescape(details.extra.value)


def test_results_read_at_a_glance_filter_download_compare_and_delete(explored):
    panel, state = explored.results, explored.state
    assert panel.model.value == "default"
    headers = re.findall(r"<th>([^<]*)</th>", panel.table.value)
    assert headers[:4] == ["Model", "Recipe", "Accuracy (%)", "Lost vs float"]
    cells = re.findall(r"<td>([^<]*)</td>", panel.table.value)
    assert {cells[i + 1] for i in range(0, len(cells), len(headers))} == \
        {"float32", "int8", "prune (epochs=1)"}
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', panel.download.value).group(1)
    csv = pd.read_csv(io.StringIO(base64.b64decode(link).decode()))
    assert len(csv) == 3
    assert sorted(csv["tflite_path"]) == sorted(f"{run_id}.tflite" for run_id in csv["run_id"])
    ids = state.results.set_index("recipe")["run_id"]
    state.device = "cortex_m7"
    panel.first.value, panel.second.value = ids["float32"], ids["int8"]
    comparison = panel.comparison.value
    size_row = re.search(r"<th>Size \(KB\)</th>(.*?)</tr>", comparison).group(1)
    assert size_row.index("wb-better") > size_row.index("</td>")  # int8, the second, is smaller
    fits_row = re.search(r"<th>Fits cortex_m7</th>(.*?)</tr>", comparison).group(1)
    assert fits_row == "<td class=''>no</td><td class='wb-better'>yes</td>"
    state.device = "host"
    fits_row = re.search(r"<th>Fits host</th>(.*?)</tr>", panel.comparison.value).group(1)
    assert fits_row == "<td class=''>yes</td><td class=''>yes</td>"  # a tie marks neither
    assert "<th>recipe</th><td>float32</td><td>int8</td>" in comparison
    artifact = Path(state.results.set_index("recipe").loc["prune", "tflite_path"])
    panel.to_delete.value = ids["prune"]
    panel.delete_button.click()
    assert panel.delete_button.description == "Confirm delete" and artifact.exists()
    panel.delete_button.click()
    assert "prune" not in set(state.results["recipe"]) and not artifact.exists()
    assert "prune" not in panel.table.value


def test_the_core_never_imports_the_ui():
    code = "import sys, workbench, workbench.pipeline; print('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.stdout.strip() == "False", done.stderr


HOSTILE = "<img src=x onerror=alert(1)>"


def page_texts(widget) -> list[str]:
    """Every string the app puts on the page: HTML values, labels, chart figures."""
    import ipywidgets as w

    found = []
    if isinstance(widget, (w.HTML, w.Label, w.HTMLMath)):
        found.append(widget.value)
    if isinstance(getattr(widget, "figure", None), dict):
        found.append(str(widget.figure))
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
    row = app.state.model_results().iloc[0]
    app.explorer.show(row["run_id"])
    app.explorer.scope.value = "all"
    app.results.model.value = "all models"
    shown = "\n".join(page_texts(app))
    assert HOSTILE not in shown and "<b onmouseover" not in shown
    assert html.escape(HOSTILE) in shown  # the name is there, as text
    report = write_report(app.state.results, tmp_path / "report.html").read_text()
    assert HOSTILE not in report and html.escape(HOSTILE) in report


def test_results_of_two_metrics_read_in_their_own_units_and_compare_without_error():
    from widgets.results_panel import comparison_rows, display_table

    frame = pd.DataFrame([
        {"model": "digits", "recipe": "int8", "accuracy": 0.97, "drop_points": 0.4,
         "metric": "top1", "higher_is_better": 1, "score": 0.97, "size_bytes": 2048},
        {"model": "houses", "recipe": "float32", "accuracy": None, "drop_points": 6.9e-7,
         "metric": "mae", "higher_is_better": 0, "score": 44.0, "size_bytes": 4096},
        {"model": "houses", "recipe": "int8", "accuracy": None, "drop_points": 0.102,
         "metric": "mae", "higher_is_better": 0, "score": 44.102, "size_bytes": 1024}])
    table = display_table(frame, "host")
    assert table["Lost vs float"].tolist() == ["0.4 points", "0", "0.102 MAE"]
    rows = {header: (texts, marks) for header, texts, marks in
            comparison_rows(frame.iloc[1], frame.iloc[2], "host")}
    assert table["Score"].tolist() == ["97.0%", "44.00", "44.10"]
    assert rows["Score"] == (["44.00", "44.10"], [True, False])  # MAE: lower is better
    assert rows["Metric"] == (["mae", "mae"], [False, False])
    mixed = {header: (texts, marks) for header, texts, marks in
             comparison_rows(frame.iloc[0], frame.iloc[2], "host")}
    assert mixed["Metric"] == (["top1", "mae"], [False, False])
    assert mixed["Score"][1] == [False, False]  # two metrics: neither score is better


def test_layer_names_are_typed_into_the_int8_options(app):
    panel = app.techniques
    panel.recipe.value = "int8"
    assert panel.option_widgets["keep_float"].value == ""  # a text box, empty by default
    panel.option_widgets["keep_float"].value = "block_pw, fc"
    panel.option_widgets["auto_keep_float"].value = 1
    config = panel.config()
    assert (config.export.keep_float, config.export.auto_keep_float) == ("block_pw,fc", 1)
    assert config.code() == ("workbench.make_config('int8', {'keep_float': 'block_pw,fc', "
                             "'auto_keep_float': 1})")


def test_sensitivity_measured_by_the_integer_kernels(app):
    panel, state = app.sensitivity, app.state
    panel.top.value = 0
    panel.source.label = "the integer kernels (workbench.kernels)"
    panel.measure().wait()
    table = state.sensitivity
    assert table.attrs["source"] == "kernels"
    assert set(table["layer"]) == {"stem_conv", "block_dw", "block_pw", "block_relu",
                                   "down_conv", "fc", "logits"}
    assert panel.chart.figure["data"][0]["x"] == list(table["rmse_over_scale"])[::-1]
    assert table["rmse_over_scale"].between(0.15, 0.6).all()  # rounding alone: 0.29
    title = panel.chart.figure["layout"]["title"]["text"]
    assert title.endswith(", by the integer kernels")  # what made the bars, whatever the menu
    assert "Errors measured by the integer kernels (workbench.kernels)." in panel.table.value
    assert f"<td>{table['cosine'][0]:.5f}</td>" in panel.table.value  # not rounded to "1"


def test_picking_layers_on_the_sensitivity_chart_runs_int8_with_them(app):
    panel, state = app.sensitivity, app.state
    panel.top.value = 1
    panel.measure().wait()
    table = state.sensitivity
    assert table.attrs["source"] == "debugger"  # the menu's default
    assert panel.chart.figure["layout"]["title"]["text"].endswith(
        ", by TF's quantization debugger")
    bars = panel.chart.figure["data"][0]
    assert [row[0] for row in bars["customdata"]] == list(table["layer"])[::-1]  # top: worst
    assert bars["x"] == list(table["rmse_over_scale"])[::-1]
    assert table["score_kept_float"].notna().tolist() == [True] + [False] * (len(table) - 1)
    first, second = table["layer"][0], table["layer"][1]
    panel.chart.click([{"customdata": [second]}])
    panel.chart.click([{"customdata": [first]}])
    panel.chart.click([{"customdata": [second]}])  # a second click unpicks
    assert panel.picked == [first] and panel.ticks[first].value
    colours = dict(zip((row[0] for row in panel.chart.figure["data"][0]["customdata"]),
                       panel.chart.figure["data"][0]["marker"]["color"]))
    assert colours[first] != colours[second]
    panel.ticks["down_conv"].value = True  # ticked by hand
    panel.keep_in.value = "int16_layers"
    assert panel.run_button.description == \
        f"Run int8 with int16 activations on {first}, down_conv"
    panel.run().wait()
    row = state.results[state.results["config"].str.contains("int16_layers")].iloc[-1]
    assert json.loads(row["config"])["int16_layers"] == ",".join(panel.picked)
    assert "int16 activations:" in row["notes"] and "down_conv" in row["notes"]
    explorer = app.explorer
    variant = f"int8 (int16_layers={','.join(panel.picked)})"
    assert f"{variant} on default: top1" in panel.status.text  # the variant's own line
    assert "float32 on default" not in panel.status.text
    shown = traces(explorer.chart)[variant]  # its own legend entry, apart from plain int8
    assert [point[0] for point in shown["customdata"]] == [row["run_id"]]
    assert [point[2] for point in shown["customdata"]] == [variant]  # and on hover
    explorer.show(row["run_id"])  # its graph: down_conv's conv runs in int16
    graph = {trace.get("name"): trace for trace in explorer.details.graph.figure["data"]}
    assert any("layer: down_conv" in text and "CONV_2D" in text
               for text in graph["int16"]["hovertext"])
    explorer.details.graph_colour.value = "sensitivity"
    valued = {trace.get("name"): trace for trace in explorer.details.graph.figure["data"]}
    errors = dict(zip(table["layer"], table["rmse_over_scale"]))
    colours = valued["int8 error (quantization steps)"]["marker"]["color"]
    assert round(errors["down_conv"], 5) in colours and explorer.details.graph_note.text == ""
    state.sensitivity = None  # as after loading another model: nothing to colour by
    assert "Measure the sensitivity of 'default' in the Per-layer tab first" in \
        explorer.details.graph_note.text
    assert (panel.ticks, panel.run_button.disabled, panel.progress.value) == ({}, True, 0.0)
    assert "int16" in {trace.get("name") for trace in explorer.details.graph.figure["data"]}
    state.device = "cortex_m7"
    explorer.details.graph_colour.value = "time"
    explorer.show(row["run_id"])
    figure = explorer.details.graph.figure
    shares = [share for trace in figure["data"][1:] if trace["name"] == "% of the time on "
              "cortex_m7"
              for share in trace["marker"]["color"]]
    assert sum(shares) == pytest.approx(100.0, abs=0.1)
    assert "time on cortex_m7" in figure["layout"]["title"]["text"]
    state.task = None  # the variant's model is not the loaded one: no layer names to show
    explorer.show(row["run_id"])
    assert "Load model 'default' in Model and data" in explorer.details.graph_note.text


def test_where_the_time_goes_adds_the_cost_per_invoke_to_the_ops(default_task):
    from widgets.details import TOP_OPS, time_figure
    from workbench.devices import estimate_tflite
    from workbench.ptq import convert
    from workbench.recipes import make_config

    samples = default_task.dataset.calibration_inputs(16)
    tflite = convert(default_task.model, make_config("int8", {"calibration_samples": 16}),
                     samples, progress=False)
    estimate = estimate_tflite(tflite, "edge_tpu")
    assert len(estimate.op_times) <= TOP_OPS  # every op gets its bar
    figure = time_figure(estimate)
    bars = dict(zip(figure["data"][0]["y"], figure["data"][0]["x"]))
    assert bars["per invoke"] > 1.0  # the USB Edge TPU's fixed cost dominates a tiny model
    assert sum(bars.values()) == pytest.approx(estimate.latency_ms)
    assert f"where the {estimate.latency_ms:.3g} ms go" in figure["layout"]["title"]["text"]


def test_results_latencies_keep_three_significant_digits():
    from widgets.results_panel import _format

    assert [_format(value, 1.0, "3 digits") for value in (1.996, 0.00668, 16.72, 123.4)] == \
        ["2.00", "0.00668", "16.7", "123"]
