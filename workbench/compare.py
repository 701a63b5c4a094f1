"""Each variant against its model's baseline: accuracy points lost against the float model, how
many times smaller and faster than the model's float32 ``.tflite``.

The accuracy reference is the Keras float model (``float_accuracy``, on every row that has a
dataset); the size and latency references are the model's float32 variant, when it was run.

Example:
    >>> frame = with_deltas(store.results(), latency="est_ms__edge_tpu")     # doctest: +SKIP
    >>> frame[["recipe", "drop_points", "x_smaller", "x_faster"]]            # doctest: +SKIP
"""

from __future__ import annotations

import math

import pandas as pd

BASELINE_RECIPE = "float32"
DELTA_COLUMNS = ("drop_points", "x_smaller", "x_smaller_gzip", "x_faster")


def baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest float32 row of each model, indexed by model."""
    rows = frame[frame["recipe"] == BASELINE_RECIPE]
    return rows.sort_values("created_at").groupby("model").tail(1).set_index("model")


def with_deltas(frame: pd.DataFrame, latency: str = "latency_ms") -> pd.DataFrame:
    """``frame`` plus ``drop_points`` (accuracy points lost, positive when worse),
    ``x_smaller``, ``x_smaller_gzip`` and ``x_faster`` (baseline over variant, by ``latency``:
    the measured host latency or a device estimate column); NaN where a figure is missing."""
    frame = frame.copy()
    frame["drop_points"] = 100.0 * (pd.to_numeric(frame["float_accuracy"])
                                    - pd.to_numeric(frame["accuracy"]))
    reference = baselines(frame)
    for column, source in (("x_smaller", "size_bytes"), ("x_smaller_gzip", "gzip_bytes"),
                           ("x_faster", latency)):
        if source not in frame or frame.empty:
            frame[column] = float("nan")
            continue
        base = frame["model"].map(reference[source]) if len(reference) else float("nan")
        frame[column] = pd.to_numeric(base, errors="coerce") / pd.to_numeric(frame[source],
                                                                            errors="coerce")
    return frame


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def summary_line(row) -> str:
    """One line for a finished variant (a row of ``with_deltas``), e.g. ``prune: accuracy
    98.0% (0.7 points lost), 3.9x smaller compressed, 1.0x faster``."""
    parts = []
    if _known(row.get("accuracy")):
        drop = row.get("drop_points")
        change = (f" ({drop:.1f} points lost)" if _known(drop) and drop >= 0.05 else
                  f" ({-drop:.1f} points gained)" if _known(drop) and drop <= -0.05 else
                  " (as the float model)" if _known(drop) else "")
        parts.append(f"accuracy {100 * row['accuracy']:.1f}%{change}")
    else:
        parts.append("accuracy not measured (no dataset)")
    for column, words in (("x_smaller", "smaller"), ("x_smaller_gzip", "smaller compressed"),
                          ("x_faster", "faster")):
        if _known(row.get(column)) and row.get("recipe") != BASELINE_RECIPE:
            parts.append(f"{row[column]:.1f}x {words}")
    return f"{row['recipe']}: " + ", ".join(parts)
