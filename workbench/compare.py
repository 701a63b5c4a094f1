"""Each variant against its model's baseline: accuracy points lost against the float model, how
many times smaller and faster than the model's float32 ``.tflite``.

The accuracy reference is the Keras float model (``float_accuracy``, on every row that has a
dataset); the size and latency references are the model's float32 variant, when it was run.

Example:
    >>> frame = with_deltas(store.results(), latency="est_ms__edge_tpu")     # doctest: +SKIP
    >>> frame[["recipe", "drop_points", "x_smaller", "x_faster"]]            # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math

import pandas as pd

BASELINE_RECIPE = "float32"
DELTA_COLUMNS = ("drop_points", "x_smaller", "x_smaller_gzip", "x_faster")


def _subject_keys(frame: pd.DataFrame) -> list[str]:
    """What makes two rows comparable: the same model scored on the same data."""
    return ["model", "data_hash"] if "data_hash" in frame else ["model"]


def baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest float32 row of each model and dataset, indexed by them."""
    keys = _subject_keys(frame)
    rows = frame[frame["recipe"] == BASELINE_RECIPE]
    return rows.sort_values("created_at").groupby(keys).tail(1).set_index(keys)


def row_metric(name, higher_is_better=None):
    """The ``Metric`` a row was scored by (built-in by name; a user function's direction from
    the row), or None for a row without a score."""
    from workbench.metrics import METRICS, Metric

    if not isinstance(name, str) or not name:
        return None
    if name in METRICS:
        return METRICS[name]
    higher = True if higher_is_better is None or pd.isna(higher_is_better) \
        else bool(higher_is_better)
    return Metric(name, lambda *_: 0.0, higher_is_better=higher)


def merit_frame(frame: pd.DataFrame):
    """The rows one chart can compare, with ``merit`` (the metric's value; top-1 accuracy for
    rows stored before metrics existed) and ``float_merit``; the metric is the newest scored
    row's. Returns ``(rows, metric, left_out)``: rows scored by another metric are left out
    (with ``reason``), as are rows without a score when others have one."""
    frame = frame.copy()
    score = pd.to_numeric(frame.get("score", pd.Series(index=frame.index, dtype=float)),
                          errors="coerce")
    names = frame.get("metric", pd.Series(index=frame.index, dtype=object))
    legacy = score.isna() & frame["accuracy"].notna()
    frame["merit"] = score.where(~legacy, pd.to_numeric(frame["accuracy"], errors="coerce"))
    frame["float_merit"] = pd.to_numeric(frame.get("float_score", frame["float_accuracy"]),
                                         errors="coerce").where(~legacy, frame["float_accuracy"])
    frame["metric"] = names.where(~legacy, "top1")
    scored = frame[frame["merit"].notna()]
    if scored.empty:
        return frame, None, frame.iloc[0:0].assign(reason=[])
    newest = scored.sort_values("created_at").iloc[-1] if "created_at" in scored else \
        scored.iloc[-1]
    metric = row_metric(newest["metric"], newest.get("higher_is_better"))
    same = frame["merit"].notna() & (frame["metric"] == metric.name)
    other = frame[frame["merit"].notna() & ~same].assign(
        reason=lambda rows: "scored by " + rows["metric"].astype(str) + f", not {metric.name}: "
        "show its model alone to compare it")
    unscored = frame[frame["merit"].isna()].assign(
        reason="no score: the model has no dataset (load one with it)")
    return frame[same], metric, pd.concat([other, unscored])


@functools.lru_cache(maxsize=4096)  # with_deltas names every row on every redraw
def variant_name(recipe: str, config: str | None) -> str:
    """The recipe, with the options set away from their defaults, so variants of one recipe
    read apart: ``int8 (keep_float=block_pw)``, ``prune (epochs=1)``, ``float32``."""
    from workbench.recipes import options_in_words

    words = options_in_words(recipe, config) if isinstance(config, str) and config else ""
    return recipe if words in ("", "defaults") or words == config else f"{recipe} ({words})"


def variant_names(frame: pd.DataFrame) -> pd.Series:
    """``variant_name`` of each row."""
    configs = frame["config"] if "config" in frame else pd.Series(None, index=frame.index)
    return pd.Series([variant_name(recipe, config) for recipe, config in
                      zip(frame["recipe"], configs)], index=frame.index, dtype=object)


