"""The results table, readable at a glance (words and units in the headers, numbers formatted,
one mark for a missing value, deltas against the baseline), filtered by model, sorted, as CSV;
a variant can be deleted (its artifact too); two variants compared side by side, the better
value highlighted, their option differences listed."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import ipywidgets as w
import pandas as pd

from widgets.common import PanelStatus, escape, guarded

MISSING = "—"
ALL_MODELS = "all models"


def _columns(device: str) -> list[tuple]:
    """(header, source column, scale, format, better: 'low' | 'high' | None)."""
    return [
        ("Model", "model", None, "s", None), ("Recipe", "variant", None, "s", None),
        ("Accuracy (%)", "accuracy", 100.0, ".2f", "high"),
        ("Lost vs float", "drop_points", 1.0, ".3g", "low"),
        ("Metric", "metric", None, "s", None), ("Score", "score", 1.0, ".4g", None),
        ("Size (KB)", "size_bytes", 1 / 1024, ".1f", "low"),
        ("x smaller", "x_smaller", 1.0, ".2f", "high"),
        ("Gzip (KB)", "gzip_bytes", 1 / 1024, ".1f", "low"),
        ("x smaller (gzip)", "x_smaller_gzip", 1.0, ".2f", "high"),
        ("Host latency (ms)", "latency_ms", 1.0, "3 digits", "low"),
        (f"{device} latency (ms, est.)", f"est_ms__{device}", 1.0, "3 digits", "low"),
        (f"x faster ({device})", "x_faster", 1.0, ".2f", "high"),
        (f"Fits {device}", f"fits__{device}", None, "yesno", "high"),
        ("Zeros in kernels (%)", "weight_sparsity", 100.0, ".1f", None),
        ("Most distinct weights", "max_unique_weights", 1.0, ".0f", None),
        ("int8 ops (%)", "int8_ops_fraction", 100.0, ".0f", "high"),
        ("Run", "run_id", None, "s", None),
    ]


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _format(value, scale, fmt) -> str:
    if _missing(value):
        return MISSING
    if fmt == "s":
        return str(value)
    if fmt == "yesno":
        return "yes" if int(value) else "no"
    if fmt == "3 digits":  # 1.996 -> 2.00 (as the charts' hover says), 123.4 -> 123
        return format(float(value) * scale, "#.3g").rstrip(".")
    return format(float(value) * scale, fmt)


NO_DATA = "no data"  # the accuracy of a model loaded without a dataset


def display_table(frame: pd.DataFrame, device: str) -> pd.DataFrame:
    """``frame`` (with deltas) as the table people read: headers in words with units, and the
    accuracy of a model without a dataset labelled as such."""
    from workbench.pipeline import GENERATED_DATA

    shown = {}
    without_data = frame["dataset"].eq(GENERATED_DATA).tolist() if "dataset" in frame \
        else [False] * len(frame)
    for header, column, scale, fmt, _ in _columns(device):
        if column in frame:
            shown[header] = [NO_DATA if missing and column in ("accuracy", "drop_points", "score")
                             else _cell_text(column, value, row, scale, fmt)
                             for value, missing, row in zip(frame[column], without_data,
                                                            frame.to_dict("records"))]
    return pd.DataFrame(shown)


def _cell_text(column: str, value, row, scale, fmt) -> str:
    """A value as the table and the comparison show it: the score and the metric lost in the
    row's metric (one column holds rows of several metrics), anything else by ``fmt``."""
    from workbench.compare import drop_amount, row_metric

    if _missing(value) or column not in ("score", "drop_points"):
        return _format(value, scale, fmt)
    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    if column == "score":  # 97.0%, 44.10
        return _format(value, 1.0, ".4g") if metric is None else metric.format(float(value))
    amount = drop_amount(value, metric.unit if metric is not None else "points")
    return "0" if amount is None else ("" if value > 0 else "-") + amount  # 0.102 MAE


def _score_direction(left, right) -> str | None:
    """Which score is better: by the metric's direction when both rows share the metric."""
    from workbench.compare import row_metric

    if left.get("metric") != right.get("metric"):
        return None
    metric = row_metric(left.get("metric"), left.get("higher_is_better"))
    return None if metric is None else "high" if metric.higher_is_better else "low"


class ResultsPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.model = w.Dropdown(description="Model", layout=w.Layout(width="22em"))
        self.sort = w.Dropdown(description="Sort by", layout=w.Layout(width="24em"))
        self.descending = w.Checkbox(value=False, description="descending", indent=False)
        self.download = w.HTML()
        self.table = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.to_delete = w.Dropdown(description="Variant", layout=w.Layout(width="34em"))
        self.delete_button = w.Button(description="Delete", button_style="warning")
        self.first = w.Dropdown(description="Compare", layout=w.Layout(width="34em"))
        self.second = w.Dropdown(description="with", layout=w.Layout(width="34em"))
        self.comparison = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.status = PanelStatus()
        self._armed_delete = None
        self._followed = None
        self.render = guarded(self.status, "Showing the results")(self.render)
        self.compare = guarded(self.status, "Comparing")(self.compare)
        self.delete = guarded(self.status, "Deleting")(self.delete)
        for control in (self.model, self.sort, self.descending):
            control.observe(lambda _: self.render(), names="value")
        for control in (self.first, self.second):
            control.observe(lambda _: self.compare(), names="value")
        self.to_delete.observe(lambda _: self._disarm(), names="value")
        self.delete_button.on_click(lambda _: self.delete())
        state.observe(lambda _: self.refresh(), names=["results", "device", "task"])
        self.refresh()
        super().__init__([
            w.HTML("<h3>Results</h3>"),
            w.HBox([self.model, self.sort, self.descending, self.download],
                   layout=w.Layout(flex_flow="row wrap", align_items="center")),
            self.status, self.table, w.HTML("<h4>Compare two variants</h4>"),
            w.HBox([self.first, self.second], layout=w.Layout(flex_flow="row wrap")),
            self.comparison, w.HTML("<h4>Delete a variant</h4>"),
            w.HBox([self.to_delete, self.delete_button])])
        self.add_class("wb-results-panel")

    def rows(self) -> pd.DataFrame:
        """The rows the table shows (filtered by model, sorted), with their deltas."""
        frame = self.state.with_deltas()
        if frame.empty:
            return frame
        if self.model.value and self.model.value != ALL_MODELS:
            frame = frame[frame["model"] == self.model.value]
        column = self.sort.value or "size_bytes"
        if column in frame:
            frame = frame.sort_values(column, ascending=not self.descending.value,
                                      na_position="last")
        return frame

    def refresh(self) -> None:
        """Follow new rows, another device or another loaded model."""
        frame = self.state.results
        models = [ALL_MODELS, *dict.fromkeys(frame["model"])] if not frame.empty \
            else [ALL_MODELS]
        loaded = self.state.task.name if self.state.task is not None else None
        if loaded != self._followed:  # a newly loaded model: show its rows
            self._followed, wanted = loaded, loaded if loaded in models else ALL_MODELS
        else:
            wanted = self.model.value if self.model.value in models else ALL_MODELS
        self.model.options, self.model.value = models, wanted
        sortable = {header: column for header, column, _, fmt, _ in _columns(self.state.device)
                    if fmt != "s" or column in ("model", "variant")}
        current = self.sort.value
        self.sort.options = list(sortable.items())
        self.sort.value = current if current in sortable.values() else "size_bytes"
        self.render()

    def render(self) -> None:
        frame = self.rows()
        if frame.empty:
            self.table.value = "<p>No results yet.</p>"
            self.download.value = ""
            for control in (self.first, self.second, self.to_delete):
                control.options = []
            return
        table = display_table(frame, self.state.device)
        self.table.value = table.to_html(index=False, classes="wb-table wb-results", border=0,
                                         escape=True)
        self.download.value = self._csv_link(frame)
        choices = [(f"{row.model} / {row.variant} ({row.run_id})", row.run_id)
                   for row in frame.itertuples()]
        for control in (self.first, self.second, self.to_delete):
            current = control.value
            control.options = choices
            ids = [run_id for _, run_id in choices]
            control.value = current if current in ids else None
        if self.first.value is None and len(choices) > 1:
            self.first.value, self.second.value = choices[0][1], choices[1][1]

    @staticmethod
    def _csv_link(frame: pd.DataFrame) -> str:
        from workbench.store import RESULT_COLUMNS, device_columns_of

        columns = [c for c in (*RESULT_COLUMNS, "drop_points", "x_smaller", "x_smaller_gzip",
                               "x_faster", *device_columns_of(frame.columns)) if c in frame]
        table = frame[columns].copy()
        if "tflite_path" in table:  # where the file lies on this machine means nothing elsewhere
            table["tflite_path"] = table["tflite_path"].map(
                lambda path: Path(path).name if isinstance(path, str) and path else path)
        data = base64.b64encode(table.to_csv(index=False).encode()).decode()
        return (f'<a download="results.csv" href="data:text/csv;base64,{data}">'
                f"download CSV ({len(frame)} rows)</a>")

    def compare(self) -> None:
        """The two chosen variants side by side: the better value in bold green, then the
        options that differ."""
        a, b = self.first.value, self.second.value
        if not a or not b or a == b:
            self.comparison.value = "<p>Pick two different variants to compare them.</p>"
            return
        table = self.state.with_deltas().set_index("run_id")
        left, right = table.loc[a], table.loc[b]
        rows = []
        for header, texts, marks in comparison_rows(left, right, self.state.device):
            cells = "".join(f"<td class='{'wb-better' if mark else ''}'>{escape(text)}</td>"
                            for text, mark in zip(texts, marks))
            rows.append(f"<tr><th>{escape(header)}</th>{cells}</tr>")
        heads = "".join(f"<th>{escape(row['model'])} / {escape(row['variant'])}<br>"
                        f"<small>{escape(run_id)}</small></th>"
                        for run_id, row in ((a, left), (b, right)))
        self.comparison.value = (f"<table class='wb-table wb-compare'><tr><th></th>{heads}</tr>"
                                 f"{''.join(rows)}</table>" + _config_differences(left, right))

    def _disarm(self) -> None:
        self._armed_delete = None
        self.delete_button.description, self.delete_button.button_style = "Delete", "warning"

    def delete(self) -> None:
        """First click: ask to confirm; second click on the same variant: delete it."""
        run_id = self.to_delete.value
        if not run_id:
            self.status.error("Pick the variant to delete first.")
            return
        if self._armed_delete != run_id:
            self._armed_delete = run_id
            self.delete_button.description, self.delete_button.button_style = \
                "Confirm delete", "danger"
            self.status.show(f"Click 'Confirm delete' to remove {run_id} and its .tflite.")
            return
        self.state.delete(run_id)
        self._disarm()
        self.status.show(f"Deleted {run_id} and its .tflite.")


