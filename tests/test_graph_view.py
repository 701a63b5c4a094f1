"""The graph view: one node per op of a real ``.tflite``, its precision read from the file, its
Keras layer, and the colourings by sensitivity and by estimated time."""

from __future__ import annotations

import pytest

from workbench.devices import estimate_tflite
from workbench.errors import WorkbenchError
from workbench.graph_view import graph_figure, op_table
from workbench.ptq import convert
from workbench.recipes import make_config
from workbench.tflite_inspect import inspect_tflite


@pytest.fixture(scope="module")
def variants(default_task) -> dict[str, bytes]:
    calibration = default_task.representative_data(100)
    configs = {"keep_float": make_config("int8", {"keep_float": "block_pw"}),
               "int16_fc": make_config("int8", {"int16_layers": "fc"}),
               "float16": make_config("float16"), "int4": make_config("int4_weights"),
               "dynamic_range": make_config("dynamic_range")}
    return {name: convert(default_task.model, config, calibration, progress=False)
            for name, config in configs.items()}


def precision_of(table, layer: str, op: str) -> set[str]:
    return set(table[(table["layer"] == layer) & (table["op"] == op)]["precision"])


def test_each_op_has_the_precision_stored_in_the_file(variants, default_task):
    model = default_task.model
    kept = op_table(variants["keep_float"], model)
    assert precision_of(kept, "block_pw", "CONV_2D") == {"float32"}
    assert precision_of(kept, "down_conv", "CONV_2D") == precision_of(kept, "fc",
                                                                      "FULLY_CONNECTED") \
        == {"int8"}
    int16 = op_table(variants["int16_fc"], model)
    assert precision_of(int16, "fc", "FULLY_CONNECTED") == {"int16"}
    assert precision_of(int16, "logits", "FULLY_CONNECTED") == {"int8"}
    half = op_table(variants["float16"], model)
    assert precision_of(half, "down_conv", "CONV_2D") == {"float32, float16 weights"}
    assert precision_of(half, "logits", "FULLY_CONNECTED") == {"float32, float16 weights"}
    int4 = op_table(variants["int4"], model)
    assert precision_of(int4, "fc", "FULLY_CONNECTED") == {"float32, int4 weights"}
    assert precision_of(int4, "block_dw", "DEPTHWISE_CONV_2D") == {"float32"}  # no int4 there
    dynamic = op_table(variants["dynamic_range"], model)
    assert precision_of(dynamic, "fc", "FULLY_CONNECTED") == {"float32, int8 weights"}
    # quantization parameters as stored: the int8 fc's output scale, its 64 weight scales
    fc = kept[(kept["layer"] == "fc") & (kept["op"] == "FULLY_CONNECTED")].iloc[0]
    info = inspect_tflite(variants["keep_float"])
    output = info.tensors[info.ops[fc["index"]].outputs[0]]
    assert fc["output"] == "int8[1x64]"
    assert f"output scale {float(output.scales[0]):.4g}" in fc["quant"]
    assert "weights int8 per channel (64 scales)" in fc["quant"]
    assert "weights int4 per channel (64 scales)" in \
        int4[(int4["layer"] == "fc") & (int4["op"] == "FULLY_CONNECTED")].iloc[0]["quant"]


