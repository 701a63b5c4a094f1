"""The results table (sortable) and a side-by-side comparison of two variants."""

from __future__ import annotations

import ipywidgets as w

from widgets.common import PanelStatus, frame_html, guarded

SHOWN = ["run_id", "model", "recipe", "size_bytes", "gzip_bytes", "accuracy", "latency_ms",
         "weight_sparsity", "max_unique_weights", "int8_ops_fraction"]


class ResultsPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.sort = w.Dropdown(options=SHOWN[2:], value="size_bytes", description="Sort by")
        self.descending = w.Checkbox(value=False, description="descending")
        self.table = w.HTML()
        self.pick = w.SelectMultiple(description="Compare", rows=6)
        self.comparison = w.HTML()
        self.status = PanelStatus()
        self.render = guarded(self.status, "Showing the results")(self.render)
        self.compare = guarded(self.status, "Comparing")(self.compare)
        self.sort.observe(lambda _: self.render(), names="value")
        self.descending.observe(lambda _: self.render(), names="value")
        self.pick.observe(lambda _: self.compare(), names="value")
        state.observe(lambda _: self.render(), names=["results", "device"])
        self.render()
        super().__init__([w.HTML("<h3>Results</h3>"), w.HBox([self.sort, self.descending]),
                          self.status, self.table, self.pick, self.comparison])

    def columns(self) -> list[str]:
        estimate = f"est_ms__{self.state.device}"
        extra = [estimate] if estimate in self.state.results else []
        return [c for c in SHOWN if c in self.state.results] + extra

    def render(self) -> None:
        frame = self.state.results
        if frame.empty:
            self.table.value = "<p>No results yet.</p>"
            self.pick.options = []
            return
        ordered = frame.sort_values(self.sort.value, ascending=not self.descending.value,
                                    na_position="last")
        self.table.value = frame_html(ordered[self.columns()], "wb-table wb-results")
        self.pick.options = [(f"{r.model} / {r.recipe} ({r.run_id})", r.run_id)
                             for r in ordered.itertuples()]

    def compare(self) -> None:
        chosen = list(self.pick.value)[:2]
        if len(chosen) < 2:
            self.comparison.value = "<p>Pick two variants to compare them.</p>"
            return
        rows = self.state.results.set_index("run_id").loc[chosen]
        side_by_side = rows[[c for c in self.columns() if c != "run_id"]].T
        side_by_side.columns = [f"{r.model} / {r.recipe}" for r in rows.itertuples()]
        self.comparison.value = side_by_side.to_html(border=0, classes="wb-table", escape=True,
                                                     float_format=lambda v: f"{v:.4g}")
