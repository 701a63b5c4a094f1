"""Per-op error of an integer model against its float twin, measured on the integer path
of these kernels (no TensorFlow quantization debugger).

Two views of each op, on the integer model run from its input: its *own* error (its
integer output against the float op applied to its dequantized integer inputs: what this
op's quantization alone costs) and the *end-to-end* error (its output against the float
model's tensor of the same name: what every op before it adds up to at this point).

Example:
    >>> table = integer_path_errors(int8_tflite, float_tflite, x_test[:32])   # doctest: +SKIP
    >>> table.sort_values("rmse_over_scale").tail(3)                         # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.errors import KernelError
from workbench.kernels.litert import litert_tensors
from workbench.kernels.quant import dequantize, quantize
from workbench.kernels.runner import IntegerModel, model_bytes, quant_of

INTEGER = ("int8", "int16")
COLUMNS = ["op", "tensor_name", "elements", "scale", "rmse", "rmse_over_scale",
           "max_abs_error", "mean_error", "snr_db", "cosine"]


def integer_path_errors(quantized_tflite, float_tflite, samples):
    """A DataFrame with one row per op whose integer output the float model also computes
    (same tensor name): ``op``, ``tensor_name``, ``elements``, ``scale``; its own error
    ``rmse``, ``rmse_over_scale`` (in output steps: about 0.29 is rounding alone),
    ``max_abs_error``, ``mean_error``; and end to end, ``snr_db`` and ``cosine``.

    ``quantized_tflite``, ``float_tflite``: bytes or paths, converted from one Keras model
    (ops are matched by tensor name). ``samples``: float model inputs (one-input models), a
    few dozen are enough.
    """
    import pandas as pd

    model = IntegerModel(quantized_tflite)
    if len(model.info.inputs) != 1:
        raise KernelError(f"integer_path_errors compares one-input models; this one has "
                          f"{len(model.info.inputs)} inputs.")
    float_tflite = model_bytes(float_tflite)
    twins = _float_twins(model, float_tflite)
    if not twins:
        raise KernelError(
            "No op of the integer model has a float twin: none of its integer outputs is named "
            "like a tensor of the float model. Convert both from the same Keras model (the "
            "converter names tensors after its layers), e.g. the workbench's 'float32' and "
            "'int8' variants of one task.")
    found: dict[int, list] = {index: [] for index in twins}
    for sample in np.asarray(samples, np.float32):
        reference = litert_tensors(float_tflite, [sample[None]], "reference")
        values = _by_index(model, model.run([_as_input(model, sample[None])], True))
        for index, twin in twins.items():
            output = model.info.ops[index].outputs[0]
            found[index].append((values[output], twin.run(values),
                                 reference[model.info.tensors[output].name]))
    rows = [_row(model, index, pairs) for index, pairs in found.items() if pairs]
    return pd.DataFrame(rows, columns=COLUMNS)


class _FloatOp:
    """One op of the float model, alone in LiteRT, fed the integer model's tensors of the same
    names (``inputs``: those tensors, in the op's input order)."""

    def __init__(self, float_tflite: bytes, op_index: int, inputs: list):
        from workbench.kernels.litert import litert_interpreter
        from workbench.kernels.runner import single_op_model

        self.runner = litert_interpreter(single_op_model(float_tflite, op_index), "reference",
                                         keep_all=False)
        self.inputs = inputs

    def run(self, values: dict[int, np.ndarray]) -> np.ndarray:
        """The float op on the integer model's (dequantized) input values."""
        for detail, tensor in zip(self.runner.get_input_details(), self.inputs):
            value = values[tensor.index]
            real = dequantize(value, quant_of(tensor)) if tensor.dtype in INTEGER else value
            self.runner.set_tensor(detail["index"], real.astype(detail["dtype"]))
        self.runner.invoke()
        return self.runner.get_tensor(self.runner.get_output_details()[0]["index"])


def _float_twins(model: IntegerModel, float_tflite: bytes) -> dict[int, _FloatOp]:
    """For each op with an integer output, the float model's op of the same output name
    whose float inputs the integer model also has (by name)."""
    from workbench.kernels.runner import variable_inputs
    from workbench.tflite_inspect import inspect_tflite

    floats = inspect_tflite(float_tflite)
    producer = {floats.tensors[op.outputs[0]].name: op.index for op in floats.ops if op.outputs}
    by_name = {t.name: t for t in model.info.tensors}
    twins = {}
    for index, op in enumerate(model.info.ops):
        output = model.info.tensors[op.outputs[0]]
        twin = producer.get(output.name)
        if output.dtype not in INTEGER or twin is None:
            continue
        inputs = [floats.tensors[i].name for i in variable_inputs(floats, floats.ops[twin])]
        if all(name in by_name for name in inputs):
            twins[index] = _FloatOp(float_tflite, twin, [by_name[name] for name in inputs])
    return twins


def _as_input(model: IntegerModel, sample: np.ndarray) -> np.ndarray:
    tensor = model.info.tensors[model.info.inputs[0]]
    return quantize(sample, quant_of(tensor)) if tensor.dtype in INTEGER else sample


def _by_index(model: IntegerModel, tensors: dict) -> dict[int, np.ndarray]:
    return {t.index: tensors[t.name] for t in model.info.tensors if t.name in tensors}


def _row(model: IntegerModel, index: int, found: list) -> dict:
    op = model.info.ops[index]
    tensor = model.info.tensors[op.outputs[0]]
    params = quant_of(tensor)
    codes, float_op, reference = (np.concatenate([np.ravel(item[k]) for item in found])
                                  for k in range(3))
    real = dequantize(codes, params)
    error, drift = real - float_op, real - reference
    rmse = float(np.sqrt(np.mean(error.astype(np.float64) ** 2)))
    return {"op": op.name, "tensor_name": tensor.name, "elements": int(np.prod(tensor.shape)),
            "scale": float(params.scale[0]), "rmse": rmse,
            "rmse_over_scale": rmse / float(params.scale[0]),
            "max_abs_error": float(np.max(np.abs(error))), "mean_error": float(np.mean(error)),
            "snr_db": _decibels(reference, drift), "cosine": _cosine(real, reference)}


def _decibels(signal: np.ndarray, noise: np.ndarray) -> float:
    """Signal-to-noise ratio in dB, capped at 100 dB for an exact match."""
    power, noise_power = float(np.sum(signal.astype(np.float64) ** 2)), \
        float(np.sum(noise.astype(np.float64) ** 2))
    if noise_power <= power * 1e-10:
        return 100.0
    return 10 * np.log10(max(power, 1e-30) / noise_power)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a.astype(np.float64), b)) / norms if norms else 1.0
