"""TFLite's fixed-point arithmetic, elementwise on numpy arrays, bit for bit.

Integer kernels never multiply by a real scale: each real multiplier (for a conv,
``input_scale * filter_scale / output_scale``) becomes a 32-bit ``multiplier`` with the
binary point at bit 31 and a power-of-two ``shift``, and an int32 accumulator is scaled
with a saturating rounding doubling high multiply and a rounding right shift. All values
are held in int64 arrays so that no intermediate product overflows.

Example:
    >>> multiplier, shift = quantize_multiplier(0.0123)
    >>> int(multiplier), int(shift)
    (1690499128, -6)
    >>> int(multiply_by_quantized_multiplier(1000, multiplier, shift))   # round(1000 * 0.0123)
    12
"""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def round_half_away(values) -> np.ndarray:
    """``std::round``: halves away from zero (numpy's ``round`` goes to the even neighbour)."""
    values = np.asarray(values)
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def quantize_multiplier(real) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)`` with
    ``multiplier`` in [2**30, 2**31) (0 for 0 and for multipliers below 2**-31)."""
    real = np.asarray(real, np.float64)
    fraction, shift = np.frexp(real)
    fixed = round_half_away(fraction * (1 << 31)).astype(np.int64)
    carry = fixed == (1 << 31)
    fixed, shift = np.where(carry, fixed // 2, fixed), np.where(carry, shift + 1, shift)
    flushed = (shift < -31) | (real == 0)
    return np.where(flushed, 0, fixed), np.where(flushed, 0, shift).astype(np.int64)


def wrap_int32(values) -> np.ndarray:
    """Two's-complement wrap-around into int32's range, as a C++ int32 sum or product
    would (values already in range are returned as they are)."""
    values = np.asarray(values, np.int64)
    if values.size == 0 or (values.min() >= INT32_MIN and values.max() <= INT32_MAX):
        return values
    return (values + (1 << 31)) % (1 << 32) - (1 << 31)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul``: ``a * b / 2**31`` for int32 ``a``,
    ``b``, rounded to nearest with ties toward +inf, saturating the one overflowing case
    ``INT32_MIN * INT32_MIN``.

    gemmlowp adds a sign-dependent nudge and truncates toward zero; for integers that is
    exactly ``(a * b + 2**30) >> 31`` (an arithmetic shift floors), in two array passes.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    high = (a * b + (1 << 30)) >> 31
    if np.any(b == INT32_MIN):
        high = np.where((a == b) & (a == INT32_MIN), INT32_MAX, high)
    return high


def divide_toward_zero(values: np.ndarray, bits: int) -> np.ndarray:
    """C++ integer division by ``2**bits`` (truncates toward zero, unlike ``>>``)."""
    return np.where(values >= 0, values >> bits, -((-values) >> bits))


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded to nearest, ties away
    from zero (``exponent`` >= 0).

    gemmlowp compares the remainder with a sign-dependent threshold; for integers that is
    ``(x + 2**(exponent-1) - (x < 0)) >> exponent``.
    """
    x, exponent = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    half = np.where(exponent > 0, np.int64(1) << np.maximum(exponent - 1, 0), 0)
    return (x + (half - (x < 0) * (exponent > 0))) >> exponent


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """Scale int32 ``x`` by ``multiplier * 2**(shift - 31)``: a left shift for positive
    ``shift``, the doubling high multiply, then a rounding right shift (TFLite's default
    double rounding)."""
    x, shift = np.asarray(x, np.int64), np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    scaled = wrap_int32(x << left) if np.any(left) else x
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier),
                                  right)


def multiply_by_quantized_multiplier_wide(x, multiplier, shift) -> np.ndarray:
    """The int64-accumulator version (int16 activations): the multiplier is first reduced to
    16 bits, then one rounding shift."""
    multiplier, shift = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - shift
    return (np.asarray(x, np.int64) * reduced + (np.int64(1) << (total - 1))) >> total


def multiply_by_quantized_multiplier_smaller_than_one(x, multiplier, shift) -> np.ndarray:
    """``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (Add, Sub: ``shift <= 0``)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier),
                                  -np.asarray(shift, np.int64))
