"""The trade-off explorer: every stored variant on a plotly FigureWidget, latency per device,
the Pareto front, and the details of a clicked point (config, per-op table, download, code)."""

from __future__ import annotations

import base64
import json

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded
from workbench.plots import MEASURED_LATENCY, latency_choices, tradeoff_figure


class ExplorerPanel(w.VBox):
    def __init__(self, state):
        import plotly.graph_objects as go

        self.state = state
        self.figure = go.FigureWidget()
        self.device = w.Dropdown(description="Latency")
        self.size = w.Dropdown(options={"file size": "size_bytes", "gzip size": "gzip_bytes"},
                               value="size_bytes", description="Size")
        self.details = w.HTML("<p>Click a point for its details.</p>")
        self.histogram = go.FigureWidget(layout={"height": 260, "template": "plotly_white",
                                                 "margin": {"t": 40, "b": 30}})
        self.status = PanelStatus()
        for name in ("refresh_choices", "redraw", "_device_chosen", "_follow_state_device",
                     "_clicked", "show"):
            setattr(self, name, guarded(self.status, "Drawing the trade-offs")(
                getattr(self, name)))
        self.device.observe(lambda _: self._device_chosen(), names="value")
        self.size.observe(lambda _: self.redraw(), names="value")
        state.observe(lambda _: self.refresh_choices(), names="results")
        state.observe(lambda _: self._follow_state_device(), names="device")
        self.refresh_choices()
        super().__init__([w.HTML("<h3>Trade-offs</h3>"), w.HBox([self.device, self.size]),
                          self.status, self.figure, self.details, self.histogram])

    def refresh_choices(self) -> None:
        choices = latency_choices(self.state.results)
        current = self.device.value
        self.device.options = list(choices.items())
        wanted = f"est_ms__{self.state.device}"
        self.device.value = (wanted if wanted in choices.values() else
                             current if current in choices.values() else MEASURED_LATENCY)
        self.redraw()

    def _device_chosen(self) -> None:
        column = self.device.value or MEASURED_LATENCY
        if column.startswith("est_ms__"):
            self.state.device = column[len("est_ms__"):]
        self.redraw()

    def _follow_state_device(self) -> None:
        wanted = f"est_ms__{self.state.device}"
        if wanted in dict(self.device.options).values():
            self.device.value = wanted

    def redraw(self) -> None:
        results = self.state.results
        if results.empty or self.device.value is None:
            with self.figure.batch_update():
                self.figure.data = ()
                self.figure.layout.title = "No variants yet: run a recipe"
            return
        fresh = tradeoff_figure(results, size=self.size.value, latency=self.device.value)
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.add_traces(fresh.data)
            self.figure.layout = fresh.layout
        for trace in self.figure.data:
            trace.on_click(self._clicked)

    def _clicked(self, trace, points, _state=None) -> None:
        if not points.point_inds or trace.customdata is None:
            return
        recipe = trace.customdata[points.point_inds[0]][0]
        rows = self.state.results[(self.state.results["recipe"] == recipe)
                                  & (self.state.results["model"] == trace.name)]
        if len(rows):
            self.show(rows.iloc[-1])

    def show(self, row) -> str:
        """Render the details of one result row; returns the HTML (also shown)."""
        from workbench.devices import analyze_tflite

        self.status.clear()
        data = self.state.require_store().read_tflite(row["run_id"])
        self._show_weights(data, row["recipe"])
        ops = analyze_tflite(data).frame()[["name", "op_class", "dtype", "macs", "weight_bytes"]]
        config = json.loads(row["config"] or "{}")
        code = (f"import workbench\ntask = workbench.prepare_task({row['model']!r})\n"
                f"config = workbench.make_config({row['recipe']!r}, {config!r})\n"
                "row = workbench.run(task, config)")
        link = (f'<a download="{escape(row["model"])}-{escape(row["recipe"])}.tflite" '
                f'href="data:application/octet-stream;base64,{base64.b64encode(data).decode()}">'
                f"download the .tflite ({len(data):,} bytes)</a>")
        self.details.value = (
            f"<h4>{escape(row['model'])}: {escape(row['recipe'])}</h4>"
            f"<p>accuracy {_figure(row['accuracy'])}, size {row['size_bytes']:,} B, host latency "
            f"{row['latency_ms']:.4g} ms. {link}</p>"
            f"<pre>{escape(json.dumps(config, indent=1))}</pre>"
            f"<p>Reproduce it:</p><pre>{escape(code)}</pre>"
            f"<details><summary>Ops</summary>{frame_html(ops)}</details>")
        return self.details.value

    def _show_weights(self, tflite: bytes, recipe: str) -> None:
        """Histogram of every kernel value as stored in the .tflite (int8 codes for int8)."""
        import numpy as np
        import plotly.graph_objects as go

        from workbench.plots import recipe_colour
        from workbench.tflite_inspect import inspect_tflite

        kernels = [t.data.ravel() for t in inspect_tflite(tflite).weight_tensors()
                   if t.data is not None and t.data.dtype.kind in "fiu"]
        values = np.concatenate(kernels).astype("float32") if kernels else np.zeros(0)
        if values.size > 200_000:
            values = np.random.default_rng(0).choice(values, 200_000, replace=False)
        with self.histogram.batch_update():
            self.histogram.data = ()
            self.histogram.add_trace(go.Histogram(x=values, nbinsx=120,
                                                  marker={"color": recipe_colour(recipe)}))
            self.histogram.layout.title = f"kernel values as stored ({escape(recipe)})"


def _figure(value) -> str:
    import math

    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.4f}"
