"""Per-layer sensitivity to int8: how much error each layer's int8 op causes, and how much of
the task's metric keeping only that layer in float wins back.

Example:
    >>> table = layer_sensitivity(task, top=3)                               # doctest: +SKIP
    >>> table[["layer", "rmse_over_scale", "snr_db", "score_kept_float"]]    # doctest: +SKIP
"""

from __future__ import annotations

from workbench.progress import track

SAMPLES = 64


def layer_sensitivity(task, samples: int = SAMPLES, top: int = 3, progress: bool = True):
    """One row per Keras layer with int8 ops, most sensitive first: ``layer``, ``op``,
    ``rmse_over_scale`` (its op's own error, in quantization steps), ``snr_db`` and ``cosine``
    (its output in the int8 model against float), and for the ``top`` layers by error,
    ``score_kept_float`` (the task's metric with that layer kept in float) and ``recovered``
    (the part of int8's loss it wins back, in the metric's units; positive is better).

    ``samples`` representative inputs are compared; the scores need the task's test split.
    """
    from workbench.ptq import convert
    from workbench.quant_debug import quantization_errors
    from workbench.recipes import make_config
    from workbench.selective import PASS_THROUGH

    inputs = task.representative_data(max(samples, 1))
    errors = quantization_errors(task.model, inputs)
    errors = errors[(errors["layer"] != "") & ~errors["op"].isin(PASS_THROUGH)]
    table = (errors.sort_values("rmse_over_scale", ascending=False)
             .drop_duplicates("layer").reset_index(drop=True)
             [["layer", "op", "rmse_over_scale", "snr_db", "cosine"]])
    table["score_kept_float"] = table["recovered"] = float("nan")
    if task.dataset is None or top <= 0:
        return table
    calibration = task.representative_data(make_config("int8").export.calibration_samples)
    int8_score = _score(task, convert(task.model, make_config("int8"), calibration,
                                      progress=False))
    sign = 1 if task.metric is None or task.metric.higher_is_better else -1
    for index in track(range(min(top, len(table))), "keeping each layer in float",
                       enabled=progress, unit="layer"):
        kept = make_config("int8", {"keep_float": table.loc[index, "layer"]})
        score = _score(task, convert(task.model, kept, calibration, progress=False))
        table.loc[index, "score_kept_float"] = score
        table.loc[index, "recovered"] = sign * (score - int8_score)
    table.attrs["int8_score"] = int8_score
    table.attrs["float_score"] = task.float_score
    return table



def _score(task, tflite: bytes) -> float:
    from workbench.pipeline import test_outputs

    return task.score(test_outputs(task, tflite))
