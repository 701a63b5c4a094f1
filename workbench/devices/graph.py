"""What a ``.tflite`` graph costs: per-op work, weights, activations, and the arena's peak.

From the flatbuffer alone: each op's class, compute dtype, MACs (multiply-accumulates; one
per output element for elementwise ops), weight bytes and activation bytes; and the peak
activation memory of the whole graph, planned the way TFLite and TFLite Micro plan their
arenas: every activation tensor lives from the op that writes it to the last op that reads
it, and tensors are placed largest first at the lowest offset that overlaps no tensor alive
at the same time (greedy by size; alignment padding left out).

Example:
    >>> graph = analyze_tflite(tflite_bytes)                           # doctest: +SKIP
    >>> graph.total_macs, graph.weight_bytes, graph.peak_activation_bytes   # doctest: +SKIP
    (1_843_200, 1_160, 13_312)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import ModelLoadError
from workbench.tflite_inspect import TFLiteModelInfo, TensorInfo, inspect_tflite

OP_CLASSES = {
    "conv": ("CONV_2D", "TRANSPOSE_CONV", "CONV_3D"),
    "depthwise": ("DEPTHWISE_CONV_2D",),
    "fully_connected": ("FULLY_CONNECTED", "BATCH_MATMUL"),
    "pool": ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"),
    # one pass over the input (LiteRT's int8 MEAN is ~30x faster per element than its
    # windowed pooling on this project's host); a profile without a rate uses its pool rate
    "reduce": ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"),
    "elementwise": ("ADD", "SUB", "MUL", "DIV", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC",
                    "TANH", "HARD_SWISH", "SOFTMAX", "LOG_SOFTMAX", "QUANTIZE", "DEQUANTIZE",
                    "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "RSQRT", "SQRT", "EXP", "LOG",
                    "LEAKY_RELU", "PRELU", "GELU", "ABS", "NEG", "POW", "SQUARE", "ELU",
                    "L2_NORMALIZATION"),
    "broadcast": (),  # elementwise ops whose operands differ in shape (assigned per op)
    "data_movement": ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PAD", "PADV2",
                      "MIRROR_PAD", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "GATHER", "PACK",
                      "UNPACK", "SPLIT", "SPLIT_V", "RESIZE_BILINEAR",
                      "RESIZE_NEAREST_NEIGHBOR", "SHAPE", "TILE", "BROADCAST_TO",
                      "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "CAST", "FILL", "ZEROS_LIKE"),
}
CLASS_OF_OP = {op: name for name, ops in OP_CLASSES.items() for op in ops}


@dataclass(frozen=True)
class OpCost:
    """One op as the estimator sees it. ``macs`` is 0 for pure data movement."""

    index: int
    name: str
    op_class: str  # a key of OP_CLASSES, or "unknown"
    dtype: str  # float32 | float16 | dynamic_range | dynamic_int4 | int8 | int4x8 | int16x8 | index
    macs: int
    weight_bytes: int
    activation_bytes: int  # activations read and written
    output_shape: tuple[int, ...]
    runs_once: bool = False  # a DEQUANTIZE of a constant: done when the model loads


@dataclass(frozen=True)
class GraphCost:
    ops: list[OpCost]
    peak_activation_bytes: int
    model_bytes: int

    @property
    def total_macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    def frame(self):
        """One row per op, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([vars(op) for op in self.ops])


def tensor_bytes(tensor: TensorInfo) -> int:
    return tensor.nbytes


def analyze_tflite(model) -> GraphCost:
    """Per-op costs and the arena peak of a ``.tflite`` (bytes, path, or ``TFLiteModelInfo``)."""
    info = model if isinstance(model, TFLiteModelInfo) else inspect_tflite(model)
    size = len(model) if isinstance(model, (bytes, bytearray)) else 0
    if not size and not isinstance(model, TFLiteModelInfo):
        from pathlib import Path

        size = Path(model).stat().st_size
    ops = [_checked_op_cost(info, op) for op in info.ops]
    return GraphCost(ops, peak_activation_bytes(info), size)


def _checked_op_cost(info: TFLiteModelInfo, op) -> OpCost:
    """``_op_cost``, with an op whose tensors do not fit its type reported as a damaged file."""
    try:
        return _op_cost(info, op)
    except (IndexError, ValueError, TypeError, OverflowError) as error:
        raise ModelLoadError(
            f"Op {op.index} ({op.name}) of the .tflite cannot be analysed: its inputs "
            f"{list(op.inputs)} and outputs {list(op.outputs)} do not fit the op "
            f"({type(error).__name__}: {error}). Expected a file written by the TFLite "
            "converter: export the model again.") from None


