"""The trade-off explorer: every stored variant on one chart (size vs accuracy, latency as the
colour, per device), the Pareto front explained, the variants that cannot be plotted listed
with the reason, and a click on a point shows that variant's details (looked up by run id)."""

from __future__ import annotations

import ipywidgets as w

from widgets.common import PanelStatus, escape, guarded
from widgets.details import DetailsView
from widgets.plotly_chart import PlotlyChart
from workbench.plots import (
    ESTIMATE_PREFIX, MEASURED_LATENCY, latency_choices, pareto_sentence, tradeoff_figure,
    unplotted,
)

SCOPES = {"loaded model": "loaded", "all models": "all"}
EMPTY_FIGURE = {"data": [], "layout": {"height": 300, "template": "plotly_white",
                                       "title": {"text": "No variants yet: run a recipe"}}}


class ExplorerPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.device = w.Dropdown(description="Latency", layout=w.Layout(width="24em"))
        self.size = w.Dropdown(options={"file size": "size_bytes", "gzip size": "gzip_bytes"},
                               value="size_bytes", description="Size")
        self.scope = w.ToggleButtons(options=SCOPES, value="loaded")
        self.chart = PlotlyChart(layout=w.Layout(width="100%"))
        self.explanation = w.HTML()
        self.left_out = w.HTML()
        self.status = PanelStatus()
        self.details = DetailsView(state)
        for name in ("refresh_choices", "redraw", "_device_chosen", "_follow_state_device",
                     "_clicked", "show", "_page_opened"):
            setattr(self, name, guarded(self.status, "Drawing the trade-offs")(
                getattr(self, name)))
        self.chart.on_click(self._clicked)
        self.chart.on_render(self._page_opened)
        self.device.observe(lambda _: self._device_chosen(), names="value")
        self.size.observe(lambda _: self.redraw(), names="value")
        self.scope.observe(lambda _: self.redraw(), names="value")
        state.observe(lambda _: self.refresh_choices(), names=["results", "task"])
        state.observe(lambda _: self.details.clear(), names="task")  # another model's variant
        state.observe(lambda _: self._follow_state_device(), names="device")
        self.refresh_choices()
        super().__init__([w.HTML("<h3>Trade-offs</h3>"),
                          w.HBox([self.device, self.size, w.HTML("&nbsp;&nbsp;Show&nbsp;"),
                                  self.scope],
                                 layout=w.Layout(flex_flow="row wrap", align_items="center")),
                          self.status, self.chart, self.explanation, self.left_out,
                          w.HTML("<hr>"), self.details])
        self.add_class("wb-trade-offs")
        self.chart.add_class("wb-tradeoff-chart")

    def frame(self):
        """The rows the chart shows (the loaded model's on its data, or every model's), each
        named by its subject: the model, with its dataset where one model had several."""
        rows = self.state.results if self.scope.value == "all" else self.state.model_results()
        if rows.empty:
            return rows
        return self.state.with_deltas(rows).pipe(lambda f: f.assign(model=f["subject"]))

    def _page_opened(self) -> None:
        """A page (or a reload) shows the app: read the store again, since this kernel may
        have been preheated before other runs stored their variants."""
        self.state.refresh()

    def refresh_choices(self) -> None:
        choices = latency_choices(self.state.results)
        current = self.device.value
        self.device.options = list(choices.items())
        wanted = current if _device_of(current) == self.state.device else \
            _column_of(self.state.device)
        self.device.value = (wanted if wanted in choices.values() else
                             current if current in choices.values() else MEASURED_LATENCY)
        self.redraw()

    def _device_chosen(self) -> None:
        self.state.device = _device_of(self.device.value)
        self.redraw()
        if self.details.shown_run_id:  # the open details follow the device too
            self.details.show(self.details.shown_run_id)

    def _follow_state_device(self) -> None:
        if _device_of(self.device.value) == self.state.device:
            return  # "host" is both the measured and the estimated latency: keep the one shown
        wanted = _column_of(self.state.device)
        if wanted in dict(self.device.options).values():
            self.device.value = wanted

    def redraw(self) -> None:
        frame = self.frame()
        if frame.empty or self.device.value is None:
            self.chart.show(EMPTY_FIGURE)
            self.explanation.value = self.left_out.value = ""
            return
        self.chart.show(tradeoff_figure(frame, size=self.size.value, latency=self.device.value))
        self.explanation.value = self._explanation(frame)
        missing = unplotted(frame)
        self.left_out.value = "" if missing.empty else (
            "<p>Not plotted:</p><ul class='wb-unplotted'>" + "".join(
                f"<li>{escape(row.model)} / {escape(row.recipe)} ({escape(row.run_id)}): "
                f"{escape(row.reason)}</li>" for row in missing.itertuples()) + "</ul>")

    def _explanation(self, frame) -> str:
        sentence = pareto_sentence(frame, self.size.value, self.device.value)
        if sentence is None:
            return ("<p>No variant here has a score (no dataset), so the chart shows size "
                    "against latency.</p>")
        return ("<p>" + escape(sentence) + " Each point is one variant: its fill colour is the "
                "latency, its outline the recipe, its symbol the model; the dotted line is the "
                "float model's score. Click a point for its details.</p>")

    def _clicked(self, points: list[dict]) -> None:
        for point in points:
            customdata = point.get("customdata")
            if customdata:
                self.show(str(customdata[0]))
                return

    def show(self, run_id: str) -> str:
        """Show the details of the variant with ``run_id``."""
        self.status.clear()
        return self.details.show(run_id)


def _device_of(column: str | None) -> str:
    """The device a latency column describes: ``'est_ms__edge_tpu'`` -> ``'edge_tpu'``; the
    measured latency and ``'est_ms__host'`` -> ``'host'``."""
    column = column or MEASURED_LATENCY
    return column[len(ESTIMATE_PREFIX):] if column.startswith(ESTIMATE_PREFIX) else "host"


def _column_of(device: str) -> str:
    """The latency column shown for ``device``: the host's measurement, another's estimate."""
    return MEASURED_LATENCY if device == "host" else ESTIMATE_PREFIX + device
