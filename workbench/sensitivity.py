"""Per-layer sensitivity to int8: how much error each layer's int8 op causes, and how much of
the task's metric keeping only that layer in float wins back.

Example:
    >>> table = layer_sensitivity(task, top=3)                               # doctest: +SKIP
    >>> table[["layer", "rmse_over_scale", "snr_db", "score_kept_float"]]    # doctest: +SKIP
"""

from __future__ import annotations

import functools

from workbench.progress import track

SAMPLES = 64
SOURCES = {"debugger": "TensorFlow's quantization debugger",
           "kernels": "the integer kernels (workbench.kernels)"}


def layer_sensitivity(task, samples: int = SAMPLES, top: int = 3, progress: bool = True,
                      source: str = "debugger"):
    """One row per Keras layer with int8 ops, most sensitive first: ``layer``, ``op``,
    ``rmse_over_scale`` (its op's own error, in quantization steps), ``snr_db`` and ``cosine``
    (its output in the int8 model against float), and for the ``top`` layers by error,
    ``score_kept_float`` (the task's metric with that layer kept in float) and ``recovered``
    (the part of int8's loss it wins back, in the metric's units; positive is better).

    ``samples`` representative inputs are compared; the scores need the task's test split.
    ``source`` measures the errors with TensorFlow's quantization debugger (``"debugger"``)
    or on the integer path of ``workbench.kernels`` (``"kernels"``: the int8 variant's own
    ``.tflite``, op by op against the float model).
    """
    from workbench.ptq import convert
    from workbench.recipes import make_config
    from workbench.selective import PASS_THROUGH

    if source not in SOURCES:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"Unknown sensitivity source '{source}'; expected one of: "
                             f"{', '.join(SOURCES)}.")
    inputs = task.representative_data(max(samples, 1))
    calibration = task.representative_data(make_config("int8").export.calibration_samples)
    int8 = functools.cache(lambda: convert(task.model, make_config("int8"), calibration,
                                           progress=False))
    errors = _errors(task, inputs, source, int8)
    errors = errors[(errors["layer"] != "") & ~errors["op"].isin(PASS_THROUGH)]
    table = (errors.sort_values("rmse_over_scale", ascending=False)
             .drop_duplicates("layer").reset_index(drop=True)
             [["layer", "op", "rmse_over_scale", "snr_db", "cosine"]])
    table["score_kept_float"] = table["recovered"] = float("nan")
    table.attrs["source"] = source
    if task.dataset is None or top <= 0:
        return table
    int8_score = _score(task, int8())
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


def _errors(task, inputs, source: str, int8):
    """Per-op errors with a ``layer`` column (the Keras layer each op is named after);
    ``int8()`` gives the int8 variant's ``.tflite``."""
    if source == "debugger":
        from workbench.quant_debug import quantization_errors

        return quantization_errors(task.model, inputs)
    from workbench.kernels.layer_errors import integer_path_errors
    from workbench.ptq import convert
    from workbench.quant_debug import layer_of_output
    from workbench.stages.export import Float32Export
    from workbench.tflite_inspect import inspect_tflite

    float_tflite = convert(task.model, Float32Export(), progress=False)
    errors = integer_path_errors(int8(), float_tflite, inputs)
    layer_of = layer_of_output(inspect_tflite(float_tflite), task.model)
    errors.insert(1, "layer", [layer_of.get(name, "") for name in errors["tensor_name"]])
    return errors


def _score(task, tflite: bytes) -> float:
    from workbench.pipeline import test_outputs

    return task.score(test_outputs(task, tflite))
