"""The details of one variant, shown when its point is clicked: its config, its figures with
deltas against the baseline, the chosen device's verdict (latency, RAM and flash against the
device's limits, the ops that fall back and why, where the time goes), the weight histogram,
the ``.tflite`` to download and the Python that reproduces it."""

from __future__ import annotations

import base64
import json
import math

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded
from widgets.plotly_chart import PlotlyChart
from workbench.plots import recipe_colour

TOP_OPS = 15
GRAPH_COLOURS = {"precision": "precision", "sensitivity of its layer": "sensitivity",
                 "share of the time on the chosen device": "time"}


def _number(value, fmt: str, unit: str = "") -> str:
    """``value`` formatted with its unit, or one mark for a missing value."""
    if _missing(value):
        return "—"
    return format(value, fmt) + unit


def figures_table(row) -> str:
    """The variant's figures beside what they mean against the baseline."""
    from workbench.compare import drop_words

    drop = row.get("drop_points")
    scored_otherwise = _missing(row["accuracy"]) and not _missing(row.get("score"))
    lines = [
        *([] if scored_otherwise else [(  # a regressor has a score but no accuracy
            "accuracy", _number(None if _missing(row["accuracy"]) else 100 * row["accuracy"],
                                ".2f", " %"),
            "no dataset: not measured" if _missing(row["accuracy"]) else "" if _missing(drop)
            else _against_float(drop_words(drop, "points")))]),
        *_metric_line(row, drop),
        ("size", _number(row["size_bytes"] / 1024, ".1f", " KB"),
         _times(row.get("x_smaller"), "smaller", "larger")),
        ("gzip size", _number(row["gzip_bytes"] / 1024, ".1f", " KB"),
         _times(row.get("x_smaller_gzip"), "smaller", "larger")),
        ("latency, this host", _number(row.get("latency_ms"), ".3g", " ms"), ""),
        ("speed-up on the chosen device", "",
         _times(row.get("x_faster"), "faster", "slower") or "—"),
    ]
    body = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td>"
                   f"<td>{escape(delta)}</td></tr>" for name, value, delta in lines)
    return f"<table class='wb-table wb-figures'>{body}</table>"


def _metric_line(row, drop) -> list[tuple]:
    """The task's metric when it is not top-1 (which the accuracy line already shows)."""
    from workbench.compare import drop_words, row_metric

    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    if metric is None or metric.name == "top1":
        return []
    direction = "higher" if metric.higher_is_better else "lower"
    change = "" if _missing(drop) else (
        f"{_against_float(drop_words(drop, metric.unit))} "
        f"({metric.format(row.get('float_score'))})")
    return [(f"{metric.name} ({direction} is better)", metric.format(row.get("score")), change)]


def _against_float(words: str) -> str:
    return words if words == "as the float model" else f"{words} against the float model"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _times(value, better: str, worse: str) -> str:
    from workbench.compare import times_words

    return "" if _missing(value) else f"{times_words(value, better, worse)} than the float32 " \
        "variant"


def readable_bytes(count: float) -> str:
    """In 1024-byte units, as the size columns: ``524,288`` -> ``512 KB``;
    ``3,906,250,000`` -> ``3.64 GB``."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= size:
            value = count / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{count:,.0f} B"


def verdict_html(estimate) -> str:
    """The device's verdict in words: latency, memory against its limits, what falls back."""
    def check(ok: bool) -> str:
        return "<span class='wb-good'>fits</span>" if ok else "<span class='wb-bad'>too big"\
                                                              "</span>"

    if estimate.latency_ms is None:
        latency = "<b class='wb-bad'>cannot run there</b>"
    else:
        latency = f"<b>{estimate.latency_ms:.3g} ms</b> estimated"
    ram_ok = estimate.peak_ram_bytes <= estimate.ram_limit_bytes
    flash_ok = estimate.flash_bytes <= estimate.flash_limit_bytes
    parts = [f"On <b>{escape(estimate.device)}</b>: {latency}; "
             f"peak RAM {readable_bytes(estimate.peak_ram_bytes)} of "
             f"{readable_bytes(estimate.ram_limit_bytes)} ({check(ram_ok)}); model "
             f"{readable_bytes(estimate.flash_bytes)} of "
             f"{readable_bytes(estimate.flash_limit_bytes)} storage ({check(flash_ok)}); "
             f"{estimate.accel_fraction:.0%} of the multiply-accumulates on the device in "
             f"{estimate.partitions} partition(s)."]
    if estimate.fallback_ops:
        rows = "".join(f"<tr><td>{op['index']}</td><td>{escape(op['op'])}</td>"
                       f"<td>{escape(op['runs_on'] or 'nowhere')}</td>"
                       f"<td>{escape(op['reason'])}</td></tr>"
                       for op in estimate.fallback_ops[:20])
        more = len(estimate.fallback_ops) - 20
        parts.append("<p>Ops that leave the device:</p><table class='wb-table'><tr><th>op</th>"
                     f"<th>type</th><th>runs on</th><th>why</th></tr>{rows}</table>" +
                     (f"<p>... and {more} more.</p>" if more > 0 else ""))
    parts += [f"<p><i>{escape(note)}</i></p>" for note in estimate.notes]
    return "<p>" + parts[0] + "</p>" + "".join(parts[1:])


