"""gemmlowp's fixed-point math functions (``fixedpoint/fixedpoint.h``), elementwise on numpy
arrays, bit for bit: the ``exp`` and ``1 / (1 + x)`` that LiteRT's integer softmax is built on.

A gemmlowp ``FixedPoint<int32_t, integer_bits>`` is an int32 ``raw`` value standing for
``raw / 2**(31 - integer_bits)``; here raws are held in int64 arrays and the number of integer
bits is passed along. The product of two fixed-point values is the
``saturating_rounding_doubling_high_mul`` of their raws (the integer bits add up).

Example:
    >>> minus_one = np.array([-(1 << 26)])                  # -1.0 with 5 integer bits
    >>> round(int(exp_on_negative_values(minus_one, integer_bits=5)[0]) / 2**31, 5)
    0.36788
    >>> sum_raw = np.array([3 << 19])                       # 3.0 with 12 integer bits
    >>> raw, bits_over_unit = reciprocal(sum_raw, integer_bits=12)
    >>> round(int(raw[0]) / 2**31 / 2 ** int(bits_over_unit[0]), 6)   # 1 / 3
    0.333333
"""

from __future__ import annotations

import numpy as np

from workbench.kernels.fixed_point import (INT32_MAX, INT32_MIN, divide_toward_zero,
                                           rounding_divide_by_pot,
                                           saturating_rounding_doubling_high_mul as multiply)

ONE = INT32_MAX  # 1.0 with no integer bits (the largest raw: 1 itself is out of range)

# exp(-2**k) with no integer bits, the barrel shifter's factor for bit k of the input.
_EXP_OF_MINUS_POWER_OF_TWO = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308,
                              2: 39332535, 3: 720401, 4: 242}


def rounding_half_sum(a, b) -> np.ndarray:
    """``(a + b) / 2`` rounded to nearest, ties away from zero (``RoundingHalfSum``)."""
    total = np.asarray(a, np.int64) + np.asarray(b, np.int64)
    sign = np.where(total >= 0, 1, -1)
    return divide_toward_zero(total + sign, 1)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """``x * 2**exponent``: a left shift saturating to int32's range, or a rounding right
    shift for a negative ``exponent``."""
    x = np.asarray(x, np.int64)
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x, integer_bits: int, new_integer_bits: int) -> np.ndarray:
    """The same real value with ``new_integer_bits`` integer bits (``Rescale``)."""
    return saturating_rounding_multiply_by_pot(x, integer_bits - new_integer_bits)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """``exp(a)`` for ``a`` in [-1/4, 0), no integer bits in or out: a Taylor expansion
    around -1/8 to the fourth order."""
    exp_of_minus_one_eighth, one_third = 1895147668, 715827883
    x = np.asarray(a, np.int64) + (1 << 28)  # a + 1/8
    x2 = multiply(x, x)
    x3 = multiply(x2, x)
    x4_over_4 = rounding_divide_by_pot(multiply(x2, x2), 2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(
        multiply(x4_over_4 + x3, one_third) + x2, 1)
    return exp_of_minus_one_eighth + multiply(exp_of_minus_one_eighth,
                                              x + x4_over_24_plus_x3_over_6_plus_x2_over_2)


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """``exp(a)`` for ``a <= 0`` given with ``integer_bits`` integer bits; the result has
    none. ``a`` is split into a remainder in [-1/4, 0) and multiples of powers of two, whose
    exponentials are constants multiplied in bit by bit."""
    a = np.asarray(a, np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, factor in _EXP_OF_MINUS_POWER_OF_TWO.items():
        if integer_bits > exponent:
            bit_set = (remainder & (1 << (fractional_bits + exponent))) != 0
            result = np.where(bit_set, multiply(result, factor), result)
    if integer_bits > 5:  # exp(x) rounds to 0 below -32
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, ONE, result)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """``1 / (1 + a)`` for ``a`` in [0, 1), no integer bits in or out: three Newton-Raphson
    steps on the half denominator, with two integer bits in between."""
    half_denominator = rounding_half_sum(a, ONE)
    constant_48_over_17, constant_neg_32_over_17 = 1515870810, -1010580540
    one = 1 << 29  # 1.0 with two integer bits
    x = constant_48_over_17 + multiply(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        one_minus_half_denominator_times_x = one - multiply(half_denominator, x)
        x = x + rescale(multiply(x, one_minus_half_denominator_times_x), 4, 2)
    return rescale(x, 1, 0)  # x / 2, read with one integer bit, then none


def count_leading_zeros(x) -> np.ndarray:
    """Leading zero bits of ``x`` read as a uint32 (32 for 0)."""
    unsigned = np.asarray(x, np.int64) & 0xFFFFFFFF
    _, bit_length = np.frexp(unsigned.astype(np.float64))  # exact below 2**53
    return 32 - bit_length.astype(np.int64)


def reciprocal(x, integer_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's ``GetReciprocal``: for ``x > 0`` with ``integer_bits`` integer bits, a raw
    value with no integer bits and ``bits_over_unit`` such that
    ``1 / x ~= raw / 2**31 / 2**bits_over_unit``."""
    x = np.asarray(x, np.int64)
    headroom_plus_one = count_leading_zeros(x)
    bits_over_unit = integer_bits - headroom_plus_one
    # x shifted so that its leading one lands on bit 31, minus that one: x / 2**k - 1 in [0, 1).
    shifted_minus_one = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), bits_over_unit

