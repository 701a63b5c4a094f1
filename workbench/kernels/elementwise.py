"""ADD, SUB and MUL of two integer tensors (numpy broadcasting), as TFLite's reference
kernels compute them.

Add and sub bring both inputs to a common scale first: each centred input is shifted left
(20 bits for int8, 15 for int16) and scaled by ``its_scale / (2 * larger_scale)`` in fixed
point, the two are added, and the sum is scaled to the output. Mul multiplies the centred
codes and scales the product by ``scale_1 * scale_2 / output_scale``.

Example:
    >>> a, b = np.array([10, 100], np.int8), np.array([20, 100], np.int8)
    >>> add(a, Quant.of(0.1), b, Quant.of(0.1), Quant.of(0.2))   # 1 + 2, 10 + 10 (saturates)
    array([ 15, 100], dtype=int8)
"""

from __future__ import annotations

import numpy as np

from workbench.errors import KernelError
from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier,
                                           multiply_by_quantized_multiplier_smaller_than_one,
                                           quantize_multiplier, wrap_int32)
from workbench.kernels.quant import ACTIVATION_DTYPES, Quant, check_codes, clamp_output

LEFT_SHIFT = {np.dtype("int8"): 20, np.dtype("int16"): 15}


def add(a, a_q: Quant, b, b_q: Quant, out_q: Quant, activation: str = "NONE") -> np.ndarray:
    """ADD of int8 or int16 codes (int16: the general-scale path, zero points 0)."""
    return _add_or_sub(a, a_q, b, b_q, out_q, activation, sign=1)


def sub(a, a_q: Quant, b, b_q: Quant, out_q: Quant, activation: str = "NONE") -> np.ndarray:
    """SUB of int8 or int16 codes: ``a - b``."""
    return _add_or_sub(a, a_q, b, b_q, out_q, activation, sign=-1)


def mul(a, a_q: Quant, b, b_q: Quant, out_q: Quant, activation: str = "NONE") -> np.ndarray:
    """MUL of int8 codes (int16 codes too): the centred product, scaled once."""
    a, b = _operands(a, b, "MUL")
    # TFLite computes scale_1 * scale_2 / output_scale in float32 here.
    real = np.float64(a_q.scale[0] * b_q.scale[0] / out_q.scale[0])
    multiplier, shift = quantize_multiplier(real)
    product = wrap_int32((a - a_q.zero) * (b - b_q.zero))
    return clamp_output(multiply_by_quantized_multiplier(product, multiplier, shift), out_q,
                    activation)


def _add_or_sub(a, a_q: Quant, b, b_q: Quant, out_q: Quant, activation: str,
                sign: int) -> np.ndarray:
    a, b = _operands(a, b, "ADD" if sign > 0 else "SUB")
    left_shift = LEFT_SHIFT[out_q.dtype]
    twice_max = 2 * np.float64(max(a_q.scale[0], b_q.scale[0]))
    scaled_a = _rescaled(a - a_q.zero, left_shift, a_q.scale[0] / twice_max)
    scaled_b = _rescaled(b - b_q.zero, left_shift, b_q.scale[0] / twice_max)
    output_real = twice_max / np.float64(np.float32((1 << left_shift) * out_q.scale[0]))
    multiplier, shift = quantize_multiplier(output_real)
    total = wrap_int32(scaled_a + sign * scaled_b)
    if output_real > 1:  # SUB of inputs far coarser than the output (TFLite allows it)
        scaled = multiply_by_quantized_multiplier(total, multiplier, shift)
    else:
        scaled = multiply_by_quantized_multiplier_smaller_than_one(total, multiplier, shift)
    return clamp_output(scaled, out_q, activation)


def _rescaled(centred: np.ndarray, left_shift: int, real: float) -> np.ndarray:
    multiplier, shift = quantize_multiplier(real)
    return multiply_by_quantized_multiplier_smaller_than_one(
        wrap_int32(centred << left_shift), multiplier, shift)


def _operands(a, b, op: str) -> tuple[np.ndarray, np.ndarray]:
    check_codes(a, f"{op}'s first input", ACTIVATION_DTYPES)
    check_codes(b, f"{op}'s second input", ACTIVATION_DTYPES)
    if a.dtype != b.dtype:
        raise KernelError(f"{op} needs two inputs of one dtype, received {a.dtype} and "
                          f"{b.dtype}.")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise KernelError(f"{op} cannot broadcast shapes {a.shape} and {b.shape}: each axis "
                          "must match or be 1.") from None
    return a.astype(np.int64), b.astype(np.int64)
