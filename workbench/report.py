"""A standalone HTML report: the results table and the trade-off chart, no network needed.

Example:
    >>> write_report(store.results(), "out/report.html")             # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from workbench.plots import tradeoff_figure

TABLE_COLUMNS = ["model", "recipe", "options", "size_bytes", "gzip_bytes", "accuracy",
                 "float_accuracy", "agreement", "latency_ms", "latency_p90_ms",
                 "latency_ms_all_cores", "weight_sparsity", "max_unique_weights",
                 "int8_ops_fraction", "notes", "run_id"]


def write_report(results: pd.DataFrame, path: str | os.PathLike,
                 title: str = "Optimization Workbench report") -> Path:
    """Write ``path`` (plotly.js inlined, so it opens offline) and return it."""
    path = Path(path)
    charts = "\n".join(
        tradeoff_figure(results, size=size, device_menu=True).to_html(
            full_html=False, include_plotlyjs=(i == 0))
        for i, size in enumerate(("size_bytes", "gzip_bytes"))
    )
    from workbench.recipes import options_in_words

    estimates = [c for c in results.columns if c.startswith(("est_ms__", "fits__"))]
    results = results.assign(options=[options_in_words(recipe, config) for recipe, config in
                                      zip(results["recipe"], results["config"])]) \
        if "config" in results else results
    table = results[[c for c in TABLE_COLUMNS if c in results] + estimates].to_html(
        index=False, float_format=lambda value: f"{value:.4g}", na_rep="n/a", border=0,
        classes="results",
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
.table-wrap {{ overflow-x: auto; }}
table.results {{ border-collapse: collapse; font-size: 0.85rem; }}
table.results th, table.results td {{ padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd;
  text-align: right; }}
table.results th {{ background: #f3f3f3; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Sizes in bytes, latency in milliseconds (median of single-sample invokes in LiteRT on this
host, 1 thread unless stated). Options: those set away from the recipe's defaults. Accuracy
is measured in LiteRT on the test split; n/a means the
model has no dataset (zoo models with random weights). The menu above each chart switches the
latency between the measurement on this host and each device profile's estimate (grey crosses:
the variant does not run or fit there). The second chart uses the gzip-compressed size, where
pruning and clustering show their gains.</p>
{charts}
<h2>Results</h2>
<div class="table-wrap">{table}</div>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
