"""Read a ``.tflite`` flatbuffer: its tensors (dtype, shape, constant data) and ops.

Built on the schema module that ships with LiteRT. Later analyses (sparsity,
clustering, device estimates) read the same ``TFLiteModelInfo``.

Example:
    >>> info = inspect_tflite(tflite_bytes)                       # doctest: +SKIP
    >>> [t.dtype for t in info.weight_tensors()]                  # doctest: +SKIP
    ['int8', 'int8', 'int8']
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from workbench.errors import ModelLoadError

# TFLite tensor type code -> numpy dtype name (types without a numpy twin map to None).
TENSOR_DTYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16",
}
NUMPY_DTYPES = {name for name in TENSOR_DTYPES.values() if name and hasattr(np, name)}
INDEX_DTYPES = ("int32", "int64")
# Ops whose input 1 is a weight tensor (kernel); input 2 is the bias.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D")


@dataclass(frozen=True, eq=False)
class TensorInfo:
    """One tensor of the graph; ``data`` is its constant buffer, or None for activations."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: np.ndarray | None
    scales: np.ndarray | None
    zero_points: np.ndarray | None
    quantized_dimension: int = 0
    block_size: int = 0  # blockwise quantization: one scale per block of this many values

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @cached_property
    def zeros(self) -> int | None:
        """Number of elements equal to zero (constants only)."""
        return None if self.data is None else int(np.count_nonzero(self.data == 0))

    @cached_property
    def unique_values(self) -> int | None:
        """Number of distinct values (constants only)."""
        return None if self.data is None else int(np.unique(self.data).size)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        """Bytes of its values as stored (int4: two per byte)."""
        bits = {"int4": 4, "int2": 2}.get(self.dtype)
        if bits:
            return -(-self.size * bits // 8)
        return self.size * (np.dtype(self.dtype).itemsize if self.dtype in NUMPY_DTYPES else 1)

    @property
    def is_quantized(self) -> bool:
        """Integer codes with a scale (int8 weights, int16 activations...)."""
        return self.scales is not None and self.dtype.startswith(("int", "uint")) and \
            self.dtype not in ("int32", "int64")

    def real_values(self) -> np.ndarray | None:
        """A constant's values as the real numbers they stand for: ``(code - zero point) *
        scale``, with one scale per channel along ``quantized_dimension`` when there are several;
        floats as they are; int4 unpacked, blockwise scales per block. None for activations and
        sparse storage."""
        if self.data is None or self.data.dtype.kind not in "fiu" or self.data.size != self.size:
            return None
        values = self.data.reshape(self.shape).astype("float32")
        if not self.is_quantized:
            return values
        if self.block_size:  # scales (channels, blocks) along the last axis
            blocks = values.reshape(self.shape[0], -1, self.block_size)
            scales = self.scales.astype("float32").reshape(self.shape[0], -1, 1)
            return (blocks * scales).reshape(self.shape)
        axis = self.quantized_dimension if len(self.scales) > 1 else None
        shape = [1] * values.ndim
        if axis is not None:
            shape[axis] = -1
        scales = self.scales.astype("float32").reshape(shape if axis is not None else ())
        zero_points = self.zero_points.astype("float32").reshape(shape if axis is not None
                                                                  else ()) \
            if self.zero_points is not None and self.zero_points.size else 0.0
        return (values - zero_points) * scales


@dataclass(frozen=True)
class OpInfo:
    """One operator: its builtin name (or custom code), tensor indices, and for pooling ops
    the filter's (height, width)."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    filter_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class TFLiteModelInfo:
    """The main subgraph of a ``.tflite`` model."""

    tensors: list[TensorInfo]
    ops: list[OpInfo]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_counts(self) -> Counter:
        return Counter(op.name for op in self.ops)

    def kernels(self, op_names=WEIGHTED_OPS) -> list[tuple[str, TensorInfo]]:
        """``(op name, kernel)`` for the weight input of each conv / depthwise / FC op, once each."""
        found = {}
        for op in self.ops:
            if op.name in op_names and len(op.inputs) > 1 and op.inputs[1] >= 0:
                tensor = self._constant_source(self.tensors[op.inputs[1]])
                found.setdefault(tensor.index, (op.name, tensor))
        return list(found.values())

    def weight_tensors(self, op_names=WEIGHTED_OPS) -> list[TensorInfo]:
        """The kernels (input 1) of the conv / depthwise / fully connected ops."""
        return [tensor for _, tensor in self.kernels(op_names)]

    def weight_sparsity(self) -> float | None:
        """Zeros / elements over all conv, depthwise and fully-connected kernels."""
        kernels = [t for t in self.weight_tensors() if t.is_constant]
        elements = sum(t.data.size for t in kernels)
        return sum(t.zeros for t in kernels) / elements if elements else None

    def max_unique_weights(self, per_channel: bool = False) -> int | None:
        """The largest count of distinct values in any kernel (or in any output channel)."""
        counts = [_unique_per_channel(op, t) if per_channel else t.unique_values
                  for op, t in self.kernels() if t.is_constant]
        return max(counts) if counts else None

    def _constant_source(self, tensor: TensorInfo) -> TensorInfo:
        """Follow a DEQUANTIZE (float16 / sparse weights) back to its stored constant."""
        if tensor.is_constant:
            return tensor
        for op in self.ops:
            if tensor.index in op.outputs and op.name == "DEQUANTIZE":
                return self.tensors[op.inputs[0]]
        return tensor

    def int8_ops_fraction(self) -> float | None:
        """Among the ops that touch activations, the share that run entirely in int8.

        An op touches activations unless all its outputs are int32/int64 (shape arithmetic).
        It runs in int8 when every output is int8 and every input is int8, int32/int64 inputs
        (biases, shapes, indices) allowed. ``None`` for a graph with no such op.
        """
        considered = [op for op in self.ops
                      if not all(self.tensors[i].dtype in INDEX_DTYPES for i in op.outputs)]
        if not considered:
            return None
        return sum(self._runs_in_int8(op) for op in considered) / len(considered)

    def _runs_in_int8(self, op: OpInfo) -> bool:
        outputs = {self.tensors[i].dtype for i in op.outputs}
        inputs = {self.tensors[i].dtype for i in op.inputs if i >= 0} - set(INDEX_DTYPES)
        return outputs == {"int8"} and inputs <= {"int8"}

    def table(self):
        """Per-tensor rows (name, dtype, shape, constant, zeros, unique values) as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([
            {"index": t.index, "name": t.name, "dtype": t.dtype, "shape": t.shape,
             "constant": t.is_constant, "zeros": t.zeros, "unique_values": t.unique_values}
            for t in self.tensors
        ])


def _unique_per_channel(op_name: str, tensor: TensorInfo) -> int:
    """Distinct values per output channel: axis 0 of conv / FC kernels, last of depthwise."""
    axis = -1 if op_name == "DEPTHWISE_CONV_2D" else 0
    if tensor.data.size != tensor.size or not tensor.shape:  # packed or sparse storage
        return tensor.unique_values
    rows = np.moveaxis(tensor.data.reshape(tensor.shape), axis, 0).reshape(tensor.shape[axis], -1)
    ordered = np.sort(rows, axis=1)
    return int((ordered[:, 1:] != ordered[:, :-1]).sum(axis=1).max() + 1)


def inspect_tflite(model: bytes | str | os.PathLike) -> TFLiteModelInfo:
    """Parse ``.tflite`` bytes or a file path into a ``TFLiteModelInfo``."""
    from ai_edge_litert import schema_py_generated as schema

    source = f"'{model}'" if isinstance(model, (str, os.PathLike)) else "The given data"
    buffer = read_model_file(model) if isinstance(model, (str, os.PathLike)) else bytes(model)
    if len(buffer) < 8 or buffer[4:8] != b"TFL3":
        raise ModelLoadError(
            f"{source} is not a .tflite flatbuffer: expected the identifier 'TFL3' at bytes 4-8, "
            f"received {len(buffer)} bytes starting with {buffer[:8]!r}. Pass a file written by "
            "the TFLite converter.")
    try:
        return _parse(buffer, schema)
    except Exception as error:  # flatbuffers raises struct/index errors on truncated data
        reason = str(error) if isinstance(error, _Damaged) else \
            f"reading it failed with {type(error).__name__}: {error}"
        raise ModelLoadError(
            f"{source} is a truncated or damaged .tflite ({len(buffer)} bytes; {reason}). "
            "Expected a file written by the TFLite converter: export the model again.") from None


class _Damaged(Exception):
    """A structural inconsistency found while reading (an index out of range...)."""


def read_model_file(path: str | os.PathLike) -> bytes:
    """The bytes of a ``.tflite`` file, or a ``ModelLoadError`` saying why they cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ModelLoadError(f"Cannot read the .tflite file '{path}': "
                             f"{error.strerror or error}. Expected a readable file written by "
                             "the TFLite converter.") from None


def _parse(buffer: bytes, schema) -> TFLiteModelInfo:
    root = schema.Model.GetRootAs(buffer, 0)
    if root.SubgraphsLength() < 1:
        raise _Damaged("it has no subgraph")
    graph = root.Subgraphs(0)
    op_names = [_op_name(root.OperatorCodes(i), schema) for i in range(root.OperatorCodesLength())]
    tensors = [_tensor_info(graph.Tensors(i), i, root, buffer) for i in range(graph.TensorsLength())]
    tensors = [_with_block_scales(tensor, tensors, graph.Tensors(tensor.index), schema)
               for tensor in tensors]
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = op.OpcodeIndex()
        if not 0 <= code < len(op_names):
            raise _Damaged(f"op {i} names operator code {code} of {len(op_names)}")
        ops.append(OpInfo(i, op_names[code], _indices(op.InputsAsNumpy()),
                          _indices(op.OutputsAsNumpy()), _filter_size(op, schema)))
    info = TFLiteModelInfo(tensors, ops, _indices(graph.InputsAsNumpy()),
                           _indices(graph.OutputsAsNumpy()))
    _check_indices(info)
    return info


def _check_indices(info: TFLiteModelInfo) -> None:
    """Every tensor index in range (-1: an omitted optional input), every shape non-negative."""
    count = len(info.tensors)
    for op in info.ops:
        for index in (*op.inputs, *op.outputs):
            if not -1 <= index < count or (index == -1 and index in op.outputs):
                raise _Damaged(f"op {op.index} ({op.name}) refers to tensor {index} of {count}")
    for index in (*info.inputs, *info.outputs):
        if not 0 <= index < count:
            raise _Damaged(f"the graph's inputs or outputs refer to tensor {index} of {count}")
    for tensor in info.tensors:
        if any(dim < 0 for dim in tensor.shape):
            raise _Damaged(f"tensor {tensor.index} has shape {tensor.shape}")


def _filter_size(op, schema) -> tuple[int, int] | None:
    if op.BuiltinOptionsType() != schema.BuiltinOptions.Pool2DOptions:
        return None
    table = op.BuiltinOptions()
    options = schema.Pool2DOptions()
    options.Init(table.Bytes, table.Pos)
    return options.FilterHeight(), options.FilterWidth()


def _indices(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values) if isinstance(values, np.ndarray) else ()


def _op_name(code, schema) -> str:
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM:{code.CustomCode().decode()}"
    return _builtin_names().get(builtin, f"BUILTIN_{builtin}")


@functools.cache
def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {value: name for name, value in vars(schema.BuiltinOperator).items()
            if not name.startswith("_")}


def _tensor_info(tensor, index: int, root, buffer: bytes) -> TensorInfo:
    dtype = TENSOR_DTYPES.get(tensor.Type(), f"type{tensor.Type()}")
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    quant = tensor.Quantization()
    scales = zero_points = None
    axis = 0
    if quant is not None and quant.ScaleLength():
        scales, zero_points = quant.ScaleAsNumpy(), quant.ZeroPointAsNumpy()
        axis = int(quant.QuantizedDimension())
        if len(scales) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scales)):
            raise _Damaged(f"tensor {index} has {len(scales)} scales along dimension {axis} of "
                           f"shape {shape}")
    data = _constant_data(root.Buffers(tensor.Buffer()), buffer, dtype, shape)
    return TensorInfo(index, (tensor.Name() or b"").decode(), dtype, shape, data, scales,
                      zero_points if isinstance(zero_points, np.ndarray) else None, axis)


def _with_block_scales(tensor: TensorInfo, tensors: list[TensorInfo], raw, schema) -> TensorInfo:
    """A blockwise-quantized tensor (int4 weights of the AI Edge Quantizer) with its scales,
    which live in a separate float16 tensor of shape (channels, blocks)."""
    quant = raw.Quantization()
    if quant is None or quant.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
        return tensor
    details = schema.BlockwiseQuantization()
    table = quant.Details()
    details.Init(table.Bytes, table.Pos)
    index, block = details.Scales(), details.BlockSize()
    if not 0 <= index < len(tensors) or tensors[index].data is None or block <= 0:
        raise _Damaged(f"tensor {tensor.index} names block scales in tensor {index}")
    scales = tensors[index].data.astype("float32")
    if not tensor.shape or scales.size * block != tensor.size:
        raise _Damaged(f"tensor {tensor.index} of shape {tensor.shape} has {scales.size} "
                       f"scales for blocks of {block}")
    return dataclasses.replace(tensor, scales=scales.reshape(-1), zero_points=None,
                               quantized_dimension=0, block_size=int(block))


def _constant_data(buf, model_bytes: bytes, dtype: str, shape: tuple) -> np.ndarray | None:
    if buf is None:
        return None
    if buf.Offset() > 1:  # large models keep buffers after the flatbuffer
        raw = np.frombuffer(model_bytes, np.uint8, count=buf.Size(), offset=buf.Offset())
    elif buf.DataLength():
        raw = buf.DataAsNumpy()
    else:
        return None
    if dtype == "int4":
        return _unpack_int4(raw, int(np.prod(shape)) if shape else 1).reshape(shape)
    try:
        values = raw.view(np.dtype(dtype))
    except TypeError:  # string, resource...: keep the raw bytes
        return raw
    return values.reshape(shape) if values.size == int(np.prod(shape)) else values


def _unpack_int4(raw: np.ndarray, count: int) -> np.ndarray:
    """Packed int4 (two per byte, the first in the low nibble) as int8 values."""
    if raw.size * 2 < count:
        raise _Damaged(f"an int4 tensor of {count} values has {raw.size} bytes")
    nibbles = np.empty(raw.size * 2, np.uint8)
    nibbles[0::2], nibbles[1::2] = raw & 0x0F, raw >> 4
    return ((nibbles[:count].astype(np.int8) ^ 8) - 8).astype(np.int8)
