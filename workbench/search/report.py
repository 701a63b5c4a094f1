"""What a search leaves in its output folder: every trial, the choice, and a page with the
search history and the Pareto front (plotly.js inlined, so it opens offline).

Example:
    >>> write_search_outputs(result, task.name, Path("out"))      # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd


def write_search_outputs(result, model_name: str, tflite_paths: dict[str, str],
                         out: Path) -> dict:
    """Write ``results.csv`` (every trial), the ``.tflite`` of each variant tried,
    ``choice.json`` and ``report.html`` into ``out``; returns the choice as written.

    ``tflite_paths`` maps each trial's run id to its stored ``.tflite``."""
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)
    copied = {}
    for run_id, source in tflite_paths.items():
        copied[run_id] = str(out / f"{slug}-{run_id}.tflite")
        shutil.copyfile(source, copied[run_id])
    chosen = None if result.choice is None else result.choice["run_id"]
    trials = result.trials.assign(tflite_path=result.trials["run_id"].map(copied),
                                  chosen=result.trials["run_id"] == chosen)
    trials.to_csv(out / "results.csv", index=False, float_format="%.6g")
    choice = {"run_id": None, "tflite_path": None, "reason": result.reason}
    if result.choice is not None:
        choice.update(run_id=result.choice["run_id"], variant=result.choice["variant"],
                      tflite_path=copied.get(result.choice["run_id"]))
    else:
        choice["closest"] = result.closest
    (out / "choice.json").write_text(json.dumps(choice, indent=1) + "\n", encoding="utf-8")
    _write_page(result, trials, out / "report.html", model_name)
    return choice


HEADERS = {"trial": "trial", "variant": "variant", "run_id": "run id", "drop": "points lost",
           "latency_ms": "latency ms (estimated)", "size_kb": "size KB",
           "feasible": "meets the constraints", "misses": "misses", "machine": "measured on",
           "chosen": ""}


def history_figure(trials: pd.DataFrame, device: str, unit: str = "points"):
    """Each trial's estimated latency (feasible ones filled), the best feasible so far as a
    step line, and the Pareto front on the metric lost (in ``unit``) against latency."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=(
        "search history", f"{unit} lost against latency (feasible ones filled)"))
    trials = trials.sort_values("trial")  # trials finish out of order on several workers
    best = trials["latency_ms"].where(trials["feasible"]).cummin().ffill()
    for feasible, name in ((True, "meets the constraints"), (False, "misses")):
        rows = trials[trials["feasible"] == feasible]
        marker = {"size": 10, "color": "#31a354" if feasible else "#ffffff",
                  "line": {"width": 2, "color": "#31a354" if feasible else "#b71c1c"}}
        hover = [f"trial {t}: {html.escape(str(v))}<br>{d:.2f} {unit} lost<br>"
                 f"{html.escape(m) if m else 'meets the constraints'}"
                 for t, v, d, m in zip(rows["trial"], rows["variant"], rows["drop"],
                                       rows["misses"])]
        figure.add_trace(go.Scatter(x=rows["trial"], y=rows["latency_ms"], mode="markers",
                                    name=name, marker=marker, hovertext=hover,
                                    hoverinfo="text"), row=1, col=1)
        figure.add_trace(go.Scatter(x=rows["latency_ms"], y=rows["drop"], mode="markers",
                                    showlegend=False, marker=marker, hovertext=hover,
                                    hoverinfo="text"), row=1, col=2)
    figure.add_trace(go.Scatter(x=trials["trial"], y=best, mode="lines", name="best so far",
                                line={"shape": "hv", "color": "#31a354"}), row=1, col=1)
    figure.update_xaxes(title_text="trial", tickformat="d", dtick=1 if len(trials) <= 20
                        else None, row=1, col=1)
    # latency axes start at 0 (a latency is never negative; plotly's padding went below it)
    figure.update_yaxes(title_text=f"ms on {device} (estimated)", rangemode="tozero",
                        row=1, col=1)
    figure.update_xaxes(title_text=f"ms on {device} (estimated)", rangemode="tozero",
                        row=1, col=2)
    figure.update_yaxes(title_text=f"{unit} lost", row=1, col=2)
    figure.update_layout(template="plotly_white", height=420)
    return figure


def _write_page(result, trials: pd.DataFrame, path: Path, model_name: str) -> None:
    device = result.device
    chart = history_figure(trials, device, result.unit).to_html(full_html=False,
                                                                include_plotlyjs=True)
    shown = trials.drop(columns=["tflite_path"]).assign(
        feasible=trials["feasible"].map({True: "yes", False: "no"}),
        chosen=trials["chosen"].map({True: "chosen", False: ""})).rename(
        columns={**HEADERS, "drop": f"{result.unit} lost"})
    table = shown.to_html(index=False, float_format=lambda value: f"{value:.4g}",
                          na_rep="n/a", border=0)
    title = f"Search on {model_name} for {device}"
    path.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: right; }}
td:nth-child(2), td:nth-child(3), td:nth-child(7), td:nth-child(8) {{ text-align: left; }}
</style>
</head><body><h1>{html.escape(title)}</h1>
<p><b>{html.escape(result.reason)}</b></p>
{chart}
<h2>Every trial</h2>{table}
</body></html>
""", encoding="utf-8")
