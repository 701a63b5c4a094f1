"""The trade-off figure: accuracy when it exists, latency otherwise; never a made-up point;
one encoding per quantity, the baseline and the Pareto front marked."""

import subprocess
import sys

import pandas as pd
import pytest

from workbench.plots import RECIPE_COLOURS, pareto_front, tradeoff_figure, unplotted


def _frame(accuracy):
    return pd.DataFrame({
        "run_id": ["a1", "b2", "c3"], "model": ["m", "m", "z"],
        "recipe": ["float32", "int8", "float32"],
        "size_bytes": [4096, 1024, 2048], "gzip_bytes": [4000, 900, 1900],
        "accuracy": accuracy, "float_accuracy": [0.985, 0.985, None],
        "agreement": [1.0, 0.99, None], "latency_ms": [2.0, 1.0, 4.0],
    })


def test_accuracy_axis_leaves_out_rows_without_accuracy_and_says_why():
    frame = _frame([0.98, 0.97, None])
    figure = tradeoff_figure(frame)
    assert [trace.name for trace in figure.data] == ["float32", "int8", "Pareto front"]
    float32, int8, front = figure.data
    assert list(float32.x) == [4.0] and list(int8.y) == [0.97]
    assert list(float32.text) == ["baseline"] and int8.text is None
    assert list(front.x) == [1.0, 4.0]  # neither beats the other on both size and accuracy
    assert front.line.shape == "hv" and front.marker.symbol == "circle-open"
    assert list(int8.marker.color) == [1.0] and int8.marker.coloraxis == "coloraxis"
    assert figure.layout.yaxis.title.text == "accuracy (test split)"
    assert [line.y0 for line in figure.layout.shapes] == [0.985]  # the float model's accuracy
    assert list(unplotted(frame)["run_id"]) == ["c3"]
    assert "no dataset" in unplotted(frame)["reason"].iloc[0]


def test_latency_axis_when_no_accuracy_exists():
    figure = tradeoff_figure(_frame([None, None, None]), size="gzip_bytes")
    # two models: a legend entry for each model's symbol
    assert [trace.name for trace in figure.data] == ["float32", "int8", "model: m", "model: z"]
    assert list(figure.data[0].y) == [2.0, 4.0]
    assert figure.layout.xaxis.title.text == "gzip size (KB)"
    assert "gzip size %{x:.1f} KB" in figure.data[0].hovertemplate


def test_points_carry_their_run_id_and_model_symbol():
    figure = tradeoff_figure(_frame([0.98, 0.97, 0.5]))
    float32 = figure.data[0]
    assert [row[0] for row in float32.customdata] == ["a1", "c3"]
    assert list(float32.marker.symbol) == ["circle", "square"]  # one symbol per model


def test_unknown_size_column():
    with pytest.raises(ValueError, match="Received: size='bytes'"):
        tradeoff_figure(_frame([None] * 3), size="bytes")


def test_pareto_front_keeps_only_unbeaten_rows():
    frame = pd.DataFrame({"size": [1, 2, 3, 4, 2], "accuracy": [0.90, 0.95, 0.94, 0.97, 0.80]})
    assert list(pareto_front(frame, "size", "accuracy").index) == [0, 1, 3]


def test_the_pareto_front_holds_only_variants_that_run_on_the_device():
    frame = _frame([0.98, 0.99, None])  # int8 beats float32 on both, but cannot run there
    frame["est_ms__mcu"] = [3.0, None, None]
    frame["fits__mcu"] = [1, 0, 0]
    front = next(t for t in tradeoff_figure(frame, latency="est_ms__mcu").data
                 if t.name == "Pareto front")
    assert list(front.x) == [4.0]


def test_device_latency_marks_variants_that_do_not_fit():
    frame = _frame([0.98, 0.97, None])
    frame["est_ms__mcu"] = [None, 3.0, None]
    frame["fits__mcu"] = [0, 1, 0]
    figure = tradeoff_figure(frame, latency="est_ms__mcu", device_menu=True)
    visible = [trace for trace in figure.data if trace.visible is not False]
    names = [trace.name for trace in visible]
    # the cross is drawn first (beneath a variant at the same place) and listed last
    assert names == ["does not run or fit (mcu)", "int8", "Pareto front"]
    assert visible[0].legendrank > max(trace.legendrank or 1000 for trace in visible[1:])
    assert list(visible[1].marker.color) == [3.0]
    assert [tuple(row[2:]) for row in visible[0].customdata] == [
        ("float32", "does not run on this device")]
    frame["est_ms__mcu"] = [9.0, 3.0, None]  # float32 runs now, but does not fit
    cross = tradeoff_figure(frame, latency="est_ms__mcu").data[0]
    assert [row[3] for row in cross.customdata] == ["does not fit the device's memory"]
    buttons = figure.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["host, measured (1 thread)", "mcu, estimated"]
    with pytest.raises(ValueError, match="Received: latency='est_ms__gpu'"):
        tradeoff_figure(frame, latency="est_ms__gpu")


def test_a_variant_partly_on_the_cpu_fallback_says_how_much_the_device_runs():
    frame = _frame([0.98, 0.97, None])
    frame["est_ms__tpu"], frame["fits__tpu"] = [0.5, 1.4, None], [1, 1, 0]
    frame["accel_fraction__tpu"] = [0.0, 1.0, None]  # float32 runs on the host CPU alone
    shown = {trace.name: trace for trace in tradeoff_figure(frame, latency="est_ms__tpu").data}
    assert "%{customdata[4]}" in shown["float32"].hovertemplate
    assert shown["float32"].customdata[0][4] == (
        "<br>0% of the multiply-accumulates on the device, the rest on its CPU fallback")
    assert shown["int8"].customdata[0][4] == ""  # all of it on the device: nothing to say
    measured = {trace.name: trace for trace in tradeoff_figure(frame).data}
    assert measured["float32"].customdata[0][4] == ""  # the host measurement: no device


def test_each_recipe_keeps_its_colour():
    from workbench.recipes import RECIPES

    assert set(RECIPE_COLOURS) == set(RECIPES)
    assert len(set(RECIPE_COLOURS.values())) == len(RECIPE_COLOURS)
    float32, int8, _ = tradeoff_figure(_frame([0.98, 0.97, None])).data
    assert float32.marker.line.color == RECIPE_COLOURS["float32"]
    assert int8.marker.line.color == RECIPE_COLOURS["int8"]
    from workbench.plots import COMPOSITION_COLOURS, recipe_colour

    composed = recipe_colour("prune_2x4+cluster+int16x8")  # the same in every process
    assert composed in COMPOSITION_COLOURS and composed not in RECIPE_COLOURS.values()
    assert subprocess.run([sys.executable, "-c", "from workbench.plots import recipe_colour; "
                           "print(recipe_colour('prune_2x4+cluster+int16x8'))"],
                          capture_output=True, text=True).stdout.strip() == composed
