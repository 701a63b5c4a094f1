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

import numpy as np

from workbench.data import representative_array
from workbench.errors import ConversionError
from workbench.progress import converter_chatter_hidden

ROUNDING_ONLY = 1 / np.sqrt(12)


def primary_layer(layers: list[str], weighted: set[str]) -> str:
    """The layer an op is named after: the first of its fused layers that has weights."""
    return next((name for name in layers if name in weighted), layers[0] if layers else "")


def op_primary_layers(info, model) -> list[str]:
    """For each op of ``info``, the Keras layer of ``model`` it is named after
    (``primary_layer`` of the layers fused into it; "" for none)."""
    from workbench.selective import layer_names, op_layers

    weighted = weighted_layers(model)
    return [primary_layer(layers, weighted) for layers in op_layers(info, layer_names(model))]


def layer_of_output(info, model) -> dict[str, str]:
    """Each op's output tensor name -> the Keras layer it is named after (``primary_layer``)."""
    return {info.tensors[op.outputs[0]].name: layer
            for op, layer in zip(info.ops, op_primary_layers(info, model)) if op.outputs}


def weighted_layers(model) -> set[str]:
    """The layers with a kernel (conv, dense...): the ones an op is named after."""
    from workbench.layer_selection import all_weights

    return {weight.layer.name for weight in all_weights(model)}


def quantization_errors(model, samples, calibration_samples: int = 200):
    """A DataFrame with one row per int8 op: ``op``, ``layer`` (the Keras layer with weights
    among those fused into it), ``tensor_name``, ``elements``, ``scale``, ``rmse``,
    ``rmse_over_scale``, ``max_abs_error``, ``mean_error`` (in the op's output units),
    ``snr_db`` and ``cosine`` (its output in the int8 model against the float model's,
    errors of the ops before it included: ``workbench.edge_quantizer.tensor_agreement``).

    ``samples`` are unlabelled model inputs (a few dozen are enough); the first
    ``calibration_samples`` of them also calibrate the ranges, as in the ``int8`` recipe.
    """
    import pandas as pd
    import tensorflow as tf

    from workbench.edge_quantizer import tensor_agreement
    from workbench.ptq import convert, make_converter
    from workbench.tflite_inspect import inspect_tflite
    from workbench.stages.export import Float32Export, Int8Export, calibration_feed

    array = representative_array(samples, model.inputs[0].shape)
    converter = make_converter(model, Int8Export(), array[:calibration_samples])
    converter.inference_input_type = converter.inference_output_type = tf.float32
    report = io.StringIO()
    try:
        with converter_chatter_hidden():
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=calibration_feed(array, False))
            debugger.run()
            int8 = debugger.get_nondebug_quantized_model()
    except Exception as error:  # the converter raises several types
        raise ConversionError(f"The quantization debugger could not convert the model: "
                              f"{str(error).strip().splitlines()[0][:300]}.") from None
    debugger.layer_statistics_dump(report)
    report.seek(0)
    stats = pd.read_csv(report)
    float_tflite = convert(model, Float32Export(), progress=False)
    stats = stats.merge(tensor_agreement(float_tflite, int8, array), on="tensor_name",
                        how="left")
    layer_of = layer_of_output(inspect_tflite(float_tflite), model)
    layers = [layer_of.get(name, "") for name in stats["tensor_name"]]
    rmse = np.sqrt(stats["mean_squared_error"])
    return pd.DataFrame({
        "op": stats["op_name"], "layer": layers, "tensor_name": stats["tensor_name"],
        "elements": stats["num_elements"].astype(int), "scale": stats["scale"],
        "rmse": rmse, "rmse_over_scale": rmse / stats["scale"],
        "max_abs_error": stats["max_abs_error"], "mean_error": stats["mean_error"],
        "snr_db": stats["snr_db"], "cosine": stats["cosine"],
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