def with_deltas(frame: pd.DataFrame, latency: str = "latency_ms") -> pd.DataFrame:
    """``frame`` plus ``variant`` (``variant_name``), ``drop_points`` (the metric lost,
    positive when worse: points for fraction metrics such as top-1, the metric's own units for
    MAE or RMSE),
    ``x_smaller``, ``x_smaller_gzip`` and ``x_faster`` (baseline over variant, by ``latency``:
    the measured host latency or a device estimate column); NaN where a figure is missing. A
    variant is compared with the float32 variant of its own model on its own data."""
    frame = frame.copy()
    frame["variant"] = variant_names(frame)
    legacy = 100.0 * (pd.to_numeric(frame["float_accuracy"]) - pd.to_numeric(frame["accuracy"]))
    if "score_drop" in frame:
        scale = frame["metric"].map(lambda name: getattr(row_metric(name), "display_scale",
                                                         float("nan")))
        drop = pd.to_numeric(frame["score_drop"], errors="coerce") * scale
        frame["drop_points"] = drop.where(drop.notna(), legacy)
    else:
        frame["drop_points"] = legacy
    keys = _subject_keys(frame)
    reference = baselines(frame)
    index = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else pd.Index(frame["model"])
    for column, source in (("x_smaller", "size_bytes"), ("x_smaller_gzip", "gzip_bytes"),
                           ("x_faster", latency)):
        if source not in frame or frame.empty or reference.empty:
            frame[column] = float("nan")
            continue
        base = reference[source].reindex(index).to_numpy()
        frame[column] = pd.to_numeric(pd.Series(base, index=frame.index), errors="coerce") / \
            pd.to_numeric(frame[source], errors="coerce")
    return frame


def subject_labels(frame: pd.DataFrame) -> pd.Series:
    """How to name each row's subject: the model, and its dataset where one model was scored
    on several (so runs on other data are never mixed up)."""
    if "dataset" not in frame or frame.empty:
        return frame["model"].astype(str) if "model" in frame else pd.Series(dtype=str)
    several = frame.groupby("model")["data_hash"].transform("nunique") > 1 \
        if "data_hash" in frame else pd.Series(False, index=frame.index)
    return frame["model"].astype(str).where(~several, frame["model"].astype(str) + " on " +
                                            frame["dataset"].astype(str))


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def summary_line(row, device: str | None = None) -> str:
    """One line for a finished variant (a row of ``with_deltas``), in its task's metric, e.g.
    ``prune: top1 98.0% (0.7 points lost), 3.9x smaller compressed, 1.0x faster`` or
    ``int8: mae 44.10 (0.102 MAE lost), 3.1x smaller``; with ``device`` (the one
    ``x_faster`` was computed for), the speed says where: ``2.1x slower on edge_tpu
    (estimated)``, ``1.3x faster on this host``."""
    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    score = row.get("score")
    if not _known(score) and _known(row.get("accuracy")):  # stored before metrics existed
        metric, score = row_metric("top1"), row["accuracy"]
    if metric is None or not _known(score):
        parts = ["not scored (no dataset)"]
    else:
        drop = row.get("drop_points")
        change = f" ({drop_words(drop, metric.unit)})" if _known(drop) else ""
        parts = [f"{metric.name} {metric.format(score)}{change}"]
    for column, better, worse in (("x_smaller", "smaller", "larger"),
                                  ("x_smaller_gzip", "smaller compressed", "larger compressed"),
                                  ("x_faster", "faster", "slower")):
        if _known(row.get(column)) and row.get("recipe") != BASELINE_RECIPE:
            where = "" if column != "x_faster" or device is None else \
                " on this host" if device == "host" else f" on {device} (estimated)"
            parts.append(times_words(row[column], better, worse) + where)
    subject = f" on {row['model']}" if row.get("model") else ""
    name = row.get("variant") or variant_name(row["recipe"], row.get("config"))
    return f"{name}{subject}: " + ", ".join(parts)


def drop_words(drop: float, unit: str) -> str:
    """A drop shown in words: ``0.7 points lost``, ``0.2 points gained``, ``0.102 MAE lost``,
    or ``as the float model`` when it rounds away (0.05 points; 1e-4 in other units).

    Example:
        >>> drop_words(-0.24, "points"), drop_words(6.9e-07, "MAE")
        ('0.2 points gained', 'as the float model')
    """
    amount = drop_amount(drop, unit)
    return "as the float model" if amount is None else \
        f"{amount} {'lost' if drop > 0 else 'gained'}"


def drop_amount(drop: float, unit: str) -> str | None:
    """The size of a drop with its unit (``0.7 points``, ``0.102 MAE``), or None when it rounds
    away (under 0.05 points; under 1e-4 in other units)."""
    if abs(drop) < (0.05 if unit == "points" else 1e-4):
        return None
    return f"{abs(drop):.1f} points" if unit == "points" else f"{abs(drop):.3g} {unit}"


def times_words(ratio: float, better: str, worse: str) -> str:
    """``2.5x faster`` for a ratio above 1, ``2.0x slower`` (its inverse) below 1.

    Example:
        >>> times_words(0.5, "faster", "slower")
        '2.0x slower'
    """
    if ratio >= 0.995:
        return f"{ratio:.1f}x {better}"
    return f"{1 / ratio:.1f}x {worse}"
