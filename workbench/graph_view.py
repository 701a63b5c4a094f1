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
from typing import NamedTuple

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
SCALE = [[0.0, "#deebf7"], [0.5, "#6baed6"], [1.0, "#08306b"]]  # light: small, dark: large
FALLBACK = "#e6550d"  # the ring of an op that leaves the device (as in the time bar chart)
LABELLED_OPS = 60  # graphs up to this many ops name each node under it
SHORT_NAMES = {"DEPTHWISE_CONV_2D": "DW_CONV", "FULLY_CONNECTED": "FC",
               "STRIDED_SLICE": "SLICE", "DEQUANTIZE": "DEQUANT", "QUANTIZE": "QUANT"}


def op_table(tflite: bytes, model=None) -> pd.DataFrame:
    """One row per op: ``index``, ``op``, ``precision``, ``layer`` (the Keras layer of ``model``
    it computes; "" without a model), ``inputs`` and ``output`` (shapes and dtypes), ``quant``
    (its output's and weights' quantization parameters), ``sources`` (the ops it reads from),
    ``depth`` and ``slot`` (its place)."""
    from workbench.devices.graph import analyze_tflite
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    costs = analyze_tflite(info).ops
    if model is None:
        layers, names = [""] * len(info.ops), []
    else:
        from workbench.quant_debug import op_primary_layers
        from workbench.selective import layer_names

        layers, names = op_primary_layers(info, model), layer_names(model)
    producer = {out: op.index for op in info.ops for out in op.outputs}
    depth = _depths(info, producer)
    rows = []
    for op, cost in zip(info.ops, costs):
        weights = _weights(info, op, producer)
        rows.append({
            "index": op.index, "op": op.name,
            "precision": _precision(op.name, cost.dtype, weights),
            "layer": layers[op.index] or _layer_of_weights(weights, names),
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
                 title: str = "", table: pd.DataFrame | None = None) -> dict:
    """The graph as a plotly figure dict.

    ``colour_by``: ``precision``; ``sensitivity`` (``sensitivity`` maps a Keras layer to its
    error, e.g. ``rmse_over_scale`` from ``workbench.sensitivity.layer_sensitivity``; needs
    ``model``); ``time`` (each op's share of ``estimate``, a ``workbench.devices`` estimate).
    ``table``: ``op_table(tflite, model)`` when the caller already has it (redrawing one
    variant in another colouring).
    """
    if colour_by not in COLOUR_BY:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"Received colour_by={colour_by!r}; expected one of "
                             f"{', '.join(COLOUR_BY)}.")
    table = op_table(tflite, model) if table is None else table
    if colour_by == "precision":
        present = list(dict.fromkeys([*PRECISION_COLOURS, *table["precision"]]))
        nodes = [_trace(table, table["precision"] == name, name,
                        {"color": PRECISION_COLOURS.get(name, "#000000")})
                 for name in present if (table["precision"] == name).any()]
    else:
        nodes = _valued_traces(table, _sensitivity_colouring(table, sensitivity)
                               if colour_by == "sensitivity" else _time_colouring(table, estimate))
    first, last = (table["depth"].min(), table["depth"].max()) if not table.empty else (0, 0)
    width = int(table.groupby("depth").size().max()) if not table.empty else 1
    layout = {"height": max(280, 110 + 46 * width), "template": "plotly_white",
              "title": {"text": html.escape(title or f"the graph, one node per op, coloured by "
                                                      f"{colour_by}"), "font": {"size": 13},
                        "x": 0.01, "xanchor": "left"},
              "hovermode": "closest", "showlegend": True,
              "legend": {"orientation": "h", "y": -0.02, "yanchor": "top"},
              "xaxis": {"visible": False, "range": [first - 0.7, last + 0.7]},
              "yaxis": {"visible": False, "range": [-width / 2 - 0.6, width / 2 + 0.9]},
              "margin": {"l": 10, "r": 10, "t": 60, "b": 10}}
    return {"data": [_edge_trace(table), *nodes], "layout": layout}


class Colouring(NamedTuple):
    """Each op's value on the colour scale (NaN: none), the scale's name, a line of hover text
    per op, and the ops to ring in orange (those that fall back off the device)."""

    values: list[float]
    label: str
    notes: list[str]
    ringed: list[bool]


def layer_values(table: pd.DataFrame, values: dict[str, float]) -> list[float]:
    """Each op's value from its Keras layer's (NaN for ops of no listed layer)."""
    return [float(values.get(layer, np.nan)) if layer else np.nan for layer in table["layer"]]


def _sensitivity_colouring(table, sensitivity) -> Colouring:
    from workbench.errors import WorkbenchError

    if not sensitivity:
        raise WorkbenchError("Colouring by sensitivity needs the per-layer sensitivity "
                             "(workbench.sensitivity.layer_sensitivity); none was given.")
    if not table["layer"].any():
        raise WorkbenchError("Colouring by sensitivity needs the Keras model, to name each op's "
                             "layer; none was given.")
    count = len(table)
    computing = ~table["precision"].isin(["quantize / dequantize", "shape / index"])
    values = [value if keep else np.nan for value, keep in
              zip(layer_values(table, sensitivity), computing)]
    return Colouring(values, "int8 error (quantization steps)", [""] * count, [False] * count)