def time_figure(estimate) -> dict:
    """Where the time goes: the ops that take longest on the device (a horizontal bar each),
    and the fixed cost of each invoke (with hand-overs and weight streaming), so that the bars
    of a small model add up to its estimate."""
    ops = sorted(estimate.op_times, key=lambda op: -op["us"])[:TOP_OPS][::-1]
    bars = [(op["us"] / 1000, f"{op['index']}: {op['op']}", op["runs_on"],
             "#31a354" if op["runs_on"] == estimate.device else "#e6550d") for op in ops]
    fixed_ms = (estimate.latency_ms or 0.0) - sum(op["us"] for op in estimate.op_times) / 1000
    if fixed_ms > 1e-6:
        bars.append((fixed_ms, "per invoke", estimate.device, "#969696"))
    total = "time" if estimate.latency_ms is None else f"{estimate.latency_ms:.3g} ms"
    shown = f"the {len(ops)} slowest of {len(estimate.op_times)} ops" \
        if len(ops) < len(estimate.op_times) else "every op"
    return {"data": [{"type": "bar", "orientation": "h", "x": [bar[0] for bar in bars],
                      "y": [bar[1] for bar in bars], "marker": {"color": [bar[3] for bar in bars]},
                      "text": [escape(bar[2]) for bar in bars],
                      "hovertemplate": "%{y}: %{x:.3g} ms on %{text}<extra></extra>"}],
            "layout": {"height": 120 + 22 * len(bars), "template": "plotly_white",
                       "title": {"text": f"where the {total} go on "
                                         f"{escape(estimate.device)}: {shown} (green: on the "
                                         "device, orange: fallback, grey: per invoke)",
                                 "font": {"size": 13}},
                       "xaxis": {"title": {"text": "estimated ms"}},
                       "margin": {"l": 190, "r": 20, "t": 40, "b": 40}}}


def histogram_figure(histograms: dict, recipe: str) -> dict:
    """The kernel values: real numbers, and the integer codes stored when quantized."""
    panels = [name for name in ("real", "codes") if name in histograms]
    data, layout = [], {"height": 260, "template": "plotly_white", "showlegend": False,
                        "margin": {"l": 50, "r": 20, "t": 40, "b": 45},
                        "title": {"text": "kernel weights" + (
                            f": real values (left) and the {histograms['codes'].label}s "
                            "(right)" if len(panels) == 2 else ": real values"),
                                  "font": {"size": 13}}}
    for number, name in enumerate(panels, start=1):
        histogram = histograms[name]
        suffix = "" if number == 1 else str(number)
        data.append({"type": "bar", "x": histogram.centers.tolist(),
                     "y": histogram.counts.tolist(), "xaxis": f"x{suffix}",
                     "yaxis": f"y{suffix}", "marker": {"color": recipe_colour(recipe)},
                     "hovertemplate": "%{x:.4g}: %{y} weights<extra></extra>"})
        width = 1.0 / len(panels)
        layout[f"xaxis{suffix}"] = {"title": {"text": histogram.label},
                                    "domain": [(number - 1) * width + 0.04 * (number - 1),
                                               number * width - 0.04 * (len(panels) - number)],
                                    "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"title": {"text": "weights" if number == 1 else ""},
                                    "anchor": f"x{suffix}"}
    return {"data": data, "layout": layout}


def _graph_title(colour_by: str, device: str) -> str:
    what = {"precision": "precision", "sensitivity": "its layer's int8 error (quantization "
            "steps)", "time": f"share of the estimated time on {device} (ringed in orange: falls "
            "back off the device)"}[colour_by]
    return f"ops left to right, coloured by {what}; hover for details"


