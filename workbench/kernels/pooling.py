"""Pooling and MEAN on int8 or int16 codes, as LiteRT's reference kernels compute them.

``average_pool`` and ``max_pool`` reproduce ``reference_integer_ops::AveragePool`` and
``MaxPool`` (AVERAGE_POOL_2D, MAX_POOL_2D): they work on the codes directly, since the
converter gives their output the input's scale and zero point. The average counts only the
window's positions inside the input and rounds halves away from zero. ``mean`` reproduces
``reference_ops::QuantizedMeanOrSum`` (MEAN, what GlobalAveragePooling2D becomes): an int32
sum, less the zero points, scaled by ``input_scale / output_scale / count`` in fixed point.

Example:
    >>> codes = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1)
    >>> params = Quant.of(0.1, 0, "int8")
    >>> average_pool(codes, params, params, filter=(2, 2), stride=(2, 2))[..., 0]
    array([[[ 3,  5],
            [11, 13]]], dtype=int8)
    >>> mean(codes, params, Quant.of(0.05, -10, "int8"), axes=(1, 2))
    array([[5]], dtype=int8)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from workbench.errors import KernelError
from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier, quantize_multiplier,
                                           wrap_int32)
from workbench.kernels.quant import (ACTIVATION_DTYPES, Quant, activation_range, check_codes,
                                     clamp_output, output_size, padding_before)

__all__ = ["average_pool", "max_pool", "mean"]

# Prepare's DCHECK for pools: the output must have the input's scale (within this) and
# zero point, as the kernels average or compare codes without rescaling them.
SAME_SCALE_TOLERANCE = 1e-6


def average_pool(x: np.ndarray, x_q: Quant, out_q: Quant, filter=(2, 2), stride=(2, 2),
                 padding: str = "SAME", activation: str = "NONE") -> np.ndarray:
    """AVERAGE_POOL_2D on NHWC codes: each window's sum over the positions inside the input,
    divided by their count (ties away from zero), clamped to the fused activation."""
    x = checked_codes(x, "average_pool", 4, x_q)
    check_same_quantization(x_q, out_q, "average_pool")
    windows = _windows(x.shape, filter, stride, padding, "average_pool")
    sums = _pooled(x.astype(np.int64), windows, 0, np.sum)
    # SAME and VALID windows always overlap the input, so no count is 0.
    counts = _pooled(np.ones((1, *x.shape[1:3], 1), np.int64), windows, 0, np.sum)
    return _clamped(rounded_divide(sums, counts), activation, out_q)


def max_pool(x: np.ndarray, x_q: Quant, out_q: Quant, filter=(2, 2), stride=(2, 2),
             padding: str = "SAME", activation: str = "NONE") -> np.ndarray:
    """MAX_POOL_2D on NHWC codes: each window's largest code among the positions inside the
    input, clamped to the fused activation."""
    x = checked_codes(x, "max_pool", 4, x_q)
    check_same_quantization(x_q, out_q, "max_pool")
    windows = _windows(x.shape, filter, stride, padding, "max_pool")
    lowest = np.iinfo(x.dtype).min  # padding never wins: the kernel starts from it too
    return _clamped(_pooled(x, windows, lowest, np.max), activation, out_q)


def mean(x: np.ndarray, x_q: Quant, out_q: Quant, axes=(1, 2),
         keep_dims: bool = False) -> np.ndarray:
    """MEAN over ``axes`` (an int or a sequence; negatives count from the end, repeats are
    ignored), keeping them as length-1 axes with ``keep_dims``."""
    x = checked_codes(x, "mean", params=x_q)
    _check_mean_quantization(x_q, out_q)
    axes = _resolved_axes(axes, x.ndim)
    count = int(np.prod([x.shape[axis] for axis in axes], dtype=np.int64))
    sums = np.sum(x.astype(np.int64), axis=axes, keepdims=keep_dims)
    if x.size == 0:  # LiteRT fills the output with int(NaN), i.e. zeros
        return np.zeros(sums.shape, out_q.dtype)
    centred = wrap_int32(wrap_int32(sums) - x_q.zero * count)  # int32 accumulator
    multiplier, shift = _mean_multiplier(x_q, out_q, count)
    return clamp_output(multiply_by_quantized_multiplier(centred, multiplier, shift), out_q)


def rounded_divide(numerator, denominator) -> np.ndarray:
    """C++'s ``(n > 0 ? n + d / 2 : n - d / 2) / d`` for positive ``d``: the integer
    quotient rounded to nearest, ties away from zero (C++ division truncates)."""
    numerator = np.asarray(numerator, np.int64)
    denominator = np.asarray(denominator, np.int64)
    return np.sign(numerator) * ((np.abs(numerator) + denominator // 2) // denominator)


def checked_codes(x, op: str, ndim: int | None = None, params: Quant | None = None
                  ) -> np.ndarray:
    """``x`` if it is an int8 or int16 array (with ``ndim`` axes, per-tensor ``params`` of
    its dtype, where given), else a ``KernelError`` saying what is wrong."""
    check_codes(x, f"the {op} input", ACTIVATION_DTYPES, ndim)
    if params is not None and x.dtype != params.dtype:
        raise KernelError(f"The {op} input holds {x.dtype.name} codes but its quantization "
                          f"says {params.dtype.name}; pass the Quant of the same tensor.")
    if params is not None and params.per_channel:
        raise KernelError(f"The {op} input must be quantized per tensor, received "
                          f"{params.scale.size} scales; activations have one scale.")
    return x


def check_same_quantization(x_q: Quant, out_q: Quant, op: str) -> None:
    """The output must have the input's dtype, scale and zero point: LiteRT's kernel for
    ``op`` passes codes through without rescaling them."""
    same = (x_q.dtype == out_q.dtype and out_q.scale.size == 1 and out_q.zero == x_q.zero
            and abs(float(out_q.scale[0]) - float(x_q.scale[0])) <= SAME_SCALE_TOLERANCE)
    if not same:
        raise KernelError(
            f"The {op} output keeps the input's quantization (LiteRT's kernel does not "
            f"rescale codes), received input {_described(x_q)} and output "
            f"{_described(out_q)}. Pass the input's Quant; requantize afterwards if needed.")


def _described(params: Quant) -> str:
    return f"{params.dtype.name} scale {float(params.scale[0]):g} zero point {params.zero}"


def positive_pair(value, what: str) -> tuple[int, int]:
    """A (height, width) pair of positive ints from a pair or a single int, or a
    ``KernelError`` naming ``what`` it is."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise KernelError(f"The {what} must be two positive ints (height, width), received "
                          f"{value!r}.")
    return int(pair[0]), int(pair[1])


