"""Plotly figures from a results DataFrame (no widgets here; the UI wraps them).

The trade-off chart: size (x) against accuracy (y), one encoding per quantity: latency is the
marker's fill colour (one colour bar), the recipe its outline colour and legend entry, the
model its symbol. Each model's float32 variant is labelled as the baseline and its float
model's accuracy drawn as a dotted line; the Pareto front is ringed and joined by a step line.

Example:
    >>> figure = tradeoff_figure(store.results())                    # doctest: +SKIP
    >>> figure.write_html("tradeoff.html")                           # doctest: +SKIP
"""

from __future__ import annotations

import html

import pandas as pd

SIZE_AXES = {"size_bytes": "size (KB)", "gzip_bytes": "gzip size (KB)"}
# One colour per recipe, the same in every chart (marker outline, legend, bars): quantization in
# blues and greens, pruning and clustering in oranges and purples, QAT in reds.
RECIPE_COLOURS = {
    "float32": "#7f7f7f", "float16": "#9ecae1", "dynamic_range": "#3182bd",
    "int8": "#31a354", "int16x8": "#17becf", "prune": "#fd8d3c", "prune_2x4": "#e6550d",
    "cluster": "#9467bd", "prune_cluster": "#8c564b", "qat": "#d62728",
    "prune_qat": "#e377c2", "cluster_qat": "#c51b8a", "prune_cluster_qat": "#7a0177",
    "int4_weights": "#bcbd22", "dynamic_int4": "#8c8c00", "int4_int8": "#74c476",
}
MODEL_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "pentagon", "hexagon",
                 "star-square", "hourglass")
MEASURED_LATENCY = "latency_ms"
ESTIMATE_PREFIX = "est_ms__"
BASELINE_RECIPE = "float32"
PARETO_SENTENCE = ("Pareto front (ringed, joined by the dashed step line): the variants that run "
                   "which no other variant beats on both size and {merit}; {on} of {total} "
                   "plotted are on it.")


# Compositions of stages (``prune+cluster+int16x8``) draw from these, the same one every time.
COMPOSITION_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3",
                       "#8ca252", "#bd9e39", "#ad494a", "#a55194")


def recipe_colour(recipe: str) -> str:
    """The recipe's colour in every chart; a composition gets one from its name (stable across
    runs and processes: a checksum, not Python's salted hash)."""
    import zlib

    if recipe in RECIPE_COLOURS:
        return RECIPE_COLOURS[recipe]
    return COMPOSITION_COLOURS[zlib.crc32(recipe.encode()) % len(COMPOSITION_COLOURS)]


def latency_choices(results: pd.DataFrame) -> dict[str, str]:
    """``{label: column}``: the measured host latency, then each device's estimate."""
    choices = {"host, measured (1 thread)": MEASURED_LATENCY}
    for column in results.columns:
        if column.startswith(ESTIMATE_PREFIX):
            choices[f"{column[len(ESTIMATE_PREFIX):]}, estimated"] = column
    return choices


def _plain(text) -> str:
    """A name from a user or a file, escaped: plotly renders labels as (a subset of) HTML."""
    return html.escape(str(text))


def _checked(results: pd.DataFrame, size: str, latency: str) -> dict[str, str]:
    if size not in SIZE_AXES:
        raise ValueError(f"size must be one of {', '.join(SIZE_AXES)}. Received: size={size!r}.")
    choices = latency_choices(results)
    if latency not in choices.values():
        raise ValueError(f"latency must be one of {', '.join(choices.values())}. "
                         f"Received: latency={latency!r}.")
    return choices


