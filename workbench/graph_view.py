"""A variant's ``.tflite`` graph as a plotly figure: one node per op, placed by its depth in the
graph, coloured by precision (float32, float16, int8, int16, int4...), by the sensitivity of
its Keras layer, or by its share of the estimated time on a device. Hovering a node shows the
op, its Keras layer, shapes and quantization parameters. Plain plotly, so it works offline in
Jupyter and Voila.

Example:
    >>> table = op_table(tflite, model)                  # doctest: +SKIP
    >>> table[["op", "layer", "precision"]].head(3)      # doctest: +SKIP
    >>> graph_figure(tflite, model, colour_by="precision")["data"][1]["name"]  # doctest: +SKIP
    'int8'
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

COLOUR_BY = ("precision", "sensitivity", "time")
# Each precision's colour; legend order is this order.
PRECISION_COLOURS = {
    "float32": "#7f7f7f", "float16": "#9ecae1", "float32, float16 weights": "#c6dbef",
    "float32, int8 weights": "#3182bd", "float32, int4 weights": "#dadc4a",
    "int8": "#31a354", "int4 weights, int8": "#74c476", "int16": "#9467bd",
    "quantize / dequantize": "#fdae6b", "shape / index": "#d9d9d9",
}
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")
NO_VALUE = "#eeeeee"  # a node with nothing to show in a continuous colouring


def op_table(tflite: bytes, model=None) -> pd.DataFrame:
    """One row per op: ``index``, ``op``, ``precision``, ``layer`` (the Keras layer of ``model``
    it computes; "" without a model), ``inputs`` and ``output`` (shapes and dtypes), ``quant``
    (its output's and weights' quantization parameters), ``sources`` (the ops it reads from),
    ``depth`` and ``slot`` (its place)."""
    from workbench.devices.graph import analyze_tflite
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    costs = analyze_tflite(info).ops
    layers = _layers(info, model)
    producer = {out: op.index for op in info.ops for out in op.outputs}
    depth = _depths(info, producer)
    rows = []
    for op, cost in zip(info.ops, costs):
        weights = _weights(info, op, producer)
        rows.append({
            "index": op.index, "op": op.name,
            "precision": _precision(op.name, cost.dtype, weights),
            "layer": layers[op.index] or _layer_of_weights(weights, model),
            "inputs": "; ".join(_describe(info.tensors[i]) for i in op.inputs if i >= 0
                                and not info.tensors[i].is_constant),
            "output": "; ".join(_describe(info.tensors[i]) for i in op.outputs),
            "quant": _quant_text(info, op, weights), "depth": depth[op.index],
            "sources": sorted({producer[i] for i in op.inputs if i in producer})})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["slot"] = table.groupby("depth").cumcount()
        table["slot"] -= table.groupby("depth")["slot"].transform("max") / 2  # centred
    return table


def graph_figure(tflite: bytes, model=None, colour_by: str = "precision",
                 sensitivity: dict[str, float] | None = None, estimate=None,
                 title: str = "") -> dict:
    """The graph as a plotly figure dict.

    ``colour_by``: ``precision``; ``sensitivity`` (``sensitivity`` maps a Keras layer to its
    error, e.g. ``rmse_over_scale`` from ``workbench.sensitivity.layer_sensitivity``; needs
    ``model``); ``time`` (each op's share of ``estimate``, a ``workbench.devices`` estimate).
    """
    if colour_by not in COLOUR_BY:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"Received colour_by={colour_by!r}; expected one of "
                             f"{', '.join(COLOUR_BY)}.")
    table = op_table(tflite, model)
    edges = _edge_trace(table)
    if colour_by == "precision":
        present = list(dict.fromkeys([*PRECISION_COLOURS, *table["precision"]]))
        nodes = [_node_trace(table[table["precision"] == name], name,
                             PRECISION_COLOURS.get(name, "#000000"))
                 for name in present if (table["precision"] == name).any()]
    else:
        values, label = (_sensitivity_values(table, sensitivity) if colour_by == "sensitivity"
                         else _time_values(table, estimate))
        nodes = _valued_traces(table, values, label)
    first, last = (table["depth"].min(), table["depth"].max()) if not table.empty else (0, 0)
    width = int(table.groupby("depth").size().max()) if not table.empty else 1
    layout = {"height": max(260, 90 + 46 * width), "template": "plotly_white",
              "title": {"text": html.escape(title or f"the graph, one node per op, coloured by "
                                                      f"{colour_by}"), "font": {"size": 13}},
              "hovermode": "closest", "showlegend": True,
              "legend": {"orientation": "h", "y": -0.08},
              "xaxis": {"visible": False, "range": [first - 1, last + 1]},
              "yaxis": {"visible": False, "range": [-width / 2 - 0.5, width / 2 + 0.5]},
              "margin": {"l": 10, "r": 10, "t": 40, "b": 10}}
    return {"data": [edges, *nodes], "layout": layout}


def layer_values(table: pd.DataFrame, values: dict[str, float]) -> list[float]:
    """Each op's value from its Keras layer's (NaN for ops of no listed layer)."""
    return [float(values.get(layer, np.nan)) if layer else np.nan for layer in table["layer"]]


def _sensitivity_values(table, sensitivity) -> tuple[list[float], str]:
    from workbench.errors import WorkbenchError

    if not sensitivity:
        raise WorkbenchError("Colouring by sensitivity needs the per-layer sensitivity "
                             "(workbench.sensitivity.layer_sensitivity); none was given.")
    if not table["layer"].any():
        raise WorkbenchError("Colouring by sensitivity needs the Keras model, to name each op's "
                             "layer; none was given.")
    return layer_values(table, sensitivity), "int8 error (quantization steps)"


def _time_values(table, estimate) -> tuple[list[float], str]:
    from workbench.errors import WorkbenchError

    if estimate is None or not estimate.op_times:
        device = getattr(estimate, "device", "the device")
        raise WorkbenchError(f"Colouring by time needs an estimate with per-op times; "
                             f"{device} has none for this model (it cannot run it).")
    total = sum(op["us"] for op in estimate.op_times) or 1.0
    share = {op["index"]: op["us"] / total for op in estimate.op_times}
    return ([share.get(index, np.nan) for index in table["index"]],
            f"share of the time on {estimate.device}")


def _node_trace(rows: pd.DataFrame, name: str, colour: str) -> dict:
    return {"type": "scatter", "mode": "markers", "name": name,
            "x": rows["depth"].tolist(), "y": rows["slot"].tolist(),
            "customdata": rows["index"].tolist(), "text": _hover(rows),
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 13, "color": colour, "line": {"width": 1, "color": "#444"}}}


def _valued_traces(table: pd.DataFrame, values: list[float], label: str) -> list[dict]:
    """The ops with a value on a colour scale, the others in light grey."""
    values = np.asarray(values, dtype=float)
    known = ~np.isnan(values)
    text = [f"{hover}<br>{html.escape(label)}: {value:.3g}" if has else
            f"{hover}<br>{html.escape(label)}: n/a"
            for hover, value, has in zip(_hover(table), values, known)]
    traces = []
    for mask, marker in ((~known, {"color": NO_VALUE}),
                         (known, {"color": values[known].round(5).tolist(),
                                  "colorscale": "YlOrRd", "showscale": True,
                                  "colorbar": {"title": {"text": html.escape(label),
                                                         "side": "right"}}})):
        if mask.any():
            rows = table[mask]
            traces.append({"type": "scatter", "mode": "markers",
                           "name": label if marker.get("showscale") else "no value",
                           "showlegend": not marker.get("showscale"),
                           "x": rows["depth"].tolist(), "y": rows["slot"].tolist(),
                           "customdata": rows["index"].tolist(),
                           "text": [t for t, m in zip(text, mask) if m],
                           "hovertemplate": "%{text}<extra></extra>",
                           "marker": {"size": 13, "line": {"width": 1, "color": "#444"},
                                      **marker}})
    return traces


def _edge_trace(table: pd.DataFrame) -> dict:
    place = {row.index: (row.depth, row.slot) for row in table.itertuples(index=False)}
    xs, ys = [], []
    for row in table.itertuples(index=False):
        for source in row.sources:
            xs += [place[source][0], place[row.index][0], None]
            ys += [place[source][1], place[row.index][1], None]
    return {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "hoverinfo": "skip",
            "showlegend": False, "line": {"color": "#bbbbbb", "width": 1}}


def _hover(rows: pd.DataFrame) -> list[str]:
    return [f"<b>#{row.index} {html.escape(row.op)}</b> ({html.escape(row.precision)})"
            f"<br>layer: {html.escape(row.layer or '—')}<br>in: {html.escape(row.inputs or '—')}"
            f"<br>out: {html.escape(row.output)}"
            + (f"<br>{html.escape(row.quant)}" if row.quant else "")
            for row in rows.itertuples(index=False)]


def _layers(info, model) -> list[str]:
    if model is None:
        return [""] * len(info.ops)
    from workbench.quant_debug import primary_layer, weighted_layers
    from workbench.selective import layer_names, op_layers

    weighted = weighted_layers(model)
    return [primary_layer(found, weighted) for found in op_layers(info, layer_names(model))]


def _layer_of_weights(weights, model) -> str:
    """The layer named by the op's weights (the last op's output is named after the model's
    signature, and float16 weights reach it through a DEQUANTIZE)."""
    from workbench.selective import layer_names, layers_in_name

    if model is None:
        return ""
    found = [name for tensor in weights for name in layers_in_name(tensor.name,
                                                                   layer_names(model))]
    return found[0] if found else ""


def _depths(info, producer: dict[int, int]) -> dict[int, float]:
    """The longest path from a graph input to each op (ops are stored in execution order); an
    op that reads only constants (a weight's DEQUANTIZE) sits half a step before its first
    reader, off the main path."""
    depth: dict[int, float] = {}
    constant_only: set[int] = set()
    for op in info.ops:
        sources = [producer[i] for i in op.inputs if i in producer]
        if not sources and all(i < 0 or info.tensors[i].is_constant for i in op.inputs):
            constant_only.add(op.index)
        on_path = [depth[source] for source in sources if source not in constant_only]
        depth[op.index] = 1 + max(on_path) if on_path else 0
    placed = {index: np.inf for index in constant_only}
    for op in info.ops:
        for i in op.inputs:
            if producer.get(i) in constant_only:
                placed[producer[i]] = min(placed[producer[i]], depth[op.index] - 0.5)
    return {**depth, **{index: value if np.isfinite(value) else 0
                        for index, value in placed.items()}}


def _weights(info, op, producer) -> list:
    """The op's constant inputs, looking through a DEQUANTIZE of a constant (float16 and
    weight-only int8/int4 weights are stored that way)."""
    found = []
    for index in op.inputs:
        if index < 0:
            continue
        tensor = info.tensors[index]
        if tensor.is_constant:
            found.append(tensor)
        elif index in producer and info.ops[producer[index]].name == "DEQUANTIZE":
            source = info.tensors[info.ops[producer[index]].inputs[0]]
            if source.is_constant:
                found.append(source)
    return [tensor for tensor in found if len(tensor.shape) >= 2]


def _precision(name: str, compute: str, weights) -> str:
    """The legend's name for an op's arithmetic (``analyze_tflite``'s compute dtype) and the
    storage of its weights."""
    if name in CONVERSION_OPS:
        return "quantize / dequantize"
    weight_dtypes = {tensor.dtype for tensor in weights}
    named = {"index": "shape / index", "int16x8": "int16", "int4x8": "int4 weights, int8",
             "dynamic_int4": "float32, int4 weights", "dynamic_range": "float32, int8 weights",
             "float16": "float16", "int8": "int8"}
    if compute in named:
        return named[compute]
    for dtype in ("int4", "int8", "float16"):
        if dtype in weight_dtypes:
            return f"float32, {dtype} weights"
    return "float32"


def _describe(tensor) -> str:
    return f"{tensor.dtype}[{'x'.join(str(d) for d in tensor.shape)}]"


def _quant_text(info, op, weights) -> str:
    parts = []
    for index in op.outputs:
        tensor = info.tensors[index]
        if tensor.is_quantized and tensor.scales is not None and tensor.scales.size == 1:
            zero = int(tensor.zero_points[0]) if tensor.zero_points is not None and \
                tensor.zero_points.size else 0
            parts.append(f"output scale {float(tensor.scales[0]):.4g}, zero point {zero}")
    for tensor in weights:
        if tensor.is_quantized:
            scales = tensor.scales.size
            grouping = (f"blockwise {tensor.block_size}" if tensor.block_size else
                        "per channel" if scales > 1 else "per tensor")
            parts.append(f"weights {tensor.dtype} {grouping} ({scales} scale"
                         f"{'s' if scales > 1 else ''})")
        else:
            parts.append(f"weights {tensor.dtype}")
    return "; ".join(parts)