class _Windows(NamedTuple):
    """Where the pooling windows lie along height and width."""

    size: tuple[int, int]     # filter (height, width)
    stride: tuple[int, int]
    outputs: tuple[int, int]  # output height, width
    before: tuple[int, int]   # padding rows/columns before the input
    after: tuple[int, int]    # padding the last window needs after it


def _windows(shape, filter, stride, padding: str, op: str) -> _Windows:
    """The windows of a pool over NHWC ``shape`` (TFLite's ``ComputePaddingHeightWidth``:
    SAME pads the odd position after), or a ``KernelError`` for bad parameters."""
    size, stride = positive_pair(filter, f"{op} filter"), positive_pair(stride, f"{op} stride")
    outputs = tuple(output_size(n, k, s, 1, padding) for n, k, s in zip(shape[1:3], size,
                                                                         stride))
    if min(outputs) < 1:
        raise KernelError(f"The {op} filter {size[0]}x{size[1]} does not fit the "
                          f"{shape[1]}x{shape[2]} input with {padding} padding. Use a smaller "
                          "filter or SAME padding.")
    before = tuple(padding_before(n, k, s, 1, padding) for n, k, s in zip(shape[1:3], size,
                                                                           stride))
    after = tuple(max((o - 1) * s + k - b - n, 0)
                  for o, s, k, b, n in zip(outputs, stride, size, before, shape[1:3]))
    return _Windows(size, stride, outputs, before, after)


def _pooled(x: np.ndarray, windows: _Windows, fill, reduce) -> np.ndarray:
    """``reduce`` over every pooling window of NHWC ``x``, the positions outside the input
    holding ``fill`` (LiteRT clips its windows to the input, so ``fill`` must be neutral for
    ``reduce``)."""
    padding = [(0, 0), *zip(windows.before, windows.after), (0, 0)]
    padded = np.pad(x, padding, constant_values=fill)
    views = sliding_window_view(padded, windows.size, axis=(1, 2))
    (rows, cols), (stride_h, stride_w) = windows.outputs, windows.stride
    views = views[:, :rows * stride_h:stride_h, :cols * stride_w:stride_w]
    return reduce(views, axis=(-2, -1))


def _clamped(values: np.ndarray, activation: str, out_q: Quant) -> np.ndarray:
    """Codes clamped to the fused activation's range, in the output's dtype."""
    low, high = activation_range(activation, out_q)
    return np.clip(values, low, high).astype(out_q.dtype)


def _check_mean_quantization(x_q: Quant, out_q: Quant) -> None:
    """MEAN keeps the dtype; int16 needs zero points 0 (LiteRT's Prepare refuses others)."""
    if out_q.dtype != x_q.dtype or out_q.per_channel:
        raise KernelError(f"The mean output must be per-tensor {x_q.dtype.name} like the "
                          f"input, received {out_q.dtype.name} with {out_q.scale.size} scales.")
    if x_q.dtype == np.int16 and (x_q.zero or out_q.zero):
        raise KernelError(f"The int16 mean needs zero points 0, received {x_q.zero} (input) "
                          f"and {out_q.zero} (output). Use symmetric int16 quantization.")


def _resolved_axes(axes, rank: int) -> tuple[int, ...]:
    """Axes as non-negative ints without repeats (LiteRT's ``ResolveAxis``)."""
    if rank == 0:  # a scalar: LiteRT ignores the axes
        return ()
    found = []
    for axis in np.atleast_1d(np.asarray(axes)).tolist():
        if not isinstance(axis, int) or not -rank <= axis < rank:
            raise KernelError(f"The mean axis {axis!r} is not an axis of the rank-{rank} "
                              f"input. Use ints in [-{rank}, {rank}).")
        if axis % rank not in found:
            found.append(axis % rank)
    return tuple(found)


def _mean_multiplier(x_q: Quant, out_q: Quant, count: int) -> tuple[int, int]:
    """The fixed-point multiplier and shift of ``input_scale / output_scale / count``, as
    ``QuantizedMeanOrSum`` derives it: QuantizeMultiplier of the scale ratio (Prepare), then
    the multiplier times ``2**bits / count`` (truncated) and the shift less ``bits``, with
    ``bits = floor(log2(count))`` capped at 32 and at ``31 + shift``."""
    multiplier, shift = quantize_multiplier(np.float64(x_q.scale[0]) /
                                            np.float64(out_q.scale[0]))
    multiplier, shift = int(multiplier), int(shift)
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << bits) // count, shift - bits
