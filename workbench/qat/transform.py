"""``quantize_model``: a copy of a Keras 3 model that trains while simulating TFLite int8.

Nested models are inlined into one flat graph, BatchNormalization is folded
into the convolution before it (as the converter folds it; a standalone one
gets its own output range), then every supported layer is swapped for its
quantized twin and the model input gets a quantizer. Layers the simulation does
not cover are refused by name, so the exported model is never silently partly float.

Example:
    >>> qat_model = quantize_model(model)                          # doctest: +SKIP
    >>> qat_model.compile(...); qat_model.fit(x, y, epochs=3)      # doctest: +SKIP
    >>> tflite = convert_qat(qat_model)                            # doctest: +SKIP
"""

from __future__ import annotations

import keras

from workbench.errors import WorkbenchError
from workbench.folding import fold_batch_norms
from workbench.graph import inline_nested_models
from workbench.layer_selection import LayerSpec, TransformReport, attached_state, layer_matcher
from workbench.qat.layers import (
    FIXED_OUTPUT_RANGES, FUSED_ACTIVATIONS, QUANTIZED_CLASSES, OutputQuantizer,
    PerChannelWeights, QuantizeInput, activation_name,
)

# Layers that move or select values without changing their range: TFLite gives their output
# the input's quantization parameters, so they need no quantizer of their own.
RANGE_PRESERVING = (keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape,
                    keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
                    keras.layers.ZeroPadding2D, keras.layers.Resizing,
                    keras.layers.Cropping2D, keras.layers.Permute, keras.layers.Identity,
                    keras.layers.Dropout, keras.layers.SpatialDropout2D)


def _is_fusable_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return layer.negative_slope == 0 and layer.threshold == 0 and layer.max_value in (None, 6)
    return isinstance(layer, keras.layers.Activation) and \
        activation_name(layer) in ("relu", "relu6")
CHANNEL_AFFINE = (keras.layers.BatchNormalization, keras.layers.Rescaling,
                  keras.layers.Normalization)
REPORT_ATTRIBUTE = "_workbench_qat_report"


def _fused_into_relu(model) -> set[str]:
    """Names of layers whose output goes straight into a ReLU (TFLite fuses them)."""
    names = set()
    for layer in model.layers:
        if _is_fusable_relu(layer):
            producer = layer.input._keras_history.operation
            names.add(producer.name)
            if isinstance(producer, keras.layers.Identity):  # a folded BatchNormalization
                names.add(producer.input._keras_history.operation.name)
    return names


def _check_supported(model, keep_float) -> None:
    for layer in model.layers:
        if keep_float(layer.name, layer):
            continue
        activation = activation_name(layer)
        simulated = (*FUSED_ACTIVATIONS, *FIXED_OUTPUT_RANGES)
        if type(layer) in QUANTIZED_CLASSES and hasattr(layer, "activation") \
                and activation not in simulated:
            raise WorkbenchError(
                f"Layer '{layer.name}' uses activation '{activation}', which has no int8 "
                f"simulation yet (supported: {', '.join(simulated)}). Use one of those, or "
                f"pass keep_float=['{layer.name}'] to keep the layer in float."
            )
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise WorkbenchError(
                f"Layer '{layer.name}' uses data_format='{layer.data_format}'; TFLite runs "
                "channels_last (NHWC) only. Rebuild the model with channels_last, or pass "
                f"keep_float=['{layer.name}']."
            )
        if isinstance(layer, keras.layers.Normalization) and (
                layer.invert or tuple(layer.axis) not in ((-1,), (len(layer.input.shape) - 1,))):
            raise WorkbenchError(
                f"Layer '{layer.name}' (Normalization, axis={layer.axis}, invert={layer.invert}) "
                "has an int8 simulation only over the last axis and not inverted. Pass "
                f"keep_float=['{layer.name}'].")
        if isinstance(layer, CHANNEL_AFFINE) and \
                len(layer.input.shape) != 4:
            raise WorkbenchError(
                f"Layer '{layer.name}' ({type(layer).__name__}) acts on a rank-"
                f"{len(layer.input.shape)} tensor; its int8 simulation needs an image tensor "
                f"(batch, height, width, channels). Pass keep_float=['{layer.name}'].")
        if type(layer) in QUANTIZED_CLASSES or isinstance(layer, RANGE_PRESERVING):
            continue
        raise WorkbenchError(
            f"Layer '{layer.name}' ({type(layer).__name__}) has no int8 simulation yet, so the "
            f"exported model would not be fully int8. Supported: "
            f"{', '.join(cls.__name__ for cls in QUANTIZED_CLASSES)} and range-preserving layers. "
            f"To keep it in float anyway, pass keep_float=['{layer.name}']."
        )


