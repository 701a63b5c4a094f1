"""Selective and mixed precision: which ``.tflite`` ops a Keras layer became, and int8 models
that keep chosen layers in float (the converter's quantization debugger) or in int16
activations (the AI Edge Quantizer).

A layer is kept together with the tensor it reads: the op producing its input (through a
reshape or squeeze) gets the same precision. An outlier channel crushes int8 at a tensor, not
at an op: a float op reading an int8 tensor reads the damage. So ``keep_float=block_pw`` keeps
``block_pw`` and the depthwise conv that feeds it in float.

Example:
    >>> info = inspect_tflite(float_tflite)                                  # doctest: +SKIP
    >>> op_layers(info, layer_names(model))[:2]                              # doctest: +SKIP
    [['stem_conv', 'stem_bn', 'stem_relu'], ['block_dw', 'block_dw_bn', 'block_dw_relu']]
"""

from __future__ import annotations

import difflib
import re

from workbench.errors import ConversionError, RecipeError
from workbench.progress import converter_chatter_hidden

# Ops that pass values through unchanged: a kept layer's input is followed back through them.
PASS_THROUGH = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
_SUFFIX = re.compile(r"_\d+$")  # the converter's trace adds '_1' to model and layer scopes


def layer_names(model) -> list[str]:
    """Every layer name below ``model`` (nested models too), in model order; no input layers."""
    import keras

    from workbench.layer_selection import walk_layers

    return [layer.name for _, layer in walk_layers(model)
            if not isinstance(layer, keras.layers.InputLayer)]


def split_layer_list(text) -> tuple[str, ...]:
    """``'conv1, dense'`` (or a list) as ``('conv1', 'dense')``."""
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def layers_in_name(tensor_name: str, names) -> list[str]:
    """The Keras layers a converter tensor name mentions (fused ops mention several), in
    order: ``'m_1/fc_1/MatMul;m_1/fc_1/Relu'`` -> ``['fc']``."""
    known, found = set(names), []
    for piece in tensor_name.split(";"):
        for scope in piece.split("/"):
            name = scope if scope in known else _SUFFIX.sub("", scope)
            if name in known and name not in found:
                found.append(name)
    return found


def op_layers(info, names) -> list[list[str]]:
    """For each op of ``info`` (a ``TFLiteModelInfo``), the Keras layers it computes, read from
    its output's name, or from its weights' names when the output is named after the model's
    signature (the last op)."""
    result = []
    for op in info.ops:
        found = []
        for index in (*op.outputs, *op.inputs):
            if index >= 0 and (index in op.outputs or info.tensors[index].is_constant):
                found += [n for n in layers_in_name(info.tensors[index].name, names)
                          if n not in found]
            if found and index in op.outputs:
                break
        result.append(found)
    return result


def check_layer_names(requested, names, option: str) -> None:
    """Refuse a name that is not a layer of the model, with the close names."""
    for name in requested:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise RecipeError(
                f"Option {option}: the model has no layer '{name}'. {hint}Its layers are: "
                f"{', '.join(names[:40])}{' ...' if len(names) > 40 else ''}.")


def ops_of_layers(info, names, requested, option: str) -> list[int]:
    """The op indices that compute the ``requested`` layers, with the ops producing their
    inputs; refuses unknown names and layers that became no op of their own."""
    check_layer_names(requested, names, option)
    layers = op_layers(info, names)
    chosen = []
    for name in requested:
        ops = [op.index for op, found in zip(info.ops, layers) if name in found]
        if not ops:
            raise RecipeError(
                f"Option {option}: layer '{name}' became no op of the .tflite (the converter "
                "folded it away, or it only reshapes). Name a layer that computes, e.g. "
                f"{', '.join(sorted({f[0] for f in layers if f})[:5])}.")
        chosen += ops
    return with_producers(info, chosen)


def with_producers(info, op_indices) -> list[int]:
    """``op_indices`` and, for each, the op producing each of its activation inputs (followed
    back through reshapes), sorted."""
    producer = {out: op for op in info.ops for out in op.outputs}
    result = set(op_indices)
    for index in op_indices:
        for tensor in info.ops[index].inputs:
            source = producer.get(tensor)
            while source is not None:
                result.add(source.index)
                if source.name not in PASS_THROUGH:
                    break
                source = producer.get(source.inputs[0]) if source.inputs else None
    return sorted(result)


def op_output_names(info, op_indices) -> list[str]:
    return [info.tensors[info.ops[i].outputs[0]].name for i in op_indices]


def convert_keeping_float(model, export, samples, float_ops: list[str],
                          progress: bool = False) -> bytes:
    """The converter's int8 model of ``model`` with the ops named by their output tensors
    (``float_ops``) left in float: the quantization debugger calibrates, then the converter's
    quantizer runs with those nodes denylisted and the export's input and output types."""
    import dataclasses

    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    from workbench.ptq import make_converter
    from workbench.stages.export import calibration_feed

    fallback = dataclasses.replace(export, integer_only=False)  # the kept ops run in float
    converter = make_converter(model, fallback, samples, progress)
    dtypes = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}
    try:
        with converter_chatter_hidden():
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=calibration_feed(samples, False))
            return bytes(tflite_convert.mlir_quantize(
                debugger.calibrated_model, fully_quantize=True,
                input_data_type=dtypes[export.inference_input_type],
                output_data_type=dtypes[export.inference_output_type],
                denylisted_nodes=list(float_ops)))
    except Exception as error:  # the converter raises several types
        raise ConversionError(f"Keeping {len(float_ops)} op(s) in float failed in the "
                              f"converter: {str(error).strip().splitlines()[0][:300]}.") from None


