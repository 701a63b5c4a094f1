"""Per-layer sensitivity to int8, and the int8 variant that keeps the layers you pick in float
or in int16: measure, read the bar chart, click bars (or tick boxes) to pick layers, Run. The
new variant lands in the Trade-offs tab next to the others.

Example:
    >>> panel = SensitivityPanel(AppState())          # doctest: +SKIP
    >>> panel.measure().wait(); panel.toggle("block_pw"); panel.run()  # doctest: +SKIP
"""

from __future__ import annotations

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded
from widgets.plotly_chart import PlotlyChart
from workbench.errors import WorkbenchError
from workbench.sensitivity import SOURCES

PICKED, OTHER = "#e6550d", "#3182bd"
KEEP_IN = {"float": "keep_float", "int16 activations": "int16_layers"}
SHORT_SOURCES = {"debugger": "TF's quantization debugger", "kernels": "the integer kernels"}
INTRO = ("<p>How much error each layer's int8 ops cause, in quantization steps of their output "
         "(longest bar: most sensitive), and for the top layers the score won back by keeping "
         "only that layer in float. Click bars (or tick boxes) to pick layers, choose float or "
         "int16 activations for them, and Run: int8 everywhere else. The variant appears in "
         "Trade-offs. <i>Errors by</i>: TensorFlow's quantization debugger (it converts a "
         "debugging copy of the model), or the workbench's integer kernels, which run the int8 "
         "<code>.tflite</code> the workbench exports op by op, bit for bit as LiteRT's reference "
         "kernels do. Both give each op's own error; they agree within a few hundredths of a "
         "step.</p>")


def sensitivity_figure(table, picked: set[str], metric=None) -> dict:
    """One horizontal bar per layer (most sensitive on top), picked layers in orange; the
    hover adds SNR and cosine against float and the score kept in float (in ``metric``'s
    units, a ``workbench.metrics.Metric``)."""
    rows = table.iloc[::-1]

    def scored(row) -> str:
        if row.score_kept_float != row.score_kept_float:  # NaN: not among the scored top
            return "not scored"
        return f"kept in float: {_score(metric, row.score_kept_float)} " \
               f"({_won_back(metric, row.recovered)})"

    text = [f"{escape(row.op)}; SNR {row.snr_db:.3g} dB, cosine {row.cosine:.4f}; {scored(row)}"
            for row in rows.itertuples()]
    return {"data": [{"type": "bar", "orientation": "h", "x": rows["rmse_over_scale"].tolist(),
                      "y": [escape(name) for name in rows["layer"]],
                      "customdata": [[name] for name in rows["layer"]], "text": text,
                      "textposition": "none",
                      "marker": {"color": [PICKED if name in picked else OTHER
                                           for name in rows["layer"]]},
                      "hovertemplate": "<b>%{y}</b>: %{x:.3g} steps<br>%{text}<extra></extra>"}],
            "layout": {"height": 120 + 26 * len(rows), "template": "plotly_white",
                       "title": {"text": "int8 error per layer (orange: picked)" +
                                 (f", by {SHORT_SOURCES[table.attrs['source']]}"
                                  if "source" in table.attrs else ""),
                                 "font": {"size": 13}},
                       "xaxis": {"title": {"text": "output RMSE, in quantization steps"}},
                       "margin": {"l": 130, "r": 20, "t": 40, "b": 45}}}


def _score(metric, value: float) -> str:
    return metric.format(value) if metric is not None else f"{value:.4g}"


def _won_back(metric, recovered: float) -> str:
    """``+23.1 points won back`` (a fraction metric), ``-0.02 MAE won back``."""
    if metric is not None and metric.fraction:  # as the scores show: percent to 0.1
        return f"{100 * recovered:+.1f} points won back"
    unit = metric.unit if metric is not None else ""
    return f"{recovered:+.3g} {unit} won back".replace("  ", " ")


class SensitivityPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.job = None
        self.top = w.BoundedIntText(value=3, min=0, max=20, layout=w.Layout(width="4.5em"))
        self.source = w.Dropdown(options={label: key for key, label in SOURCES.items()},
                                 value="debugger", description="Errors by",
                                 layout=w.Layout(width="auto"))
        self.measure_button = w.Button(description="Measure sensitivity",
                                       button_style="primary")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="16em"))
        self.phase = w.HTML()
        self.status = PanelStatus()
        self.chart = PlotlyChart(layout=w.Layout(width="100%", display="none"))
        self.ticks: dict[str, w.Checkbox] = {}
        self.tick_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.keep_in = w.ToggleButtons(options=KEEP_IN, value="keep_float")
        self.run_button = w.Button(description="Run int8", disabled=True,
                                   layout=w.Layout(width="auto"))
        self.table = w.HTML()
        for name, action in (("measure", "Measuring the sensitivity"),
                             ("run", "Starting the int8 run"), ("toggle", "Picking a layer"),
                             ("_clicked", "Picking a layer"), ("_redraw", "Drawing the chart"),
                             ("_show_measure", "Measuring the sensitivity")):
            setattr(self, name, guarded(self.status, action)(getattr(self, name)))
        self.measure_button.on_click(lambda _: self.measure())
        self.run_button.on_click(lambda _: self.run())
        self.chart.on_click(self._clicked)
        self.keep_in.observe(lambda _: self._redraw(), names="value")
        state.observe(lambda _: self._redraw(), names="sensitivity")
        row = w.Layout(align_items="center", flex_flow="row wrap")
        super().__init__([w.HTML("<h3>Per-layer sensitivity</h3>" + INTRO),
                          w.HBox([self.measure_button, w.HTML("&nbsp;then score the top&nbsp;"),
                                  self.top, w.HTML("&nbsp;layers, each kept in float alone")],
                                 layout=row),
                          self.source,
                          w.HBox([self.progress, self.phase], layout=row), self.status,
                          self.chart, self.tick_box,
                          w.HBox([w.HTML("Keep the picked layers in&nbsp;"), self.keep_in,
                                  self.run_button], layout=row), self.table])
        self.add_class("wb-sensitivity")
        self.chart.add_class("wb-sensitivity-chart")
        self._redraw()

    @property
    def picked(self) -> list[str]:
        """The ticked layers, most sensitive first."""
        return [name for name, box in self.ticks.items() if box.value]

    def measure(self):
        """Start measuring the loaded model's per-layer sensitivity (a background job)."""
        from workbench.jobs import Job
        from workbench.sensitivity import layer_sensitivity

        task = self.state.task
        if task is None:
            raise WorkbenchError("No model is loaded. Expected one: load it in the Model and "
                                 "data tab first.")
        if self.job is not None and self.job.active:
            raise WorkbenchError("The sensitivity is already being measured; wait for it.")
        self.status.clear()
        top, source = self.top.value, self.source.value
        self.job = Job(lambda: layer_sensitivity(task, top=top, progress=False, source=source),
                       f"per-layer sensitivity of {task.name}")
        self.job.add_listener(self._show_measure)
        return self.job.start()

    def _show_measure(self, job) -> None:
        running = job.active
        self.measure_button.disabled = running
        self.progress.value = 1.0 if job.state == "finished" else job.fraction or 0.0
        self.progress.bar_style = {"finished": "success", "error": "danger"}.get(job.state,
                                                                                 "info")
        self.phase.value = escape(f"{job.phase} ({job.done}/{job.total})" if running and
                                  job.total else job.phase if running else job.state)
        if job.state == "error":
            self.status.error(job.error)
        elif job.state == "finished":
            table = job.result
            table.attrs["model"] = self.state.task.name if self.state.task else ""
            self.state.sensitivity = table

    def toggle(self, layer: str) -> None:
        """Pick a layer, or unpick it (what a click on its bar does)."""
        if layer not in self.ticks:
            raise WorkbenchError(f"Received layer '{layer}'; expected one of the measured "
                                 f"layers: {', '.join(self.ticks) or 'none yet'}.")
        self.ticks[layer].value = not self.ticks[layer].value

    def _clicked(self, points: list[dict]) -> None:
        for point in points:
            if point.get("customdata"):
                self.toggle(str(point["customdata"][0]))
                return

    def run(self):
        """Run int8 with the picked layers in float (or int16): a job of the app's state."""
        from workbench.recipes import make_config

        if not self.picked:
            raise WorkbenchError("No layer is picked. Click a bar or tick a layer first.")
        config = make_config("int8", {self.keep_in.value: ",".join(self.picked)})
        job = self.state.run_recipes([config])
        self.status.show(f"Running {self._what_runs()} (the op feeding each layer goes with "
                         "it); the variant will appear in Trade-offs.", "busy")
        job.add_listener(self._run_finished)
        return job

    def _run_finished(self, job) -> None:
        if job.state == "finished" and not job.result.failures:
            row = job.result.rows[-1]  # the int8 variant (a float32 baseline may come first)
            notes = f" ({row['notes']})" if row.get("notes") else ""
            self.status.show("".join(self.state.summaries([row])) + notes)
        elif not job.active:
            self.status.error(self.state.message)

    def _what_runs(self) -> str:
        layers = ", ".join(self.picked)
        return f"int8 with {layers} in float" if self.keep_in.value == "keep_float" \
            else f"int8 with int16 activations on {layers}"

    def _redraw(self) -> None:
        table = self.state.sensitivity
        if table is None:  # nothing measured (yet, or for the model just loaded)
            self.ticks, self.tick_box.children = {}, []
            self.chart.layout.display = "none"
            self.table.value = self.phase.value = ""
            self.progress.value, self.progress.bar_style = 0.0, ""
            self.run_button.disabled, self.run_button.description = True, "Run int8"
            if self.job is None or not self.job.active:
                self.status.clear()
            return
        if list(self.ticks) != list(table["layer"]):
            self.ticks = {name: w.Checkbox(value=False, description=name, indent=False,
                                           layout=w.Layout(width="auto", margin="0 1em 0 0"))
                          for name in table["layer"]}
            for box in self.ticks.values():
                box.observe(lambda _: self._redraw(), names="value")
            self.tick_box.children = list(self.ticks.values())
        metric = self._metric()
        self.chart.show(sensitivity_figure(table, set(self.picked), metric))
        self.chart.layout.display = None
        self.run_button.disabled = not self.picked
        self.run_button.description = (f"Run {self._what_runs()}" if self.picked else
                                       "Run int8 (pick layers first)")
        self.table.value = self._table_html(table, metric)

    def _metric(self):
        task = self.state.task
        return getattr(task, "metric", None) if task is not None else None

    @staticmethod
    def _table_html(table, metric) -> str:
        name = metric.name if metric is not None else "score"
        shown = table.assign(
            rmse_over_scale=table["rmse_over_scale"].round(3),
            snr_db=[f"{v:.1f}" for v in table["snr_db"]],
            cosine=[f"{v:.5f}" for v in table["cosine"]],
            score_kept_float=[_score(metric, v) if v == v else "not scored"
                              for v in table["score_kept_float"]],
            recovered=[_won_back(metric, v).replace(" won back", "") if v == v else ""
                       for v in table["recovered"]]).rename(columns={
                "rmse_over_scale": "int8 error (steps)", "snr_db": "SNR (dB)",
                "score_kept_float": f"{name}, this layer in float", "recovered": "won back"})
        scores = table.attrs
        line = (f"{escape(name)}: float model {_score(metric, scores['float_score'])}, all "
                f"int8 {_score(metric, scores['int8_score'])}. " if "int8_score" in scores
                else "")
        source = f"Errors measured by {SOURCES[scores['source']]}." if "source" in scores else ""
        return f"<p>{line}{escape(source)}</p>" + frame_html(shown)