def _time_colouring(table, estimate) -> Colouring:
    from workbench.errors import WorkbenchError

    if estimate is None or not estimate.op_times:
        device = getattr(estimate, "device", "the device")
        raise WorkbenchError(f"Colouring by time needs an estimate with per-op times; "
                             f"{device} has none for this model (it cannot run it).")
    total = sum(op["us"] for op in estimate.op_times) or 1.0
    times = {op["index"]: op for op in estimate.op_times}
    notes, ringed = [], []
    for index in table["index"]:
        runs_on = times[index]["runs_on"] if index in times else ""
        falls_back = bool(runs_on) and runs_on != estimate.device
        notes.append(f"runs on {runs_on}" + (f" (falls back from {estimate.device})"
                                             if falls_back else "") if runs_on else "")
        ringed.append(falls_back)
    return Colouring([100 * times[index]["us"] / total if index in times else np.nan
                      for index in table["index"]],
                     f"% of the time on {estimate.device}", notes, ringed)


def _trace(table: pd.DataFrame, mask, name: str, marker: dict, extra=None) -> dict:
    """The ops of ``table`` where ``mask`` holds, as one trace; ``extra`` adds a hover line
    per op of the table."""
    rows = table[mask]
    hover = _hover(rows)
    if extra is not None:
        hover = [f"{text}<br>{html.escape(line)}" if line else text
                 for text, line in zip(hover, np.asarray(extra, dtype=object)[np.asarray(mask)])]
    labelled = len(table) <= LABELLED_OPS
    return {"type": "scatter", "mode": "markers+text" if labelled else "markers", "name": name,
            "x": rows["depth"].tolist(), "y": rows["slot"].tolist(),
            "customdata": rows["index"].tolist(), "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>",
            "text": [_short(op) for op in rows["op"]] if labelled else None,
            "textposition": "bottom center", "textfont": {"size": 9, "color": "#555555"},
            "marker": {"size": 13, "line": {"width": 1, "color": "#444444"}, **marker}}


def _valued_traces(table: pd.DataFrame, colouring: Colouring) -> list[dict]:
    """The ops with a value on a colour scale (light: small, dark: large), the others in
    light grey; ops that fall back ringed in orange."""
    values = np.asarray(colouring.values, dtype=float)
    known = ~np.isnan(values)
    label = colouring.label
    extra = [f"{label}: {value:.3g}" if has else f"{label}: n/a" for value, has in
             zip(values, known)]
    extra = [f"{line}; {note}" if note else line for line, note in zip(extra, colouring.notes)]
    ringed = np.asarray(colouring.ringed, dtype=bool)
    traces = []
    for mask, name, marker in (
            (~known, "no value", {"color": NO_VALUE}),
            (known, label, {"color": values[known].round(5).tolist(), "colorscale": SCALE,
                            "cmin": 0.0, "showscale": True,
                            "colorbar": {"title": {"text": html.escape(label),
                                                   "side": "right"}}})):
        if mask.any():
            outline = {"line": {"width": [3 if ring else 1 for ring in ringed[mask]],
                                "color": [FALLBACK if ring else "#444444"
                                          for ring in ringed[mask]]}}
            trace = _trace(table, mask, name, {**marker, **outline}, extra)
            trace["showlegend"] = name == "no value"
            traces.append(trace)
    if ringed.any():  # the ring's meaning, in the legend
        traces.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None],
                       "name": "falls back off the device", "hoverinfo": "skip",
                       "marker": {"size": 13, "color": "#ffffff",
                                  "line": {"width": 3, "color": FALLBACK}}})
    return traces


def _edge_trace(table: pd.DataFrame) -> dict:
    """Every edge as a line; one that skips a step (a residual connection) bends above the
    nodes between its ends, so it never hides behind them."""
    place = {row.index: (row.depth, row.slot) for row in table.itertuples(index=False)}
    xs, ys = [], []
    for row in table.itertuples(index=False):
        (x1, y1) = place[row.index]
        for source in row.sources:
            x0, y0 = place[source]
            if x1 - x0 > 1:
                lift = max(y0, y1) + 0.45
                xs += [x0, x0 + 0.5, x1 - 0.5, x1, None]
                ys += [y0, lift, lift, y1, None]
            else:
                xs += [x0, x1, None]
                ys += [y0, y1, None]
    return {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "hoverinfo": "skip",
            "showlegend": False, "line": {"color": "#bbbbbb", "width": 1}}


def _short(op: str) -> str:
    """``DEPTHWISE_CONV_2D`` -> ``DW_CONV``: a label that fits under a node."""
    return SHORT_NAMES.get(op, op)


def _hover(rows: pd.DataFrame) -> list[str]:
    return [f"<b>#{row.index} {html.escape(row.op)}</b> ({html.escape(row.precision)})"
            f"<br>layer: {html.escape(row.layer or '—')}<br>in: {html.escape(row.inputs or '—')}"
            f"<br>out: {html.escape(row.output)}"
            + (f"<br>{html.escape(row.quant)}" if row.quant else "")
            for row in rows.itertuples(index=False)]


def _layer_of_weights(weights, names) -> str:
    """The layer named by the op's weights (the last op's output is named after the model's
    signature, and float16 weights reach it through a DEQUANTIZE)."""
    from workbench.selective import layers_in_name

    found = [name for tensor in weights for name in layers_in_name(tensor.name, names)]
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