def most_sensitive_layers(model, samples, count: int, sample_count: int = 64) -> list[str]:
    """The ``count`` layers whose int8 ops show the largest error in quantization steps
    (``quantization_errors``), most sensitive first."""
    from workbench.data import structure
    from workbench.quant_debug import quantization_errors

    errors = quantization_errors(model, structure.take(samples, 0, sample_count))
    ranked = errors[(errors["layer"] != "") & ~errors["op"].isin(PASS_THROUGH)] \
        .sort_values("rmse_over_scale", ascending=False)
    layers = list(dict.fromkeys(ranked["layer"]))
    if count > len(layers):
        raise RecipeError(f"auto_keep_float={count}, but the model has {len(layers)} layer(s) "
                          f"with int8 ops ({', '.join(layers)}). Expected at most "
                          f"{len(layers) - 1}: keeping all of them is the float32 recipe.")
    return layers[:count]


def convert_selective(model, export, samples, progress: bool = False) -> tuple[bytes, str]:
    """The int8 model of ``export`` (an ``Int8Export`` with ``keep_float``, ``auto_keep_float``
    or ``int16_layers``) and notes naming the layers left in float and in int16."""
    from workbench.edge_quantizer import Rule, quantize
    from workbench.ptq import convert
    from workbench.stages.export import Float32Export
    from workbench.tflite_inspect import inspect_tflite

    float_tflite = convert(model, Float32Export(), progress=False)
    info, names = inspect_tflite(float_tflite), layer_names(model)
    kept = list(split_layer_list(export.keep_float))
    if export.auto_keep_float:
        kept += [name for name in most_sensitive_layers(model, samples, export.auto_keep_float)
                 if name not in kept]
    float_ops = ops_of_layers(info, names, kept, "keep_float") if kept else []
    int16 = split_layer_list(export.int16_layers)
    int16_ops = ops_of_layers(info, names, int16, "int16_layers") if int16 else []
    _check_choice(info, float_ops, int16_ops)
    if int16_ops:
        rules = [Rule(".*", "static"),
                 Rule.exactly(op_output_names(info, int16_ops), "static", activation_bits=16)]
        if float_ops:
            rules.append(Rule.exactly(op_output_names(info, float_ops), "float"))
        tflite = quantize(float_tflite, rules, samples)
    else:
        tflite = convert_keeping_float(model, export, samples,
                                       op_output_names(info, float_ops), progress)
    found = layers_by_precision(tflite, model)
    if export.integer_only and not int16_ops:
        fused = op_layers(info, names)
        _check_no_other_float(found["float32"], {name for i in float_ops for name in fused[i]})
    return tflite, precision_notes(found)


def _computing_ops(info) -> set[int]:
    """Ops that compute on float activations (not shape arithmetic, not reshapes)."""
    return {op.index for op in info.ops if op.name not in PASS_THROUGH
            and all(info.tensors[i].dtype == "float32" for i in op.outputs)}


def _check_choice(info, float_ops, int16_ops) -> None:
    both = sorted(set(float_ops) & set(int16_ops))
    if both:
        raise RecipeError(
            f"keep_float and int16_layers both claim op(s) {both} (a layer, or the op feeding "
            "it): a layer is either float or int16. Remove it from one of the two options.")
    computing = _computing_ops(info)
    if computing and computing <= set(float_ops):
        raise RecipeError(
            "keep_float keeps every layer of the model in float: that is the float32 recipe. "
            "Name fewer layers (or a smaller auto_keep_float), or use recipe float32.")


def layers_by_precision(tflite: bytes, model) -> dict[str, list[str]]:
    """The layers whose ops compute in float32 and in int16 in ``tflite``."""
    from workbench.devices.graph import analyze_tflite
    from workbench.quant_debug import op_primary_layers
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    found = {"float32": [], "int16x8": []}
    for cost, name in zip(analyze_tflite(info).ops, op_primary_layers(info, model)):
        if cost.dtype in found and cost.name not in ("QUANTIZE", "DEQUANTIZE", *PASS_THROUGH):
            if name and name not in found[cost.dtype]:
                found[cost.dtype].append(name)
    return found


def precision_notes(found: dict[str, list[str]]) -> str:
    """``'in float: block_dw, block_pw; int16 activations: fc'`` from ``layers_by_precision``."""
    parts = [f"in float: {', '.join(found['float32'])}" if found["float32"] else "",
             f"int16 activations: {', '.join(found['int16x8'])}" if found["int16x8"] else ""]
    return "; ".join(filter(None, parts))


def _check_no_other_float(float_layers: list[str], allowed: set[str]) -> None:
    """With ``integer_only``, only the kept layers (and the ops feeding them) may be float."""
    others = [name for name in float_layers if name not in allowed]
    if others:
        raise ConversionError(
            f"integer_only=true, but besides the kept layers, {', '.join(others)} fell back "
            "to float (no int8 kernel). Set integer_only=false to allow it, or keep those "
            "layers in float too.")