class DetailsView(w.VBox):
    def __init__(self, state):
        self.state = state
        self.shown_run_id: str | None = None
        self.header = w.HTML("<p>Click a point for its details.</p>")
        self.figures = w.HTML()
        self.verdict = w.HTML()
        self.time_chart = PlotlyChart(layout=w.Layout(width="100%"))
        self.histogram = PlotlyChart(layout=w.Layout(width="100%"))
        self.extra = w.HTML()
        self.top = w.HBox([self.figures, self.verdict], layout=w.Layout(flex_flow="row wrap"))
        self.graph_colour = w.Dropdown(options=GRAPH_COLOURS, value="precision",
                                       description="Colour ops by",
                                       style={"description_width": "8em"},
                                       layout=w.Layout(width="30em"))
        self.graph = PlotlyChart(layout=w.Layout(width="100%"))
        self.graph_note = PanelStatus()
        self.graph_box = w.VBox([w.HTML("<h4>The graph</h4>"), self.graph_colour,
                                 self.graph_note, self.graph])
        self.graph.add_class("wb-graph-chart")
        self._graph_inputs: tuple | None = None
        self.draw_graph = guarded(self.graph_note, "Drawing the graph")(self.draw_graph)
        self.graph_colour.observe(lambda _: self.draw_graph(), names="value")
        state.observe(lambda _: self.draw_graph(), names="sensitivity")
        super().__init__([self.header])

    def clear(self) -> None:
        """Back to the invitation to click (another model was loaded)."""
        self.shown_run_id, self._graph_inputs = None, None
        self.header.value = "<p>Click a point for its details.</p>"
        self.children = [self.header]

    def show(self, run_id: str) -> str:
        """Show the details of stored variant ``run_id``; returns the header and figures HTML."""
        from workbench.devices import analyze_tflite, estimate_tflite
        from workbench.weight_histogram import kernel_histograms

        table = self.state.with_deltas()
        row = table[table["run_id"] == run_id]
        if row.empty:
            self.shown_run_id = None
            self.header.value = f"<p>Variant {escape(run_id)} is no longer stored.</p>"
            self.children = [self.header]
            return self.header.value
        row = row.iloc[-1].to_dict()
        data = self.state.require_store().read_tflite(run_id)
        self.shown_run_id = run_id
        self.header.value = (f"<h4>{escape(row['model'])}: {escape(row['variant'])}</h4>"
                             f"<p>run <code class='wb-run-id'>{escape(run_id)}</code>, measured "
                             f"{escape(row['created_at'])}</p>")
        self.figures.value = figures_table(row)
        estimate = estimate_tflite(data, self.state.device, self.state.workspace)
        self.verdict.value = verdict_html(estimate)
        charts = []
        for chart, figure in ((self.time_chart, time_figure(estimate)
                               if estimate.op_times else None),
                              (self.histogram, histogram_figure(kernel_histograms(data),
                                                                row["recipe"]))):
            if figure and figure["data"]:
                chart.show(figure)
                charts.append(chart)
        ops = analyze_tflite(data).frame()[["name", "op_class", "dtype", "macs", "weight_bytes"]]
        self.extra.value = self._config_and_code(row, data) + \
            f"<details><summary>Ops ({len(ops)})</summary>{frame_html(ops)}</details>"
        task = self.state.task
        model = task.model if task is not None and row["model"] == task.name else None
        from workbench.graph_view import op_table

        self._graph_inputs = (data, model, estimate, row["model"], op_table(data, model))
        self.draw_graph()
        # charts join the page only when they have something to draw: a chart created hidden
        # and shown later could be drawn with no room
        self.children = [self.header, self.top, *charts, self.graph_box, self.extra]
        return self.header.value + self.figures.value

    def draw_graph(self) -> None:
        """The shown variant's graph, coloured as chosen; when that colouring has nothing to
        show (sensitivity not measured, a device that cannot run the model), say why and
        colour by precision."""
        from workbench.graph_view import graph_figure

        if self._graph_inputs is None:
            return
        data, model, estimate, model_name, table = self._graph_inputs
        colour_by, notes = self.graph_colour.value, []
        sensitivity = self.state.sensitivity
        if model is None:
            notes.append(f"Load model '{model_name}' in Model and data to see each op's Keras "
                         "layer (and, once its sensitivity is measured in Per-layer, to colour "
                         "by it).")
        if colour_by == "sensitivity" and (model is None or sensitivity is None):
            if model is not None:
                notes.append(f"Measure the sensitivity of '{model_name}' in the Per-layer tab "
                             "first.")
            notes.append("Coloured by precision.")
            colour_by = "precision"
        elif colour_by == "time" and not estimate.op_times:
            notes.append(f"{estimate.device} cannot run this variant, so there are no times; "
                         "coloured by precision.")
            colour_by = "precision"
        layers = None if colour_by != "sensitivity" else \
            dict(zip(sensitivity["layer"], sensitivity["rmse_over_scale"]))
        self.graph_note.value = "".join(f"<p><i>{escape(note)}</i></p>" for note in notes)
        self.graph.show(graph_figure(data, model, colour_by, layers, estimate,
                                     title=_graph_title(colour_by, estimate.device),
                                     table=table))

    @staticmethod
    def _config_and_code(row, data: bytes) -> str:
        config = json.loads(row["config"] or "{}")
        code = (f"import workbench\ntask = workbench.prepare_task({row['model']!r})\n"
                f"config = workbench.make_config({row['recipe']!r}, {config!r})\n"
                "row = workbench.run(task, config)")
        link = (f'<a download="{escape(row["model"])}-{escape(row["recipe"])}.tflite" '
                f'href="data:application/octet-stream;base64,{base64.b64encode(data).decode()}">'
                f"download the .tflite ({len(data):,} bytes)</a>")
        notes = f"<p>Notes: {escape(row['notes'])}</p>" if row.get("notes") else ""
        return (f"<p>{link}</p>{notes}<p>Options:</p><pre>{escape(json.dumps(config, indent=1))}"
                f"</pre><p>Reproduce it:</p><pre style='white-space: pre-wrap'>{escape(code)}"
                "</pre>")