def tradeoff_figure(results: pd.DataFrame, size: str = "size_bytes",
                    latency: str = MEASURED_LATENCY, device_menu: bool = False):
    """Size (x) vs accuracy (y); latency (``latency_ms`` measured on this host, or a device's
    ``est_ms__<device>`` estimate) as the fill colour. Variants that cannot run or do not fit
    on that device are grey crosses. ``device_menu`` adds a dropdown switching between every
    latency. Without any accuracy (zoo models with random weights) the y axis is the latency
    instead, so no point is ever placed at a made-up accuracy. Rows without accuracy are left
    out when others have one (say so beside the chart: ``unplotted``)."""
    import plotly.graph_objects as go

    from workbench.compare import merit_frame

    choices = _checked(results, size, latency)
    scored, metric, _ = merit_frame(results)
    has_accuracy = metric is not None
    frame = scored.copy() if has_accuracy else results.copy()
    if "run_id" not in frame:
        frame["run_id"] = [str(index) for index in frame.index]
    frame["size_kb"] = frame[size] / 1024.0
    symbols = {model: MODEL_SYMBOLS[i % len(MODEL_SYMBOLS)]
               for i, model in enumerate(dict.fromkeys(frame["model"]))}
    shown = choices if device_menu else {
        label: column for label, column in choices.items() if column == latency}
    figure, groups = go.Figure(), []
    for number, (label, column) in enumerate(shown.items(), start=1):
        traces = _latency_traces(frame, column, label, metric, size, symbols,
                                 f"coloraxis{number if number > 1 else ''}")
        groups.append((label, len(figure.data), len(traces)))
        for trace in traces:
            trace.visible = column == latency
            figure.add_trace(trace)
        figure.layout[f"coloraxis{number if number > 1 else ''}"] = {
            "colorscale": "Viridis", **_colour_range(frame[column]),
            "colorbar": {"title": {"text": "latency (ms)"}, "x": 1.02, "len": 0.8}}
    always = _add_reference(figure, frame[_runs(frame, latency)], frame, metric)
    always |= _add_model_legend(figure, symbols)
    if device_menu and len(groups) > 1:
        _add_menu(figure, groups, always, size, metric)
    if has_accuracy:
        figure.update_yaxes(range=_merit_range(frame, metric))
    current = next(label for label, column in choices.items() if column == latency)
    figure.update_layout(
        title=_title(size, metric, current), xaxis_title=SIZE_AXES[size],
        yaxis_title=f"{merit_words(metric)} (test split)" if has_accuracy else "latency (ms)",
        yaxis_tickformat=".1%" if metric is not None and metric.fraction else None,
        template="plotly_white",
        legend={"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top",
                "title": {"text": "recipe"}},
        margin={"l": 70, "r": 90, "t": 60, "b": 40}, height=560,
    )
    return figure


def _colour_range(values: pd.Series) -> dict:
    """The latency colour scale's ends (set, not left to plotly: one value alone would be
    drawn as the middle of a made-up range)."""
    known = pd.to_numeric(values, errors="coerce").dropna()
    if known.empty:
        return {}
    low, high = float(known.min()), float(known.max())
    if high - low < 1e-9:
        low, high = low * 0.9, high * 1.1 + 1e-9
    return {"cmin": low, "cmax": high}


def merit_words(metric) -> str:
    """How a chart names the metric: 'accuracy' for top-1, else its name and direction."""
    if metric is None:
        return "latency"
    if metric.name == "top1":
        return "accuracy"
    return metric.name + ("" if metric.higher_is_better else ", lower is better")


def _merit_range(frame: pd.DataFrame, metric) -> list[float]:
    """The metric's axis around the points and the float models' score (at least two points
    tall and never beyond 0-100% for a fraction); reversed when lower is better, so better is
    always up."""
    values = pd.concat([frame["merit"], frame.get("float_merit", pd.Series(dtype=float))])
    values = pd.to_numeric(values, errors="coerce").dropna()
    low, high = float(values.min()), float(values.max())
    if metric.fraction:
        pad = max(0.01, 0.15 * (high - low))
        span = [max(0.0, low - pad), min(1.0, high + pad) + 0.002]
    else:
        pad = max(0.15 * (high - low), 0.02 * max(abs(high), 1e-9))
        span = [low - pad, high + pad]
    return span if metric.higher_is_better else span[::-1]


def pareto_sentence(results: pd.DataFrame, size: str = "size_bytes",
                    latency: str = MEASURED_LATENCY) -> str | None:
    """What the chart's Pareto front holds, counted as ``tradeoff_figure`` draws it (the
    scored rows of the chart's metric that run on the latency's device), or None without a
    score."""
    from workbench.compare import merit_frame

    scored, metric, _ = merit_frame(results)
    if metric is None or scored.empty:
        return None
    frame = scored.assign(size_kb=scored[size] / 1024.0)
    front = pareto_front(frame[_runs(frame, latency)], "size_kb", "merit",
                         metric.higher_is_better)
    return PARETO_SENTENCE.format(merit=merit_words(metric), on=len(front), total=len(frame))


