"""Where post-training quantization loses accuracy: the error of each int8 op's output.

Runs the TFLite ``QuantizationDebugger`` on the model's full-integer conversion:
every quantized op is run in int8 and in float side by side on sample inputs, and
its output error is reported. ``rmse_over_scale`` divides the root mean squared
error by the output's quantization step: about 0.29 (1/sqrt(12)) is the rounding
error alone; much larger values mark the layers where int8 hurts, the ones QAT
or keeping them in float would help most.

Example:
    >>> errors = quantization_errors(model, x_train[:64])             # doctest: +SKIP
    >>> errors.sort_values("rmse_over_scale").tail(3)                  # doctest: +SKIP
"""

from __future__ import annotations

import io
import re

import numpy as np

from workbench.data import representative_array
from workbench.errors import ConversionError
from workbench.progress import converter_chatter_hidden

ROUNDING_ONLY = 1 / np.sqrt(12)


def _layer_name(tensor_name: str) -> str:
    """The Keras layer an op's output belongs to, from the converter's fused tensor name."""
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    if len(parts) < 2:
        return "(model output)"
    return re.sub(r"_\d+$", "", parts[1])


def quantization_errors(model, samples, calibration_samples: int = 200):
    """A DataFrame with one row per int8 op: ``op``, ``layer``, ``elements``, ``scale``,
    ``rmse``, ``rmse_over_scale``, ``max_abs_error``, ``mean_error`` (in the op's output units).

    ``samples`` are unlabelled model inputs (a few dozen are enough); the first
    ``calibration_samples`` of them also calibrate the ranges, as in the ``int8`` recipe.
    """
    import pandas as pd
    import tensorflow as tf

    from workbench.ptq import make_converter
    from workbench.stages.export import Int8Export

    array = representative_array(samples, model.inputs[0].shape)
    converter = make_converter(model, Int8Export(), array[:calibration_samples])
    converter.inference_input_type = converter.inference_output_type = tf.float32

    def feed():
        for sample in array:
            yield [sample[None]]

    report = io.StringIO()
    try:
        with converter_chatter_hidden():
            debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                                 debug_dataset=feed)
            debugger.run()
    except Exception as error:  # the converter raises several types
        raise ConversionError(f"The quantization debugger could not convert the model: "
                              f"{str(error).strip().splitlines()[0][:300]}.") from None
    debugger.layer_statistics_dump(report)
    report.seek(0)
    stats = pd.read_csv(report)
    rmse = np.sqrt(stats["mean_squared_error"])
    return pd.DataFrame({
        "op": stats["op_name"], "layer": stats["tensor_name"].map(_layer_name),
        "elements": stats["num_elements"].astype(int), "scale": stats["scale"],
        "rmse": rmse, "rmse_over_scale": rmse / stats["scale"],
        "max_abs_error": stats["max_abs_error"], "mean_error": stats["mean_error"],
    })


def with_outlier_channel(model, producer: str, consumer: str, factor: float, channel: int = 0):
    """A copy of ``model`` that computes the same function, but whose ``producer`` output
    ``channel`` is ``factor`` times larger (and ``consumer`` divides it back).

    It shows the classic cause of int8 loss: one activation channel with a huge range
    stretches the per-tensor scale and crushes every other channel into a few levels.
    ``producer`` is a BatchNormalization, Conv or Dense layer followed only by ReLU-like
    layers (positively homogeneous); ``consumer`` a Conv2D or Dense layer reading it.

    Example:
        >>> outlier = with_outlier_channel(model, "block_dw_bn", "block_pw", 1000)  # doctest: +SKIP
    """
    from workbench.errors import WorkbenchError
    from workbench.layer_selection import clone_with_weights

    if factor <= 0:
        raise WorkbenchError(f"factor must be positive, received factor={factor}.")
    copy = clone_with_weights(model)
    source, target = copy.get_layer(producer), copy.get_layer(consumer)
    weights = source.get_weights()
    scaled = ("gamma", "beta") if hasattr(source, "moving_mean") else ("kernel", "bias")
    for index, variable in enumerate(source.weights):
        if variable.name in scaled:
            weights[index][..., channel] *= factor
    source.set_weights(weights)
    kernel = target.kernel.numpy()
    kernel[..., channel, :] /= factor
    target.kernel.assign(kernel)
    return copy