def _op_cost(info: TFLiteModelInfo, op) -> OpCost:
    inputs = [info.tensors[i] for i in op.inputs if i >= 0]
    outputs = [info.tensors[i] for i in op.outputs]
    constants = [t for t in inputs if t.is_constant]
    activations = [t for t in inputs if not t.is_constant]
    output = outputs[0] if outputs else None
    op_class = CLASS_OF_OP.get(op.name, "unknown")
    if op_class == "elementwise" and len(inputs) > 1 and output is not None and any(
            element_count(t.shape) != element_count(output.shape) for t in inputs):
        op_class = "broadcast"  # e.g. a per-channel scale: kernels index each operand
    return OpCost(
        index=op.index, name=op.name, op_class=op_class,
        dtype=_compute_dtype(op.name, activations, constants, outputs),
        macs=_macs(op, inputs, output), weight_bytes=sum(tensor_bytes(t) for t in constants),
        activation_bytes=sum(tensor_bytes(t) for t in activations + outputs),
        output_shape=output.shape if output is not None else (),
        runs_once=op.name == "DEQUANTIZE" and not activations)


def _compute_dtype(name, activations, constants, outputs) -> str:
    """The arithmetic an op does; ops that only output int32/int64/bool (SHAPE, shape
    arithmetic) are 'index', as in ``TFLiteModelInfo.int8_ops_fraction``."""
    index_dtypes = ("int32", "int64", "bool")
    if all(t.dtype in index_dtypes for t in outputs):
        return "index"
    data = [t.dtype for t in activations + outputs if t.dtype not in index_dtypes]
    int4_weights = any(t.dtype == "int4" and len(t.shape) >= 2 for t in constants)
    if "int16" in data:
        return "int16x8"
    if all(d in ("int8", "uint8") for d in data):
        return "int4x8" if int4_weights else "int8"
    if int4_weights and "float32" in data:
        return "dynamic_int4"
    if any(t.dtype == "int8" and len(t.shape) >= 2 for t in constants) and "float32" in data:
        return "dynamic_range"
    return "float16" if all(d == "float16" for d in data) else "float32"


def element_count(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def _macs(op, inputs, output) -> int:
    """Multiply-accumulates of conv-like ops; one per output (pooling: per window) element."""
    if output is None:
        return 0
    out = element_count(output.shape)
    weights = inputs[1] if len(inputs) > 1 else None
    if op.name in ("CONV_2D", "CONV_3D") and weights is not None:
        return out * element_count(weights.shape[1:])  # kernel (out, kh, kw, in)
    if op.name == "DEPTHWISE_CONV_2D" and weights is not None:
        return out * element_count(weights.shape[1:3])  # kernel (1, kh, kw, channels)
    if op.name == "TRANSPOSE_CONV" and len(inputs) > 2:
        kernel, source = inputs[1], inputs[2]  # inputs: output shape, kernel, activations
        return element_count(source.shape) * element_count(kernel.shape[:3])
    if op.name in ("FULLY_CONNECTED", "BATCH_MATMUL") and weights is not None:
        return out * int(inputs[0].shape[-1]) if inputs[0].shape else out
    if op.filter_size is not None:
        return out * op.filter_size[0] * op.filter_size[1]
    if op.name in OP_CLASSES["reduce"]:
        return element_count(inputs[0].shape)
    if op.name in OP_CLASSES["data_movement"]:
        return 0
    return out


def peak_activation_bytes(info: TFLiteModelInfo) -> int:
    """The arena size a greedy-by-size plan needs for the graph's activation tensors."""
    first, last = {}, {}
    end = len(info.ops)
    for index in info.inputs:
        first[index] = 0
    for position, op in enumerate(info.ops):
        for index in op.outputs:
            first.setdefault(index, position)
            last[index] = max(last.get(index, position), position)
        for index in op.inputs:
            if index >= 0 and not info.tensors[index].is_constant:
                first.setdefault(index, position)
                last[index] = position
    for index in info.outputs:
        last[index] = end
    lifetimes = [(tensor_bytes(info.tensors[i]), first[i], last.get(i, first[i]))
                 for i in first]
    return plan_arena(lifetimes)


def plan_arena(lifetimes: list[tuple[int, int, int]]) -> int:
    """Greedy by size: ``(bytes, first use, last use)`` per tensor -> the arena's peak bytes."""
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    peak = 0
    for size, first, last in sorted(lifetimes, key=lambda item: -item[0]):
        overlapping = sorted((start, start + length) for start, length, used_from, used_to
                             in placed if used_from <= last and first <= used_to)
        offset = 0
        for start, stop in overlapping:
            if offset + size <= start:
                break
            offset = max(offset, stop)
        placed.append((offset, size, first, last))
        peak = max(peak, offset + size)
    return peak