def unplotted(results: pd.DataFrame) -> pd.DataFrame:
    """The rows ``tradeoff_figure`` leaves out (no score while others have one, or scored by
    another metric), with why."""
    from workbench.compare import merit_frame

    return merit_frame(results)[2]


def _title(size: str, metric, latency_label: str) -> str:
    return (("Gzip size" if size == "gzip_bytes" else "Size") + " vs " + merit_words(metric)
            + f" (colour: latency, {latency_label})")


def _variants(rows: pd.DataFrame) -> pd.Series:
    """The rows' variant names (``workbench.compare.variant_name``), computed when missing."""
    from workbench.compare import variant_names

    return rows["variant"] if "variant" in rows else variant_names(rows)


def _latency_traces(frame: pd.DataFrame, column: str, label: str, metric, size: str,
                    symbols: dict, coloraxis: str) -> list:
    import plotly.graph_objects as go

    has_accuracy = metric is not None
    runs = _runs(frame, column)
    size_words = SIZE_AXES[size].replace(" (KB)", "")
    y_words = merit_words(metric).split(",")[0]
    y_format = (" %{y:.2%}" if metric.fraction else " %{y:.4g}") if has_accuracy \
        else " %{y:.3g} ms"
    traces = []
    shown = frame[runs].assign(variant=_variants(frame[runs]))
    # one legend entry per variant (int8 apart from int8 (keep_float=block_pw)), in recipe order
    for (recipe, variant), rows in sorted(
            shown.groupby(["recipe", "variant"], sort=False),
            key=lambda item: (list(RECIPE_COLOURS).index(item[0][0])
                              if item[0][0] in RECIPE_COLOURS else len(RECIPE_COLOURS),
                              item[0][0], item[0][1])):
        baseline = recipe == BASELINE_RECIPE
        marker = {"size": 15, "symbol": [symbols[model] for model in rows["model"]],
                  "line": {"width": 3, "color": recipe_colour(recipe)}, "opacity": 0.9}
        marker.update({"color": rows[column], "coloraxis": coloraxis} if has_accuracy
                      else {"color": recipe_colour(recipe)})
        traces.append(go.Scatter(
            x=rows["size_kb"], y=rows["merit"] if has_accuracy else rows[column],
            mode="markers+text" if baseline else "markers", name=_plain(variant),
            legendgroup=_plain(variant), marker=marker,
            text=["baseline"] * len(rows) if baseline else None, textposition="top center",
            customdata=list(zip(rows["run_id"], rows["model"].map(_plain),
                                rows["variant"].map(_plain), rows[column],
                                _share_on_device(rows, column))),
            hovertemplate=(
                "<b>%{customdata[2]}</b> (%{customdata[1]})<br>" + size_words +
                " %{x:.1f} KB<br>" + y_words + y_format
                + "<br>latency %{customdata[3]:.3g} ms (" + _plain(label) + ")"
                "%{customdata[4]}<br>run %{customdata[0]}<extra></extra>"),
        ))
    blocked = frame[~runs]
    if len(blocked) and has_accuracy:  # drawn first, beneath a variant at the same place,
        traces.insert(0, go.Scatter(   # listed last
            x=blocked["size_kb"], y=blocked["merit"], mode="markers",
            name=f"does not run or fit ({_plain(label.split(',')[0])})", legendrank=1001,
            marker={"symbol": "x", "size": 12, "color": "#999999"},
            customdata=list(zip(blocked["run_id"], blocked["model"].map(_plain),
                                _variants(blocked).map(_plain), _why_blocked(blocked, column))),
            hovertemplate="<b>%{customdata[2]}</b> (%{customdata[1]})<br>%{customdata[3]}"
                          "<br>run %{customdata[0]}<extra></extra>"))
    return traces


