"""Run a whole integer ``.tflite`` through the kernels of this package, op by op.

``run_tflite`` returns every tensor by its name in the flatbuffer: inputs, constants,
each op's output, the graph's outputs. With ``delegate_unsupported=True`` an op the
kernels do not implement runs in LiteRT (as a one-op model) and the walk goes on.

Example:
    >>> tensors = run_tflite("model_int8.tflite", [x_int8])            # doctest: +SKIP
    >>> tensors["StatefulPartitionedCall:0"]                           # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from workbench.errors import KernelError
from workbench.kernels.quant import Quant
from workbench.tflite_inspect import TFLiteModelInfo, inspect_tflite, read_model_file

PADDINGS = {0: "SAME", 1: "VALID"}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
FLOAT_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")  # float in or out by design


@dataclass
class OpCall:
    """One op about to run: its inputs' values and quantization, its options."""

    info: TFLiteModelInfo
    index: int
    options: object  # the op's builtin options (flatbuffer object API), or None
    values: dict[int, np.ndarray]

    @property
    def op(self):
        return self.info.ops[self.index]

    def input(self, position: int = 0) -> np.ndarray | None:
        index = self.op.inputs[position] if position < len(self.op.inputs) else -1
        return None if index < 0 else self.values[index]

    def quant(self, position: int = 0) -> Quant:
        return quant_of(self.info.tensors[self.op.inputs[position]])

    def output_quant(self, position: int = 0) -> Quant:
        return quant_of(self.info.tensors[self.op.outputs[position]])

    def output_shape(self, position: int = 0) -> tuple[int, ...]:
        return self.info.tensors[self.op.outputs[position]].shape

    @property
    def activation(self) -> str:
        code = getattr(self.options, "fusedActivationFunction", 0)
        if code not in ACTIVATION_NAMES:
            raise KernelError(f"Op {self.index} ({self.op.name}) fuses activation code {code}, "
                              "which integer kernels do not implement.")
        return ACTIVATION_NAMES[code]


def quant_of(tensor) -> Quant:
    """The ``Quant`` of a tensor from ``inspect_tflite`` (scale 1, zero point 0 if it has
    none)."""
    scales = tensor.scales if tensor.scales is not None and tensor.scales.size else [1.0]
    zero_points = tensor.zero_points if tensor.zero_points is not None and \
        tensor.zero_points.size else [0] * len(scales)
    dtype = tensor.dtype if tensor.dtype in ("int8", "int16", "int32", "int64", "uint8") \
        else "int8"
    return Quant(np.asarray(scales, np.float32), np.asarray(zero_points, np.int64),
                 np.dtype(dtype), tensor.quantized_dimension)


def run_tflite(tflite: bytes | str | os.PathLike, inputs,
               delegate_unsupported: bool = False) -> dict[str, np.ndarray]:
    """Every tensor of the integer model ``tflite`` (bytes or a path) run on ``inputs`` (one
    array per graph input, its dtype and shape), by name."""
    return IntegerModel(tflite).run(inputs, delegate_unsupported)


class IntegerModel:
    """A parsed ``.tflite`` whose ops can run one at a time (``run_op``) or in order
    (``run``)."""

    def __init__(self, tflite: bytes | str | os.PathLike):
        self.model = model_bytes(tflite)
        self.info = inspect_tflite(self.model)
        self.options = _builtin_options(self.model)
        self._alone: dict[int, object] = {}  # op index -> LiteRT interpreter of that op alone

    @cached_property
    def constants(self) -> dict[int, np.ndarray]:
        """The constant tensors' values by tensor index (copy before adding to it)."""
        return {t.index: t.data.reshape(t.shape) for t in self.info.tensors
                if t.is_constant and t.data.size == t.size}

    def run(self, inputs, delegate_unsupported: bool = False) -> dict[str, np.ndarray]:
        from workbench.kernels.ops import OPS

        _check_integer(self.info, OPS, delegate_unsupported)
        values = {**self.constants, **checked_inputs(self.info, inputs)}
        for index in range(len(self.info.ops)):
            self.run_op(index, values)
        return {self.info.tensors[index].name: value for index, value in values.items()}

    def run_op(self, index: int, values: dict[int, np.ndarray]) -> None:
        """Compute op ``index`` from ``values`` (tensor index -> array; its inputs must be
        there) and store its outputs in ``values``: in the kernels, or in LiteRT for an op
        they do not implement or that computes in float."""
        from workbench.kernels.ops import OPS

        op = self.info.ops[index]
        if op.name in OPS and not _runs_in_float(self.info, op):
            results = OPS[op.name](OpCall(self.info, index, self.options[index], values))
        else:
            if index not in self._alone:  # built once per model, not once per call
                self._alone[index] = _single_op_interpreter(self.model, index)
            results = _delegated(self._alone[index], self.info, op, values)
        for position, result in zip(op.outputs, results):  # shapes as computed: a
            values[position] = np.asarray(result)  # flatbuffer's can be stale (dynamic batch)


def model_bytes(tflite: bytes | str | os.PathLike) -> bytes:
    """The bytes of a ``.tflite`` given as bytes or as a file path."""
    if isinstance(tflite, (str, os.PathLike)):
        return read_model_file(tflite)
    if not isinstance(tflite, (bytes, bytearray, memoryview)):
        raise KernelError(f"Expected a .tflite as bytes or a file path, received "
                          f"{type(tflite).__name__}.")
    return bytes(tflite)


def supported_ops() -> list[str]:
    """The builtin ops the integer kernels implement."""
    from workbench.kernels.ops import OPS

    return sorted(OPS)