def comparison_rows(left, right, device: str) -> list[tuple[str, list[str], list[bool]]]:
    """(header, the two values as text, which is better) for each figure either variant has;
    the score is compared by its metric's direction, and only when both share the metric."""
    rows = []
    for header, column, scale, fmt, better in _columns(device)[2:-1]:
        values = [left.get(column), right.get(column)]
        texts = [_cell_text(column, value, row, scale, fmt)
                 for value, row in zip(values, (left, right))]
        if texts[0] == texts[1] == MISSING:
            continue
        if column == "score":
            better = _score_direction(left, right)
        marks = _better(values, better) if texts[0] != texts[1] else [False, False]
        rows.append((header, texts, marks))
    return rows


def _better(values: list, better: str | None) -> list[bool]:
    if better is None:  # nothing to prefer (names, a score of two metrics)
        return [False, False]
    numbers = [None if _missing(v) else float(v) for v in values]
    if None in numbers or numbers[0] == numbers[1]:
        return [False, False]
    best = max(numbers) if better == "high" else min(numbers)
    return [number == best for number in numbers]


def _config_differences(left, right) -> str:
    a = {"recipe": left["recipe"], **json.loads(left["config"] or "{}")}
    b = {"recipe": right["recipe"], **json.loads(right["config"] or "{}")}
    differing = [key for key in sorted(set(a) | set(b)) if a.get(key, MISSING) !=
                 b.get(key, MISSING)]
    if not differing:
        return "<p>Same recipe and options.</p>"
    rows = "".join(f"<tr><th>{escape(key)}</th><td>{escape(a.get(key, MISSING))}</td>"
                   f"<td>{escape(b.get(key, MISSING))}</td></tr>" for key in differing)
    return f"<p>Options that differ:</p><table class='wb-table wb-config-diff'>{rows}</table>"
