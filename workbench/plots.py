"""Plotly figures from a results DataFrame (no widgets here; the UI wraps them).

Example:
    >>> figure = tradeoff_figure(store.results())                    # doctest: +SKIP
    >>> figure.write_html("tradeoff.html")                           # doctest: +SKIP
"""

from __future__ import annotations

import html

import pandas as pd

SIZE_AXES = {"size_bytes": "size (KB)", "gzip_bytes": "gzip size (KB)"}
# One colour per recipe, the same in every chart (marker outline and label): quantization in
# blues and greens, pruning and clustering in oranges and purples, QAT in reds.
RECIPE_COLOURS = {
    "float32": "#7f7f7f", "float16": "#9ecae1", "dynamic_range": "#3182bd",
    "int8": "#31a354", "int16x8": "#17becf", "prune": "#fd8d3c", "prune_2x4": "#e6550d",
    "cluster": "#9467bd", "prune_cluster": "#8c564b", "qat": "#d62728",
    "prune_qat": "#e377c2", "cluster_qat": "#c51b8a", "prune_cluster_qat": "#7a0177",
}
MEASURED_LATENCY = "latency_ms"
ESTIMATE_PREFIX = "est_ms__"


def recipe_colour(recipe: str) -> str:
    """The recipe's colour in every chart (dark grey for a recipe without one)."""
    return RECIPE_COLOURS.get(recipe, "#333333")


def latency_choices(results: pd.DataFrame) -> dict[str, str]:
    """``{label: column}``: the measured host latency, then each device's estimate."""
    choices = {"host, measured (1 thread)": MEASURED_LATENCY}
    for column in results.columns:
        if column.startswith(ESTIMATE_PREFIX):
            choices[f"{column[len(ESTIMATE_PREFIX):]}, estimated"] = column
    return choices


def tradeoff_figure(results: pd.DataFrame, size: str = "size_bytes",
                    latency: str = MEASURED_LATENCY, device_menu: bool = False):
    """Size (x) vs accuracy (y), latency as marker size and colour, one trace per model.

    ``latency`` is ``latency_ms`` (measured on this host) or a device estimate column
    (``est_ms__<device>``); variants that cannot run or do not fit on that device are drawn
    as grey crosses. ``device_menu`` adds a dropdown that switches between all of them.
    Models without accuracy (zoo models with random weights) are drawn as size vs
    latency instead, so no point is ever placed at a made-up accuracy.
    """
    import plotly.graph_objects as go

    if size not in SIZE_AXES:
        raise ValueError(f"size must be one of {', '.join(SIZE_AXES)}. Received: size={size!r}.")
    choices = latency_choices(results)
    if latency not in choices.values():
        raise ValueError(f"latency must be one of {', '.join(choices.values())}. "
                         f"Received: latency={latency!r}.")
    frame = results.copy()
    frame["size_kb"] = frame[size] / 1024.0
    has_accuracy = frame["accuracy"].notna().any()
    if has_accuracy:
        frame = frame[frame["accuracy"].notna()]
    shown = choices if device_menu else {
        label: column for label, column in choices.items() if column == latency}
    figure = go.Figure()
    groups = []
    for label, column in shown.items():
        traces = _latency_traces(frame, column, label, has_accuracy)
        groups.append((label, len(figure.data), len(traces)))
        for trace in traces:
            trace.visible = column == latency
            figure.add_trace(trace)
    always = set()
    if has_accuracy and len(frame):
        front = pareto_front(frame, "size_kb", "accuracy")
        always.add(len(figure.data))
        figure.add_trace(go.Scatter(x=front["size_kb"], y=front["accuracy"], mode="lines",
                                    name="Pareto front", hoverinfo="skip",
                                    line={"dash": "dash", "color": "#888888"}))
    if device_menu and len(groups) > 1:
        figure.update_layout(updatemenus=[{
            "buttons": [{"label": label, "method": "update",
                         "args": [{"visible": [start <= i < start + count or i in always
                                               for i in range(len(figure.data))]},
                                  {"title": _title(size, has_accuracy, label)}]}
                        for label, start, count in groups],
            "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}])
    current = next(label for label, column in choices.items() if column == latency)
    figure.update_layout(
        title=_title(size, has_accuracy, current), xaxis_title=SIZE_AXES[size],
        yaxis_title="accuracy (test split)" if has_accuracy else "latency (ms)",
        template="plotly_white", legend_title="model",
    )
    return figure


def _title(size: str, has_accuracy: bool, latency_label: str) -> str:
    return (("Gzip size" if size == "gzip_bytes" else "Size") + " vs " +
            ("accuracy" if has_accuracy else "latency") +
            f" (marker size and colour: latency, {latency_label})")


def _latency_traces(frame: pd.DataFrame, column: str, label: str, has_accuracy: bool) -> list:
    import plotly.graph_objects as go

    fits_column = "fits__" + column[len(ESTIMATE_PREFIX):]
    runs = frame[column].notna()
    if fits_column in frame:
        runs &= frame[fits_column].fillna(0).astype(bool)
    biggest = max(float(frame.loc[runs, column].max()), 1e-9) if runs.any() else 1.0
    y_title = "accuracy (test split)" if has_accuracy else "latency (ms)"
    traces = []
    for model, rows in frame[runs].groupby("model", sort=False):
        y = rows["accuracy"] if has_accuracy else rows[column]
        traces.append(go.Scatter(
            x=rows["size_kb"], y=y, mode="markers+text", name=_plain(model),
            text=[_plain(recipe) for recipe in rows["recipe"]], textposition="top center",
            textfont={"color": [recipe_colour(r) for r in rows["recipe"]]},
            marker={"size": 12 + 28 * rows[column] / biggest, "color": rows[column],
                    "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": "latency (ms)"}, "opacity": 0.85,
                    "line": {"width": 3, "color": [recipe_colour(r) for r in rows["recipe"]]}},
            customdata=rows.assign(recipe=rows["recipe"].map(_plain))[
                ["recipe", column, "gzip_bytes", "agreement"]].to_numpy(),
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>size %{x:.1f} KB<br>" + y_title + " %{y:.4g}<br>"
                "latency %{customdata[1]:.3f} ms (" + label + ")<br>gzip %{customdata[2]} B<br>"
                "agreement %{customdata[3]:.4f}<extra>" + _plain(model) + "</extra>"
            ),
        ))
    blocked = frame[~runs]
    if len(blocked) and has_accuracy:
        traces.append(go.Scatter(
            x=blocked["size_kb"], y=blocked["accuracy"], mode="markers+text",
            name=f"does not run or fit ({_plain(label.split(',')[0])})",
            text=[_plain(recipe) for recipe in blocked["recipe"]],
            textposition="bottom center",
            marker={"symbol": "x", "size": 12, "color": "#999999"},
            hovertemplate="<b>%{text}</b><br>does not run or fit on this device<extra></extra>"))
    return traces


def _plain(text) -> str:
    """A name from a user or a file, escaped: plotly renders labels as (a subset of) HTML."""
    return html.escape(str(text))


def pareto_front(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The rows no other row beats on both ``x`` (smaller is better) and ``y`` (larger is
    better), sorted by ``x``."""
    ordered = frame.dropna(subset=[x, y]).sort_values([x, y], ascending=[True, False])
    best, keep = float("-inf"), []
    for index, value in ordered[y].items():
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]
