"""One panel for every recipe, named or composed from stages: its options as widgets generated
from the recipe's option specs, Run,
progress over the whole job, Cancel, a live chart of loss and accuracy per training epoch, a
log with times (newest first), and a one-line result with its deltas at the end."""

from __future__ import annotations

import time

import ipywidgets as w

from widgets.common import PanelStatus, escape, guarded
from widgets.composer import StageComposer
from widgets.options import option_widget
from widgets.plotly_chart import PlotlyChart
from workbench.errors import RecipeError
from workbench.recipes import RECIPES, make_config

LOG_LINES = 200
COMPOSE = "compose stages…"


def training_figure(epochs: list[dict]) -> dict:
    """Loss (left axis) and accuracy (right axis) for each finished epoch, numbered across the
    training phases of the run (pruning, then clustering...)."""
    steps = list(range(1, len(epochs) + 1))
    phases = [epoch["phase"] for epoch in epochs]
    data = [{"type": "scatter", "mode": "lines+markers", "name": "loss", "x": steps,
             "y": [epoch.get("loss") for epoch in epochs], "text": phases,
             "hovertemplate": "epoch %{x}: loss %{y:.4f}<br>%{text}<extra></extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "accuracy (train)",
             "x": steps, "y": [epoch.get("accuracy") for epoch in epochs], "yaxis": "y2",
             "text": phases,
             "hovertemplate": "epoch %{x}: accuracy %{y:.2%}<br>%{text}<extra></extra>"}]
    layout = {"height": 230, "margin": {"l": 50, "r": 50, "t": 30, "b": 35},
              "template": "plotly_white", "title": {"text": "training, per epoch",
                                                    "font": {"size": 13}},
              "xaxis": {"title": {"text": "epoch"}, "dtick": 1},
              "yaxis": {"title": {"text": "loss"}, "tickformat": ".3~g", "rangemode": "tozero"},
              "yaxis2": {"title": {"text": "accuracy"}, "overlaying": "y", "side": "right",
                         "tickformat": ".0%", "range": [0, 1.02]},
              "legend": {"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"}}
    return {"data": data, "layout": layout}


class TechniquePanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.recipe = w.Dropdown(options=[*RECIPES, COMPOSE], value="int8",
                                 description="Recipe")
        self.composer = StageComposer(layout=w.Layout(display="none"))
        self.summary = w.HTML()
        self.options = w.VBox()
        self.option_widgets = {}
        self._composed_values, self._widgets_composed = {}, False
        self.run_button = w.Button(description="Run", button_style="primary")
        self.cancel_button = w.Button(description="Cancel", disabled=True)
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                        layout=w.Layout(width="24em"))
        self.phase = w.HTML()
        self.chart = PlotlyChart(layout=w.Layout(width="100%", display="none"))
        self.result = w.HTML()
        self.log_view = w.HTML("<pre class='wb-log'></pre>",
                               layout=w.Layout(max_height="12em", overflow="auto"))
        self.status = PanelStatus()
        self._lines: list[str] = []
        self._shown_epochs = self._logged = 0
        self.run = guarded(self.status, "Starting the run")(self.run)
        self.recipe.observe(lambda _: self._build_options(), names="value")
        self.composer.observe(lambda _: self._build_options(), names="name")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        state.observe(self._on_new_job, names="job")
        state.observe(self._on_new_task, names="task")
        self._build_options()
        super().__init__([w.HTML("<h3>Techniques</h3>"), self.recipe, self.composer,
                          self.summary, self.options,
                          w.HBox([self.run_button, self.cancel_button]), self.status,
                          w.HBox([self.progress, self.phase]), self.result, self.chart,
                          self.log_view])
        self.add_class("wb-techniques")
        self.chart.add_class("wb-training-chart")

    @property
    def recipe_name(self) -> str:
        """The named recipe chosen, or the composed one ("" while the stages make none)."""
        composing = self.recipe.value == COMPOSE
        return self.composer.name if composing else self.recipe.value

    def _build_options(self) -> None:
        if self._widgets_composed:  # remembered through invalid chains and other recipes
            self._composed_values.update(
                {key: widget.value for key, widget in self.option_widgets.items()})
        composing = self.recipe.value == COMPOSE
        self.composer.layout.display = None if composing else "none"
        name = self.recipe_name
        self.run_button.disabled = not name or (self.state.job is not None and
                                                self.state.job.active)
        if not name:
            self.summary.value, self.option_widgets, self.options.children = "", {}, []
            self._widgets_composed = False
            return
        recipe = make_config(name)
        self.summary.value = f"<p>{escape(recipe.summary)}</p>"
        self.option_widgets = {spec.name: option_widget(spec) for spec in recipe.options()}
        if composing:  # a stage's options keep what was typed as the chain changes
            for key, value in self._composed_values.items():
                if key in self.option_widgets:
                    self.option_widgets[key].value = value
        self._widgets_composed = composing
        self.options.children = list(self.option_widgets.values())

    def config(self):
        """The recipe the options shown make (a ``RecipeError`` if one is invalid)."""
        if not self.recipe_name:
            raise RecipeError(self.composer.error)
        return make_config(self.recipe_name,
                           {name: widget.value for name, widget in self.option_widgets.items()})

    def run(self):
        """Start the recipe with the options shown; errors show in this panel."""
        self.status.clear()
        return self.state.run_recipes([self.config()])

    def cancel(self) -> None:
        if self.state.job is not None:
            self.state.job.cancel()
            self.phase.value = "cancelling at the next safe point..."

    def _on_new_task(self, _change) -> None:
        """Another model: the last run's result and chart were about the one before."""
        if self.state.job is None or not self.state.job.active:
            self.result.value = ""
            self.chart.layout.display = "none"

    def _on_new_job(self, change) -> None:
        job = change["new"]
        if job is None:
            return
        self.result.value = ""  # the log goes on across jobs, newest line first
        self._shown_epochs = self._logged = 0
        self.chart.layout.display = "none"
        self._write(f"started: {job.description}")
        job.add_listener(self._show_job)
        self._show_job(job)

    def _show_job(self, job) -> None:
        running = job.active
        self.run_button.disabled = running or not self.recipe_name
        self.cancel_button.disabled = not running
        self.progress.value = job.overall_fraction
        self.progress.bar_style = {"finished": "success", "error": "danger",
                                   "cancelled": "warning"}.get(job.state, "info")
        steps = f" ({job.done}/{job.total})" if job.total else ""
        self.phase.value = escape(f"{job.phase}{steps}" if running else job.state)
        for when, phase in job.log[self._logged:]:
            self._write(phase, when)
        self._logged = len(job.log)
        if len(job.epochs) != self._shown_epochs:
            self._shown_epochs = len(job.epochs)
            self.chart.show(training_figure(list(job.epochs)))
            self.chart.layout.display = None
        if not running:
            self._finished(job)

    def _finished(self, job) -> None:
        self._write(f"{job.state}: {job.description}" + (f": {job.error}" if job.error else ""))
        if job.state == "error":
            self.status.error(job.error)
        if job.state == "finished" and job.result is not None:
            self.result.value = "".join(f"<p><b>{escape(line)}</b></p>"
                                        for line in self.state.summaries(job.result.rows))

    def _write(self, line: str, when: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
        self._lines = [*self._lines, f"{stamp}  {line}"][-LOG_LINES:]
        self.log_view.value = ("<pre class='wb-log'>" + "\n".join(escape(text) for text in
                                                             reversed(self._lines)) + "</pre>")