def _builtin_options(model: bytes) -> list:
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    return [schema.OperatorT.InitFromObj(graph.Operators(i)).builtinOptions
            for i in range(graph.OperatorsLength())]


def _runs_in_float(info: TFLiteModelInfo, op) -> bool:
    """An op that reads or writes float values (a float model, or a float island of a partly
    integer one); QUANTIZE and DEQUANTIZE convert by design."""
    return op.name not in FLOAT_BOUNDARY_OPS and any(
        info.tensors[i].dtype in ("float32", "float16") for i in (*op.inputs, *op.outputs)
        if i >= 0)


def _check_integer(info: TFLiteModelInfo, ops: dict, delegate_unsupported: bool) -> None:
    if delegate_unsupported:
        return
    floating = [op for op in info.ops if _runs_in_float(info, op)]
    if floating:
        first = floating[0]
        quantized = any(t.dtype in ("int8", "int16") and not t.is_constant
                        for t in info.tensors)
        kind = "partly float" if quantized else "a float model"
        raise KernelError(
            f"This .tflite is {kind}: {len(floating)} of its {len(info.ops)} ops compute in "
            f"float (the first: op {first.index}, {first.name}). The integer kernels run "
            "integer models: convert with full-integer quantization (the workbench's 'int8', "
            "'qat' or 'int16x8' variants; with the TFLite converter, a representative dataset "
            "and TFLITE_BUILTINS_INT8), or pass delegate_unsupported=True to run the float ops "
            "in LiteRT.")
    missing = sorted({op.name for op in info.ops if op.name not in ops})
    if missing:
        first = next(op for op in info.ops if op.name in missing)
        raise KernelError(
            f"The integer kernels do not implement {', '.join(missing)} (first at op "
            f"{first.index}). Implemented: {', '.join(sorted(ops))}. Pass "
            "delegate_unsupported=True to run those ops in LiteRT and the rest here.")


def checked_inputs(info: TFLiteModelInfo, inputs) -> dict[int, np.ndarray]:
    """``inputs`` (one array per graph input) by tensor index, or a ``KernelError`` for a
    wrong count, dtype or shape (batch included: the model's own)."""
    inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(inputs) != len(info.inputs):
        raise KernelError(f"The model has {len(info.inputs)} input(s), received "
                          f"{len(inputs)} array(s). Pass one array per input, in order: "
                          f"{', '.join(info.tensors[i].name for i in info.inputs)}.")
    found = {}
    for index, value in zip(info.inputs, inputs):
        tensor = info.tensors[index]
        value = np.asarray(value)
        if str(value.dtype) != tensor.dtype or value.shape != tensor.shape:
            hint = " Quantize float values with workbench.kernels.quantize(x, " \
                "quant_of(tensor))." if tensor.dtype in ("int8", "int16") and \
                str(value.dtype) != tensor.dtype else " Run one sample at a time." \
                if value.shape[1:] == tensor.shape[1:] else ""
            raise KernelError(f"Input '{tensor.name}' expects {tensor.dtype} of shape "
                              f"{tensor.shape}, received {value.dtype} of shape "
                              f"{value.shape}.{hint}")
        found[index] = value
    return found


def _single_op_interpreter(model: bytes, op_index: int):
    """A LiteRT interpreter of op ``op_index`` alone: its reference kernel, or its default one
    for an op that has no reference kernel (ELU...)."""
    from workbench.kernels.litert import litert_interpreter

    alone = single_op_model(model, op_index)
    try:
        return litert_interpreter(alone, "reference", keep_all=False)
    except ValueError:
        return litert_interpreter(alone, "default", keep_all=False)


def _delegated(runner, info: TFLiteModelInfo, op, values) -> list[np.ndarray]:
    """Run one op in ``runner`` (``_single_op_interpreter``), fed our values."""
    for detail, index in zip(runner.get_input_details(), variable_inputs(info, op)):
        runner.set_tensor(detail["index"], values[index])
    runner.invoke()
    return [runner.get_tensor(detail["index"]) for detail in runner.get_output_details()]


def variable_inputs(info: TFLiteModelInfo, op) -> list[int]:
    """The op's inputs that are not constants, once each, in order."""
    return [i for i in dict.fromkeys(op.inputs) if i >= 0 and not info.tensors[i].is_constant]


def single_op_model(model: bytes, op_index: int) -> bytes:
    """A ``.tflite`` of op ``op_index`` of ``model`` alone: its non-constant inputs become
    the graph's inputs, its outputs the graph's outputs, constants keep their buffers."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    whole = schema.ModelT.InitFromPackedBuf(model, 0)
    graph = whole.subgraphs[0]
    op = graph.operators[op_index]
    used = list(dict.fromkeys(i for i in (*op.inputs, *op.outputs) if i >= 0))
    renumber = {old: new for new, old in enumerate(used)}
    buffers, tensors, variable = [schema.BufferT()], [], []
    for old in used:
        tensor = graph.tensors[old]
        data = whole.buffers[tensor.buffer].data if 0 < tensor.buffer < len(whole.buffers) \
            else None
        if data is not None and len(data):
            buffers.append(schema.BufferT())
            buffers[-1].data = data
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
            variable.append(renumber[old])
        tensors.append(tensor)
    op.inputs = [renumber[i] if i >= 0 else -1 for i in op.inputs]
    op.outputs = [renumber[i] for i in op.outputs]
    graph.tensors, graph.operators = tensors, [op]
    graph.inputs = [i for i in variable if i not in op.outputs]
    graph.outputs = list(op.outputs)
    whole.subgraphs, whole.buffers = [graph], buffers
    whole.signatureDefs = whole.metadata = whole.metadataBuffer = None
    builder = flatbuffers.Builder(1024)
    builder.Finish(whole.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
