"""Quantization parameters and the elementwise integer ops: quantize, dequantize,
requantize, the fused activation's clamp range, and the padding arithmetic of windowed ops.

A quantized tensor stores integer codes ``q`` that stand for ``scale * (q - zero_point)``.

Example:
    >>> params = Quant.of(0.5, 3, "int8")
    >>> quantize(np.array([1.0, -2.0, 100.0], np.float32), params)
    array([  5,  -1, 127], dtype=int8)
    >>> dequantize(np.array([5, -1], np.int8), params)
    array([ 1., -2.], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import KernelError

from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier, quantize_multiplier,
                                           round_half_away)

ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")
ACTIVATION_DTYPES = ("int8", "int16")


@dataclass(frozen=True, eq=False)
class Quant:
    """A tensor's quantization: ``scale`` and ``zero_point`` (one each, or one per channel
    along ``axis``) and the integer ``dtype`` of its codes."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype
    axis: int = 0

    @classmethod
    def of(cls, scale, zero_point=0, dtype="int8", axis: int = 0) -> "Quant":
        scale = np.atleast_1d(np.asarray(scale, np.float32))
        zero_point = np.broadcast_to(np.atleast_1d(np.asarray(zero_point, np.int64)),
                                     scale.shape)
        return cls(scale, zero_point, np.dtype(dtype), axis)

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def qmin(self) -> int:
        return int(np.iinfo(self.dtype).min)

    @property
    def qmax(self) -> int:
        return int(np.iinfo(self.dtype).max)

    @property
    def zero(self) -> int:
        """The (per-tensor) zero point as a Python int."""
        return int(self.zero_point[0])

    def along(self, ndim: int, values: np.ndarray) -> np.ndarray:
        """Per-channel ``values`` shaped to broadcast against a tensor of ``ndim`` axes."""
        if not self.per_channel:
            return values.reshape(())
        shape = [1] * ndim
        shape[self.axis] = -1
        return values.reshape(shape)

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Saturate int64 ``values`` into the dtype's range and cast."""
        return np.clip(values, self.qmin, self.qmax).astype(self.dtype)


def check_quant(params, where: str) -> None:
    """A ``KernelError`` unless ``params`` is a ``Quant``."""
    if not isinstance(params, Quant):
        raise KernelError(f"{where} needs the tensor's quantization as a Quant, received "
                          f"{type(params).__name__}. Build one with Quant.of(scale, zero_point, "
                          "'int8'), or read a tensor's with quant_of(tensor).")


def quantize(values: np.ndarray, params: Quant) -> np.ndarray:
    """Float to codes as TFLite's QUANTIZE does: ``round(x / scale) + zero_point`` in float32,
    halves away from zero, saturated."""
    check_quant(params, "quantize")
    values = np.asarray(values, np.float32)
    scale = params.along(values.ndim, params.scale)
    zero_point = params.along(values.ndim, params.zero_point)
    codes = round_half_away(values / scale).astype(np.int64) + zero_point
    return params.clip(codes)


def dequantize(codes: np.ndarray, params: Quant) -> np.ndarray:
    """Codes to float as TFLite's DEQUANTIZE does: ``scale * (q - zero_point)`` in double,
    then float32."""
    check_quant(params, "dequantize")
    codes = np.asarray(codes, np.int64)
    scale = params.along(codes.ndim, params.scale.astype(np.float64))
    zero_point = params.along(codes.ndim, params.zero_point)
    return (scale * (codes - zero_point)).astype(np.float32)


def requantize(codes: np.ndarray, source: Quant, target: Quant) -> np.ndarray:
    """Integer codes to another scale, zero point or dtype (QUANTIZE from int8 or int16):
    ``(q - zp_in) * (scale_in / scale_out) + zp_out`` in fixed point."""
    check_quant(source, "requantize")
    check_quant(target, "requantize")
    multiplier, shift = quantize_multiplier(np.float64(source.scale[0]) /
                                            np.float64(target.scale[0]))
    scaled = multiply_by_quantized_multiplier(np.asarray(codes, np.int64) - source.zero,
                                              multiplier, shift)
    return target.clip(scaled + target.zero)


def activation_range(activation: str, output: Quant) -> tuple[int, int]:
    """The codes a fused activation clamps to (TFLite's ``CalculateActivationRangeQuantized``):
    its real bounds quantized with the output's scale, within the dtype's range."""
    if activation not in ACTIVATIONS:
        raise KernelError(f"Unknown fused activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}.")
    low, high = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0),
                 "RELU_N1_TO_1": (-1.0, 1.0)}[activation]

    def code(real):
        step = np.float32(real) / output.scale[0]  # float32, as TFLite computes it
        return output.zero + int(round_half_away(step))

    return (output.qmin if low is None else max(output.qmin, code(low)),
            output.qmax if high is None else min(output.qmax, code(high)))


def check_codes(values, what: str, dtypes, ndim: int | None = None) -> None:
    """A ``KernelError`` unless ``values`` is an array of one of ``dtypes`` (and rank)."""
    dtype = getattr(values, "dtype", type(values).__name__)
    if not isinstance(values, np.ndarray) or str(dtype) not in dtypes:
        raise KernelError(f"{what[0].upper()}{what[1:]} must be an array of {' or '.join(dtypes)} "
                          f"codes, received {dtype}. Quantize float values first "
                          "(workbench.kernels.quantize).")
    if ndim is not None and values.ndim != ndim:
        raise KernelError(f"{what[0].upper()}{what[1:]} must have {ndim} axes, received shape "
                          f"{values.shape}.")


def clamp_output(scaled: np.ndarray, out_q: Quant, activation: str = "NONE") -> np.ndarray:
    """Add the output zero point to scaled int64 values, clamp to the fused activation's
    range, cast to the output dtype: the last step of every arithmetic kernel."""
    low, high = activation_range(activation, out_q)
    return np.clip(np.asarray(scaled, np.int64) + out_q.zero, low, high).astype(out_q.dtype)


def output_size(size: int, window: int, stride: int, dilation: int, padding: str) -> int:
    """Output length along one axis for ``SAME`` or ``VALID`` padding (TFLite's
    ``ComputeOutSize``)."""
    effective = (window - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return (size + stride - effective) // stride
    raise KernelError(f"Unknown padding {padding!r}; expected 'SAME' or 'VALID'.")


def padding_before(size: int, window: int, stride: int, dilation: int, padding: str) -> int:
    """Rows (or columns) of padding before the first element (TFLite's
    ``ComputePaddingWithOffset``; SAME puts the odd one after)."""
    out = output_size(size, window, stride, dilation, padding)
    effective = (window - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2
