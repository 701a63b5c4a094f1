"""Plotly figures from a results DataFrame (no widgets here; the UI wraps them).

Example:
    >>> figure = tradeoff_figure(store.results())                    # doctest: +SKIP
    >>> figure.write_html("tradeoff.html")                           # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

SIZE_AXES = {"size_bytes": "size (KB)", "gzip_bytes": "gzip size (KB)"}


def tradeoff_figure(results: pd.DataFrame, size: str = "size_bytes",
                    latency: str = "latency_ms"):
    """Size (x) vs accuracy (y), latency as marker size and colour, one trace per model.

    Models without accuracy (zoo models with random weights) are drawn as size vs
    latency instead, so no point is ever placed at a made-up accuracy.
    """
    import plotly.graph_objects as go

    if size not in SIZE_AXES:
        raise ValueError(f"size must be one of {', '.join(SIZE_AXES)}. Received: size={size!r}.")
    frame = results.copy()
    frame["size_kb"] = frame[size] / 1024.0
    has_accuracy = frame["accuracy"].notna().any()
    y, y_title = ("accuracy", "accuracy (test split)") if has_accuracy else (latency, "latency (ms)")
    if has_accuracy:
        frame = frame[frame["accuracy"].notna()]
    biggest = max(float(frame[latency].max()), 1e-9) if len(frame) else 1.0
    figure = go.Figure()
    for model, rows in frame.groupby("model", sort=False):
        figure.add_trace(go.Scatter(
            x=rows["size_kb"], y=rows[y], mode="markers+text", name=str(model),
            text=rows["recipe"], textposition="top center",
            marker={"size": 12 + 28 * rows[latency] / biggest, "color": rows[latency],
                    "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": "latency (ms)"}, "line": {"width": 1},
                    "opacity": 0.8},
            customdata=rows[["recipe", latency, "gzip_bytes", "agreement"]].to_numpy(),
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>size %{x:.1f} KB<br>" + y_title + " %{y:.4g}<br>"
                "latency %{customdata[1]:.3f} ms<br>gzip %{customdata[2]} B<br>"
                "agreement %{customdata[3]:.4f}<extra>" + str(model) + "</extra>"
            ),
        ))
    figure.update_layout(
        title=("Gzip size" if size == "gzip_bytes" else "Size") + " vs " +
              ("accuracy" if has_accuracy else "latency") +
              " (marker size and colour: 1-thread latency)",
        xaxis_title=SIZE_AXES[size], yaxis_title=y_title, template="plotly_white",
        legend_title="model",
    )
    return figure