def quantize_model(model, keep_float: LayerSpec = (), preserve_sparsity: bool = False,
                   preserve_clusters: bool = False):
    """A QAT copy of a Sequential, functional or nested ``model`` (which is left untouched).

    ``keep_float`` names layers to leave in float (their ops stay float in the ``.tflite``).
    ``preserve_sparsity`` keeps every zero weight at zero during training (PQAT);
    ``preserve_clusters`` keeps each kernel's shared values shared (CQAT), with one weight scale
    per tensor so that N shared values stay N int8 values.
    The copy's ``qat_report(copy)`` lists what was quantized and what was kept float and why.
    """
    if any(isinstance(layer, OutputQuantizer) for layer in model.layers):
        raise WorkbenchError(
            f"Model '{model.name}' is already quantization-aware (it holds quantized layers). "
            "Pass the float model to quantize_model."
        )
    keep = layer_matcher(keep_float) if keep_float else (lambda path, layer: False)
    flat, inlined = inline_nested_models(model)
    folded, folds = fold_batch_norms(flat)
    _check_supported(folded, keep)
    fused = _fused_into_relu(folded)
    report = TransformReport("quantization-aware training (int8)", unit="layer(s)")
    report.notes += [f"inlined nested model '{name}'" for name in inlined]
    if folds:
        report.notes.append(f"folded {len(folds)} BatchNormalization layer(s) into the "
                            "convolution or Dense before them")

    def clone(layer):
        quantized = QUANTIZED_CLASSES.get(type(layer))
        if quantized is None or keep(layer.name, layer):
            if quantized is not None:
                report.skipped[layer.name] = "kept in float by keep_float"
            return type(layer).from_config(layer.get_config())
        report.applied.append(layer.name)
        config = layer.get_config()
        if issubclass(quantized, OutputQuantizer):
            config["quantize_output"] = layer.name not in fused
        if preserve_clusters and issubclass(quantized, PerChannelWeights):
            config["per_channel"] = False
        return quantized.from_config(config)

    body = keras.models.clone_model(folded, clone_function=clone)
    for layer in folded.layers:
        if layer.weights:
            target = body.get_layer(layer.name)
            extra = [w.numpy() for w in target.weights[len(layer.weights):]]  # range trackers
            target.set_weights(layer.get_weights() + extra)
            if preserve_sparsity or preserve_clusters:
                _preserve(target, preserve_sparsity, preserve_clusters)
    inputs = keras.Input(model.inputs[0].shape[1:], name="input")
    qat_model = keras.Model(inputs, body(QuantizeInput(name="input_quantizer")(inputs)),
                            name=f"{model.name}_qat")
    setattr(qat_model, REPORT_ATTRIBUTE, report)
    report.warn_if_skipped()
    return qat_model


def _preserve(layer, sparsity: bool, clusters: bool) -> None:
    """Make the optimizer keep the kernel's zeros and/or shared values after every update."""
    import numpy as np

    from workbench.clustering import ClusterAssignment
    from workbench.constraints import install_projection

    kernel = getattr(layer, "kernel", None)
    if kernel is None or not isinstance(layer, OutputQuantizer):
        return
    values = np.asarray(kernel.numpy())
    keep = (values != 0).astype("float32").ravel() if sparsity else None
    if clusters:
        shared, ids = np.unique(values, return_inverse=True)
        project = ClusterAssignment(ids.astype("int32").ravel(), shared.size, keep).keras_projection()
    else:
        mask = keep.reshape(values.shape)
        project = lambda w: w * keras.ops.cast(mask, w.dtype)  # noqa: E731
    install_projection(kernel, project)


def qat_report(model) -> TransformReport:
    return attached_state(model, REPORT_ATTRIBUTE, "quantize_model")


def convert_qat(model, inference_input_type: str = "int8",
                inference_output_type: str = "int8") -> bytes:
    """The full-integer ``.tflite`` of a QAT model: ranges come from its quantizers.

    The model goes through a SavedModel: with Keras 3, only ``from_saved_model`` lets the
    converter recognise the fake-quantization ops (the Keras and concrete-function paths ask
    for a representative dataset instead).
    """
    import tempfile

    import tensorflow as tf

    from workbench.errors import ConversionError
    from workbench.progress import converter_chatter_hidden

    dtypes = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}
    with tempfile.TemporaryDirectory() as folder, converter_chatter_hidden():
        model.export(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = dtypes[inference_input_type]
        converter.inference_output_type = dtypes[inference_output_type]
        try:
            return converter.convert()
        except Exception as error:  # the converter raises several types
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ConversionError(f"The TFLite converter failed for the QAT model: "
                                  f"{first[:400]}.") from None