def test_the_figure_draws_every_op_once_and_every_edge(variants, default_task):
    data = variants["float16"]
    table = op_table(data, default_task.model)
    figure = graph_figure(data, default_task.model)
    edges, *nodes = figure["data"]
    drawn = sorted(index for trace in nodes for index in trace["customdata"])
    assert drawn == list(range(len(inspect_tflite(data).ops)))
    assert edges["x"].count(None) == sum(len(sources) for sources in table["sources"])
    by_name = {trace["name"]: trace for trace in nodes}
    assert {"float32, float16 weights", "quantize / dequantize"} <= set(by_name)
    conv = table[(table["op"] == "CONV_2D") & (table["layer"] == "down_conv")].iloc[0]
    weights = table[(table["op"] == "DEQUANTIZE") & (table["layer"] == "down_conv")
                    & table["quant"].str.contains("float16")].iloc[0]
    assert weights["depth"] == conv["depth"] - 0.5  # a weight sits just before its reader
    hover = by_name["float32, float16 weights"]["hovertext"]
    assert any("layer: down_conv" in text and "out: float32[1x4x4x64]" in text
               for text in hover)
    add = table[table["op"] == "ADD"].iloc[0]  # the residual: it reads an op two steps back
    skip = min(add["sources"], key=lambda source: table.loc[source, "depth"])
    assert add["depth"] - table.loc[skip, "depth"] > 1
    lifted = max(table.loc[skip, "slot"], add["slot"]) + 0.45
    assert lifted in edges["y"]  # drawn bent above the nodes it skips, not through them


def test_colour_by_sensitivity_and_by_time(variants, default_task):
    data, model = variants["keep_float"], default_task.model
    table = op_table(data, model)
    sensitivity = {"fc": 2.5, "block_pw": 7.0}
    edges, *nodes = graph_figure(data, model, "sensitivity", sensitivity)["data"]
    valued = next(trace for trace in nodes if trace["name"] != "no value")
    values = dict(zip(valued["customdata"], valued["marker"]["color"]))
    moving = ("quantize / dequantize", "shape / index")  # no int8 error of their own
    for row in table.itertuples():
        expected = None if row.precision in moving else sensitivity.get(row.layer)
        assert values.get(row.index) == expected, row
    assert values[table[(table["layer"] == "block_pw") & (table["op"] == "CONV_2D")]
                  ["index"].iloc[0]] == 7.0
    estimate = estimate_tflite(data, "phone_cpu_2019")
    edges, *nodes = graph_figure(data, model, "time", estimate=estimate)["data"]
    shares = [share for trace in nodes if trace["name"] == "% of the time on phone_cpu_2019"
              for share in trace["marker"]["color"]]
    assert sum(shares) == pytest.approx(100.0, abs=0.1)  # in percent
    on_cpu = estimate_tflite(data, "edge_tpu")  # the float ops fall back to its host CPU
    fallback = {op["index"] for op in on_cpu.op_times if op["runs_on"] != "edge_tpu"}
    assert fallback  # keep_float=block_pw: float convs cannot run on the Edge TPU
    edges, *nodes = graph_figure(data, model, "time", estimate=on_cpu)["data"]
    ringed = {index for trace in nodes if "customdata" in trace for index, width in
              zip(trace["customdata"], trace["marker"]["line"]["width"]) if width == 3}
    assert ringed == fallback
    assert "falls back off the device" in {trace["name"] for trace in nodes}  # in the legend
    slowest = max(estimate.op_times, key=lambda op: op["us"])
    assert max(shares) == pytest.approx(100 * slowest["us"] / sum(op["us"]
                                                                  for op in estimate.op_times),
                                        abs=1e-2)


def test_colourings_without_what_they_need_say_so(variants, default_task):
    data = variants["keep_float"]
    with pytest.raises(WorkbenchError, match="expected one of precision, sensitivity, time"):
        graph_figure(data, colour_by="speed")
    with pytest.raises(WorkbenchError, match="needs the per-layer sensitivity"):
        graph_figure(data, default_task.model, "sensitivity")
    with pytest.raises(WorkbenchError, match="needs the Keras model"):
        graph_figure(data, None, "sensitivity", {"fc": 1.0})
    refused = estimate_tflite(variants["float16"], "cortex_m7")  # no float16 kernels there
    assert refused.latency_ms is None and not refused.op_times
    with pytest.raises(WorkbenchError, match="cortex_m7 has none"):
        graph_figure(variants["float16"], colour_by="time", estimate=refused)
    table = op_table(data)  # without the model: no layer names, every op still drawn
    assert set(table["layer"]) == {""} and len(table) == len(inspect_tflite(data).ops)
