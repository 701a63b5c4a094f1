"""One panel for every recipe: its options as widgets generated from the recipe config, a
Run button, progress with the current phase, Cancel, and a log."""

from __future__ import annotations

import dataclasses
import ipywidgets as w

from widgets.common import PanelStatus, escape, guarded
from workbench.recipes import RECIPES, make_config


def option_widget(spec: dataclasses.Field):
    """A widget for one config option, with the option's valid range or choices."""
    meta, default = spec.metadata, spec.default
    label = spec.name.replace("_", " ")
    style = {"description_width": "initial"}
    if meta.get("choices"):
        return w.Dropdown(options=list(meta["choices"]), value=default, description=label,
                          style=style)
    if isinstance(default, bool):
        return w.Checkbox(value=default, description=label, style=style)
    low, high = meta.get("minimum"), meta.get("maximum")
    if isinstance(default, int):
        return w.BoundedIntText(value=default, min=low if low is not None else 0,
                                max=high if high is not None else 10**6, description=label,
                                style=style)
    if low is not None and high is not None:
        return w.FloatSlider(value=default, min=low, max=high, step=(high - low) / 100,
                             description=label, readout_format=".4g", style=style)
    return w.BoundedFloatText(value=default, min=low if low is not None else 0.0,
                              max=high if high is not None else 1e6, description=label,
                              style=style)


class TechniquePanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.recipe = w.Dropdown(options=list(RECIPES), value="int8", description="Recipe")
        self.summary = w.HTML()
        self.options = w.VBox()
        self.option_widgets = {}
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="")
        self.phase = w.HTML()
        self.log_area = w.Textarea(value="", layout=w.Layout(width="100%", height="8em"),
                                   disabled=True)
        self.status = PanelStatus()
        self.run = guarded(self.status, "Starting the run")(self.run)
        self.recipe.observe(lambda _: self._build_options(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        state.observe(self._on_new_job, names="job")
        self._build_options()
        super().__init__([w.HTML("<h3>Techniques</h3>"), self.recipe, self.summary, self.options,
                          w.HBox([self.run_button, self.cancel_button]), self.status,
                          w.HBox([self.progress, self.phase]), self.log_area])

    def _build_options(self) -> None:
        config_class = RECIPES[self.recipe.value]
        self.summary.value = f"<p>{escape(config_class.summary)}</p>"
        self.option_widgets = {spec.name: option_widget(spec)
                               for spec in config_class.options()}
        self.options.children = list(self.option_widgets.values())

    def config(self):
        return make_config(self.recipe.value,
                           {name: widget.value for name, widget in self.option_widgets.items()})

    def run(self):
        """Start the recipe with the options shown; errors show in this panel."""
        self.status.clear()
        return self.state.run_recipes([self.config()])

    def cancel(self) -> None:
        if self.state.job is not None:
            self.state.job.cancel()
            self.phase.value = "cancelling at the next safe point..."

    def _on_new_job(self, change) -> None:
        job = change["new"]
        if job is not None:
            self._write(f"started: {job.description}")
            job.add_listener(self._show_job)
            self._show_job(job)

    def _show_job(self, job) -> None:
        running = job.active
        self.run_button.disabled, self.cancel_button.disabled = running, not running
        fraction = job.fraction
        self.progress.value = 1.0 if job.state == "finished" else (fraction or 0.0)
        self.progress.bar_style = {"finished": "success", "error": "danger",
                                   "cancelled": "warning"}.get(job.state, "info")
        steps = f" ({job.done}/{job.total})" if job.total else ""
        self.phase.value = escape(f"{job.state}: {job.phase}{steps}" if running else job.state)
        if not running:
            self._write(f"{job.state}: {job.description}" + (f": {job.error}" if job.error
                                                             else ""))
            if job.state == "error":
                self.status.error(job.error)

    def _write(self, line: str) -> None:
        self.log_area.value = (self.log_area.value + line + "\n")[-5000:]