def _share_on_device(rows: pd.DataFrame, column: str) -> list[str]:
    """Per row, a hover line saying how much the device runs where its CPU fallback runs the
    rest (a float model on the Edge TPU runs on the host CPU alone); "" where it runs it all."""
    device = column[len(ESTIMATE_PREFIX):] if column.startswith(ESTIMATE_PREFIX) else None
    share = f"accel_fraction__{device}"
    if device is None or share not in rows:
        return [""] * len(rows)
    return ["" if pd.isna(fraction) or fraction >= 0.9995 else
            f"<br>{fraction:.0%} of the multiply-accumulates on the device, the rest on its "
            "CPU fallback" for fraction in rows[share]]


def _why_blocked(rows: pd.DataFrame, column: str) -> list[str]:
    """Per row left off ``column``'s device: it cannot run there (no latency) or does not fit."""
    return ["does not fit the device's memory" if pd.notna(latency)
            else "does not run on this device" for latency in rows[column]]


def _runs(frame: pd.DataFrame, column: str) -> pd.Series:
    """Which rows run and fit where ``column``'s latency was measured or estimated."""
    fits_column = "fits__" + column[len(ESTIMATE_PREFIX):]
    runs = frame[column].notna()
    if fits_column in frame:
        runs &= frame[fits_column].fillna(0).astype(bool)
    return runs


def _add_model_legend(figure, symbols: dict) -> set[int]:
    """With several models, a legend entry per model's symbol."""
    import plotly.graph_objects as go

    if len(symbols) < 2:
        return set()
    first = len(figure.data)
    for model, symbol in symbols.items():
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"model: "
                                    f"{_plain(model)}", marker={"symbol": symbol, "size": 11,
                                                                "color": "#666666"}))
    return set(range(first, len(figure.data)))


def _add_reference(figure, running: pd.DataFrame, frame: pd.DataFrame, metric) -> set[int]:
    """The Pareto front of the variants that run (rings and a step line) and each float
    model's accuracy (a dotted line); returns the indices of these traces, shown whatever the
    latency."""
    import plotly.graph_objects as go

    if metric is None or frame.empty:
        return set()
    first = len(figure.data)
    front = pareto_front(running, "size_kb", "merit", metric.higher_is_better)
    figure.add_trace(go.Scatter(
        x=front["size_kb"], y=front["merit"], mode="lines+markers", name="Pareto front",
        line={"dash": "dash", "color": "#444444", "shape": "hv", "width": 1.5},
        marker={"symbol": "circle-open", "size": 28, "color": "#222222", "line": {"width": 2}},
        hoverinfo="skip"))
    places = ("bottom right", "top right", "bottom left", "top left")
    for number, (model, rows) in enumerate(frame.groupby("model", sort=False)):
        reference = rows["float_merit"].dropna()
        if reference.empty:
            continue
        figure.add_hline(y=float(reference.iloc[-1]), line={"dash": "dot", "color": "#999999"},
                         annotation_text=f"float model ({_plain(model)}) "
                                         f"{metric.format(float(reference.iloc[-1]))}",
                         annotation_position=places[number % len(places)])
    return set(range(first, len(figure.data)))


def _add_menu(figure, groups, always: set[int], size: str, metric) -> None:
    figure.update_layout(updatemenus=[{
        "buttons": [{"label": label, "method": "update",
                     "args": [{"visible": [start <= i < start + count or i in always
                                           for i in range(len(figure.data))]},
                              {"title": _title(size, metric, label)}]}
                    for label, start, count in groups],
        "x": 1.0, "xanchor": "right", "y": 1.12, "yanchor": "top"}])


def pareto_front(frame: pd.DataFrame, x: str, y: str,
                 higher_is_better: bool = True) -> pd.DataFrame:
    """The rows no other row beats on both ``x`` (smaller is better) and ``y`` (larger is
    better, or smaller when not ``higher_is_better``), sorted by ``x``."""
    sign = 1.0 if higher_is_better else -1.0
    ordered = frame.dropna(subset=[x, y]).assign(_up=lambda rows: sign * rows[y]) \
        .sort_values([x, "_up"], ascending=[True, False])
    best, keep = float("-inf"), []
    for index, value in ordered["_up"].items():
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep].drop(columns="_up")
