"""Softmax, logistic, tanh and hard swish on integer codes, bit for bit with LiteRT's
reference kernels (``tflite/kernels/activations.cc``, ``BUILTIN_REF``).

How each is computed, by dtype:

- ``softmax``, int8: gemmlowp fixed point (``reference_ops::Softmax``): the differences to
  the row's maximum scaled by ``beta * scale`` into Q5.26, ``exp`` by
  ``exp_on_negative_values``, the sum's reciprocal by Newton-Raphson. int16:
  ``reference_ops::SoftmaxInt16``, two 513-entry interpolated tables (``exp`` on [-10, 0] and
  ``1 / (1 + x)`` on [0, 1]).
- ``logistic`` and ``tanh``, int8: a 256-entry table of the float function at every input
  code, rounded once to the output's codes (``LUTPopulate``). int16:
  ``reference_integer_ops::Logistic`` / ``Tanh``, linear interpolation in a table of
  ``sigmoid(i / 24)``.
- ``hard_swish``, int8: 16-bit fixed point (``reference_ops::HardSwish``).

Example:
    >>> x_q, out_q = Quant.of(0.1, 0, "int8"), Quant.of(1 / 256, -128, "int8")
    >>> softmax(np.array([[10, 0, -10]], np.int8), x_q, out_q)     # real inputs 1, 0, -1
    array([[  42,  -65, -105]], dtype=int8)
    >>> logistic(np.array([-128, 0, 127], np.int8), x_q, out_q)
    array([-128,    0,  127], dtype=int8)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from workbench.errors import KernelError
from workbench.kernels import gemmlowp
from workbench.kernels.fixed_point import (INT32_MAX, divide_toward_zero,
                                           multiply_by_quantized_multiplier, quantize_multiplier,
                                           round_half_away, rounding_divide_by_pot,
                                           saturating_rounding_doubling_high_mul, wrap_int32)
from workbench.kernels.quant import Quant

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def softmax(x: np.ndarray, x_q: Quant, out_q: Quant, beta: float = 1.0) -> np.ndarray:
    """SOFTMAX over the last axis: int8 codes to int8 probabilities (scale 1/256, zero point
    -128), or int16 to int16 (scale 1/32768, zero point 0)."""
    codes = _checked_codes("softmax", x, x_q, out_q, ("int8", "int16"))
    _require(codes.ndim >= 1 and codes.shape[-1] > 0,
             f"softmax received codes of shape {codes.shape}; expected at least one axis, the "
             f"last one not empty. Fix: pass rows of codes, e.g. x.reshape(1, -1).")
    if x_q.dtype == np.int8:
        _require(out_q.zero == -128 and _near(out_q.scale[0], 1 / 256),
                 f"softmax's int8 output must have scale 1/256 and zero point -128; got "
                 f"{_describe(out_q)}. Fix: quantize the output as the converter does.")
        return _softmax_int8(codes, float(x_q.scale[0]), beta).astype(np.int8)
    _require(x_q.zero == 0 and out_q.zero == 0 and _near(out_q.scale[0], 1 / 32768),
             f"softmax's int16 tensors must have zero point 0 and the output scale 1/32768; "
             f"got input {_describe(x_q)}, output {_describe(out_q)}. Fix: use symmetric int16 "
             f"quantization as the 16x8 converter does.")
    return _softmax_int16(codes, float(x_q.scale[0]), beta).astype(np.int16)


def logistic(x: np.ndarray, x_q: Quant, out_q: Quant) -> np.ndarray:
    """LOGISTIC (sigmoid): int8 (output scale 1/256) or int16 (output scale 1/32768, zero
    points 0)."""
    codes = _checked_codes("logistic", x, x_q, out_q, ("int8", "int16"))
    if x_q.dtype == np.int8:
        _require(out_q.scale[0] == np.float32(1 / 256),
                 f"logistic's int8 output must have scale 1/256; got {_describe(out_q)}. "
                 f"Fix: quantize the output as the converter does (1/256, zero point -128).")
        return _float_table_lookup(codes, x_q, out_q, _float32_sigmoid)
    _require(x_q.zero == 0 and out_q.zero == 0 and out_q.scale[0] == np.float32(1 / 32768),
             f"logistic's int16 tensors must have zero point 0 and the output scale 1/32768; "
             f"got input {_describe(x_q)}, output {_describe(out_q)}. Fix: use symmetric int16 "
             f"quantization as the 16x8 converter does.")
    value = _sigmoid_table_input(codes, x_q, power_of_two_shifts=(0,))
    sigmoid = _sigmoid_table_interpolated(value, fraction_bits=9, saturated=0x7FFF << 10)
    scaled = np.where(value >= 0, sigmoid + (1 << 9), (1 << 25) - sigmoid + (1 << 9) - 1)
    return (scaled >> 10).astype(np.int16)


def tanh(x: np.ndarray, x_q: Quant, out_q: Quant) -> np.ndarray:
    """TANH: int8, or int16 (zero points 0, output scale 2**-15)."""
    codes = _checked_codes("tanh", x, x_q, out_q, ("int8", "int16"))
    if x_q.dtype == np.int8:
        return _float_table_lookup(codes, x_q, out_q, _float32_of(np.tanh))
    is_power_of_two, log2 = _checked_log2(out_q.scale[0])
    _require(x_q.zero == 0 and out_q.zero == 0 and is_power_of_two and log2 == -15,
             f"tanh's int16 tensors must have zero point 0 and the output scale 1/32768; "
             f"got input {_describe(x_q)}, output {_describe(out_q)}. Fix: use symmetric int16 "
             f"quantization as the 16x8 converter does.")
    value = _sigmoid_table_input(codes, x_q, power_of_two_shifts=(0, 1))
    # tanh(x) = 2 * sigmoid(2x) - 1: the table read at twice the resolution, minus one half.
    sigmoid = _sigmoid_table_interpolated(value, fraction_bits=8, saturated=0xFFFF << 8)
    scaled = np.where(value >= 0, sigmoid - (1 << 23) + (1 << 7),
                      (1 << 23) - sigmoid + (1 << 7) - 1)
    return (scaled >> 8).astype(np.int16)


def hard_swish(x: np.ndarray, x_q: Quant, out_q: Quant) -> np.ndarray:
    """HARD_SWISH, ``x * relu6(x + 3) / 6``, int8."""
    codes = _checked_codes("hard_swish", x, x_q, out_q, ("int8",))
    params = _HardSwishParams.of(x_q, out_q)
    # The input on a 128 times finer scale: 16 significant bits.
    on_hires_input_scale = (codes - x_q.zero) * (1 << 7)
    on_preshift_output_scale = _doubling_high_mul_int16(
        on_hires_input_scale, params.output_multiplier, rounding=True)
    reluish = _reluish_fraction(on_hires_input_scale, params)
    # Truncating here cancels the bias of the rounding multiplications above (hard_swish.h).
    preshift_output = _doubling_high_mul_int16(reluish, on_preshift_output_scale,
                                               rounding=False)
    output = _rounding_divide_by_pot_int16(preshift_output, -params.output_exponent)
    return out_q.clip(_wrap(output + out_q.zero, 16))


# --- Input checks ---------------------------------------------------------------------------


def _checked_codes(op: str, x, x_q: Quant, out_q: Quant, dtypes: tuple[str, ...]) -> np.ndarray:
    """``x`` as int64 codes, after checking its dtype and the quantization parameters."""
    x = np.asarray(x)
    _require(x_q.dtype.name in dtypes,
             f"{op} received input quantization of dtype {x_q.dtype}; expected one of "
             f"{', '.join(dtypes)}. Fix: quantize the model with an integer recipe of those "
             f"dtypes.")
    _require(x.dtype == x_q.dtype,
             f"{op} received {x.dtype} values; expected {x_q.dtype} codes, the dtype of its "
             f"input quantization. Fix: quantize the values first (workbench.kernels.quant."
             f"quantize(values, x_q)).")
    _require(out_q.dtype == x_q.dtype,
             f"{op} received an output quantization of dtype {out_q.dtype} for {x_q.dtype} "
             f"input; expected the same dtype. Fix: quantize input and output alike.")
    for name, params in (("input", x_q), ("output", out_q)):
        _require(not params.per_channel and np.isfinite(params.scale[0]) and params.scale[0] > 0,
                 f"{op} received {name} quantization with scales {params.scale.tolist()}; "
                 f"expected one positive finite scale. Fix: quantize activations per tensor.")
    return x.astype(np.int64)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise KernelError(message)


def _near(value, target: float) -> bool:
    """LiteRT's ``TF_LITE_ENSURE_NEAR`` on an output scale: within 0.1%."""
    return abs(float(value) - target) <= 0.001 * target


def _describe(params: Quant) -> str:
    return f"scale {float(params.scale[0]):.9g}, zero point {params.zero}"


# --- Softmax --------------------------------------------------------------------------------

SCALED_DIFF_INTEGER_BITS = 5  # exp's input in Q5.26
ACCUMULATION_INTEGER_BITS = 12  # the sum of exps in Q12.19


def _softmax_int8(codes: np.ndarray, scale: float, beta: float) -> np.ndarray:
    multiplier, left_shift, diff_min = _softmax_int8_scaling(scale, beta)
    diff = codes - codes.max(axis=-1, keepdims=True)
    counted = diff >= diff_min  # exps of lower differences are 0 at 8 bits
    scaled_diff = saturating_rounding_doubling_high_mul(np.where(counted, diff, 0) << left_shift,
                                                        multiplier)
    exps = gemmlowp.exp_on_negative_values(scaled_diff, SCALED_DIFF_INTEGER_BITS)
    sum_of_exps = wrap_int32(np.sum(np.where(
        counted, gemmlowp.rescale(exps, 0, ACCUMULATION_INTEGER_BITS), 0), -1, keepdims=True))
    inverse, bits_over_unit = gemmlowp.reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    _require(bool(np.all(exponent <= 31)),
             "softmax: a row's exponentials add up to 512 or more, where LiteRT's reference "
             "kernel stops (TFLITE_CHECK); expected fewer equal maxima per row. Fix: softmax "
             "over shorter rows.")
    probabilities = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(inverse, exps),
                                           exponent)
    return np.where(counted, np.clip(probabilities - 128, -128, 127), -128)


def _softmax_int8_scaling(scale: float, beta: float) -> tuple[int, int, int]:
    """``PreprocessSoftmaxScaling`` and ``CalculateInputRadius``: the multiplier and left shift
    taking an input difference to Q5.26, and the lowest difference that still counts."""
    real = min(float(np.float32(beta)) * scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               (1 << 31) - 1.0)
    _require(real > 1, f"softmax: beta * input scale = {real / (1 << 26):.3g}; LiteRT's "
             f"reference kernel needs more than 2**-26. Fix: quantize the input with a larger "
             f"scale.")
    multiplier, left_shift = (int(value) for value in quantize_multiplier(real))
    radius = np.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) *
                      (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift))
    return multiplier, left_shift, -int(radius)


def _softmax_int16(codes: np.ndarray, scale: float, beta: float) -> np.ndarray:
    exp_table, one_over_one_plus_x_table = _softmax_int16_tables()
    # The differences to the maximum scaled so that [-65535, 0] stands for [-10, 0].
    rescale = np.float64(np.float32(scale) * np.float32(beta)) / (10.0 / 65535.0)
    multiplier, shift = quantize_multiplier(rescale)
    diff = codes - codes.max(axis=-1, keepdims=True)
    scaled_diff = multiply_by_quantized_multiplier(diff, multiplier, shift)
    exps = _lookup_int16(scaled_diff + INT16_MAX, exp_table)  # Q0.15
    sum_of_exps = wrap_int32(exps.sum(axis=-1, keepdims=True))  # Q16.15
    headroom_plus_one = gemmlowp.count_leading_zeros(sum_of_exps)
    # The sum's top 16 bits as 1 + x, x in [0, 1) on [0, 65535], centred on the table's input.
    shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    inverse = _lookup_int16(shifted_sum - (1 << 15) - (1 << 16), one_over_one_plus_x_table)
    right_shift = 31 - headroom_plus_one
    probabilities = (exps * inverse + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(probabilities, 0, INT16_MAX)


@functools.cache
def _softmax_int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """The int16 softmax's tables (``SoftmaxPrepare``), symmetric output range [-1, 1]: exp on
    [-10, 0] and 1 / (1 + x) on [0, 1]."""
    steps = INT16_MAX - INT16_MIN
    return (_int16_table(10.0 / steps, INT16_MAX, 2.0 / steps, np.exp),
            _int16_table(1.0 / steps, INT16_MIN, 2.0 / steps, lambda x: 1.0 / (1.0 + x)))


def _int16_table(input_scale: float, input_zero_point: int, output_scale: float,
                 function) -> np.ndarray:
    """``LUTPopulateInt16<double>`` with output zero point 0: ``function`` at 513 evenly spaced
    inputs over int16's range, each biased by half the interpolation error at its midpoint."""
    input_min = input_scale * (INT16_MIN - input_zero_point)
    input_max = input_scale * (INT16_MAX - input_zero_point)
    output_scaling = (1 << 16) / (output_scale * INT16_MAX - output_scale * INT16_MIN)
    step = (input_max - input_min) / 512
    steps = np.arange(512, dtype=np.float64)
    start = input_min + steps * step
    sample = round_half_away(function(start) * output_scaling)
    midpoint = round_half_away(function(start + step / 2) * output_scaling)
    interpolated = round_half_away(
        (function(input_min + (steps + 1) * step) * output_scaling + sample) / 2)
    bias = round_half_away((interpolated - midpoint) / 2)
    last = round_half_away(function(np.float64(input_max)) * output_scaling)
    table = np.append(sample - bias, last)
    return np.clip(table, INT16_MIN, INT16_MAX).astype(np.int64)


def _lookup_int16(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``LUTLookup`` on int16 (``values`` saturated first): the top 9 bits pick an entry,
    the low 7 interpolate toward the next."""
    values = np.clip(values, INT16_MIN, INT16_MAX)
    index = 256 + (values >> 7)
    base = table[index]
    slope = table[index + 1] - base
    return base + ((slope * (values & 0x7F) + 64) >> 7)


# --- Logistic and tanh ----------------------------------------------------------------------


def _float_table_lookup(codes: np.ndarray, x_q: Quant, out_q: Quant, function) -> np.ndarray:
    """``LUTPopulate<int8_t>`` and ``LookupTable``: ``function`` (float32 in and out) at every
    dequantized input code, scaled to the output in float32 and rounded, once per code."""
    every_code = np.arange(x_q.qmin, x_q.qmax + 1)
    dequantized = x_q.scale[0] * (every_code - x_q.zero).astype(np.float32)
    with np.errstate(over="ignore"):
        rescaled = function(dequantized) * (np.float32(1) / out_q.scale[0])
    # roundf, in double so that adding one half is exact
    rounded = round_half_away(rescaled.astype(np.float64)).astype(np.float32)
    shifted = np.clip(rounded + np.float32(out_q.zero), out_q.qmin, out_q.qmax)
    return shifted.astype(out_q.dtype)[codes - x_q.qmin]


def _float32_of(function):
    """``function`` rounded to float32 once, as a correctly rounded ``expf`` or ``tanhf``
    would. (glibc 2.36's ``tanhf``, which LiteRT calls, is an ulp off for some inputs; in
    768,000 table entries at random scales none changed.)"""
    return lambda values: function(values.astype(np.float64)).astype(np.float32)


def _float32_sigmoid(values: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + std::exp(-value))``, every step in float32."""
    return np.float32(1) / (np.float32(1) + _float32_of(np.exp)(-values))


# sigmoid(i / 24) in Q0.16 for i in [0, 256), LiteRT's ``sigmoid_table_uint16``.
_SIGMOID_TABLE = np.array([int(value) for value in """
    32768 33451 34133 34813 35493 36169 36843 37513 38180 38841 39498 40149 40794 41432 42064
    42688 43304 43912 44511 45102 45683 46255 46817 47369 47911 48443 48964 49475 49975 50464
    50942 51409 51865 52311 52745 53169 53581 53983 54374 54755 55125 55485 55834 56174 56503
    56823 57133 57433 57724 58007 58280 58544 58800 59048 59288 59519 59743 59959 60168 60370
    60565 60753 60935 61110 61279 61441 61599 61750 61896 62036 62172 62302 62428 62549 62666
    62778 62886 62990 63090 63186 63279 63368 63454 63536 63615 63691 63765 63835 63903 63968
    64030 64090 64148 64204 64257 64308 64357 64405 64450 64494 64536 64576 64614 64652 64687
    64721 64754 64786 64816 64845 64873 64900 64926 64950 64974 64997 65019 65039 65060 65079
    65097 65115 65132 65149 65164 65179 65194 65208 65221 65234 65246 65258 65269 65280 65291
    65301 65310 65319 65328 65337 65345 65352 65360 65367 65374 65381 65387 65393 65399 65404
    65410 65415 65420 65425 65429 65433 65438 65442 65445 65449 65453 65456 65459 65462 65465
    65468 65471 65474 65476 65479 65481 65483 65485 65488 65489 65491 65493 65495 65497 65498
    65500 65501 65503 65504 65505 65507 65508 65509 65510 65511 65512 65513 65514 65515 65516
    65517 65517 65518 65519 65520 65520 65521 65522 65522 65523 65523 65524 65524 65525 65525
    65526 65526 65526 65527 65527 65528 65528 65528 65529 65529 65529 65529 65530 65530 65530
    65530 65531 65531 65531 65531 65531 65532 65532 65532 65532 65532 65532 65533 65533 65533
    65533 65533 65533 65533 65533 65534 65534 65534 65534 65534 65534 65534 65534 65534 65534
    65535""".split()], np.int64)


def _sigmoid_table_input(codes: np.ndarray, x_q: Quant,
                         power_of_two_shifts: tuple[int, ...]) -> np.ndarray:
    """int16 codes rescaled so that 3 * 2**12 stands for 1.0 (x / 24 in Q0.9 per table step),
    as ``SigmoidPrepare`` / ``TanhPrepare`` and the kernels do."""
    multiplier, left_shift = _sigmoid_table_scaling(x_q.scale[0], power_of_two_shifts)
    rounding = (1 << (left_shift - 1)) if left_shift > 0 else 0
    return wrap_int32(codes * multiplier + rounding) >> left_shift


def _sigmoid_table_scaling(scale: np.float32, power_of_two_shifts) -> tuple[int, int]:
    """The multiplier (at least 2**14 unless the scale is a supported power of two) and
    right shift taking int16 codes to the table's input scale 1 / (3 * 2**12)."""
    is_power_of_two, log2 = _checked_log2(scale)
    if is_power_of_two and 12 + log2 in power_of_two_shifts:
        return 3 << (12 + log2), 0
    multiplier, left_shift = float(scale) * 4096.0 * 3.0, 0
    while multiplier <= INT16_MAX / 2.0 and left_shift <= 30:
        multiplier, left_shift = multiplier * 2.0, left_shift + 1
    _require(multiplier < 2**31,
             f"int16 logistic/tanh: input scale {float(scale):.9g} is too large for LiteRT's "
             f"kernel (its multiplier scale * 12288 must fit in int32). Fix: quantize the "
             f"input with a smaller scale.")
    return int(multiplier), left_shift


def _checked_log2(scale) -> tuple[bool, int]:
    """TFLite's ``CheckedLog2``: whether ``scale`` is a power of two (log2 within 1e-3 of an
    integer, in float32) and that integer."""
    log2 = np.float32(np.log(np.float32(scale))) * np.float32(1 / np.log(np.float32(2)))
    rounded = round_half_away(log2)
    return bool(abs(log2 - rounded) < np.float32(1e-3)), int(rounded)


def _sigmoid_table_interpolated(value: np.ndarray, fraction_bits: int,
                                saturated: int) -> np.ndarray:
    """``sigmoid(|value| / 2**fraction_bits / 24)`` in Q0.16 times ``2**fraction_bits``:
    linear interpolation between table entries, ``saturated`` past the last one."""
    magnitude = np.abs(value)
    index = magnitude >> fraction_bits
    low_index = np.minimum(index, len(_SIGMOID_TABLE) - 2)
    low, high = _SIGMOID_TABLE[low_index], _SIGMOID_TABLE[low_index + 1]
    fraction = magnitude & ((1 << fraction_bits) - 1)
    interpolated = (low << fraction_bits) + fraction * (high - low)
    return np.where(index >= len(_SIGMOID_TABLE) - 1, saturated, interpolated)


# --- Hard swish -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _HardSwishParams:
    """``HardSwishPrepare``: int16 fixed-point multipliers with power-of-two exponents, from
    the input's 128 times finer scale to the output's and to the "relu-ish" scale where 3.0
    is 32768."""

    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int

    @classmethod
    def of(cls, x_q: Quant, out_q: Quant) -> "_HardSwishParams":
        hires_input_scale = np.float32(1 / 128) * x_q.scale[0]
        output_multiplier, output_exponent = _int16_multiplier(hires_input_scale /
                                                               out_q.scale[0])
        _require(output_exponent <= 0,
                 f"hard_swish: input scale / output scale = "
                 f"{float(x_q.scale[0] / out_q.scale[0]):.6g}; LiteRT's kernel needs at most "
                 f"128. Fix: quantize the output with a larger scale.")
        reluish_multiplier, reluish_exponent = _int16_multiplier(hires_input_scale /
                                                                 np.float32(3 / 32768))
        return cls(output_multiplier, output_exponent, reluish_multiplier, reluish_exponent)


def _int16_multiplier(real: np.float32) -> tuple[int, int]:
    """``QuantizeMultiplier`` then ``DownScaleInt32ToInt16Multiplier``: a Q0.15 multiplier
    and its power-of-two exponent."""
    multiplier, exponent = (int(value) for value in quantize_multiplier(np.float64(real)))
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def _reluish_fraction(on_hires_input_scale: np.ndarray, params: _HardSwishParams) -> np.ndarray:
    """``relu6(x + 3) / 6`` in Q0.15: x rescaled from [-3, 3] to [-1, 1], saturating, then
    to [0, 1]. A left shift is split around the multiplication so that only the last bit
    saturates."""
    value, exponent = on_hires_input_scale, params.reluish_exponent
    if exponent > 0:
        value = _saturating_left_shift_int16(value, exponent - 1)
    value = _doubling_high_mul_int16(value, params.reluish_multiplier, rounding=True)
    if exponent > 0:
        value = _saturating_left_shift_int16(value, 1)
    elif exponent < 0:
        value = _rounding_divide_by_pot_int16(value, -exponent)
    return (value + (1 << 15)) >> 1


def _doubling_high_mul_int16(a, b, rounding: bool) -> np.ndarray:
    """``a * b / 2**15`` for int16 ``a``, ``b``: rounded to nearest (gemmlowp's
    ``SaturatingRoundingDoublingHighMul``) or toward zero (``SaturatingDoublingHighMul``),
    saturating ``INT16_MIN * INT16_MIN``."""
    product = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    nudge = np.where(product >= 0, 1 << 14, 1 - (1 << 14)) if rounding else 0
    high = divide_toward_zero(product + nudge, 15)
    return np.where((np.asarray(a) == INT16_MIN) & (np.asarray(b) == INT16_MIN), INT16_MAX,
                    high)


def _rounding_divide_by_pot_int16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT`` on int16, whose mask ``2**exponent - 1`` is cut to
    16 bits: from an exponent of 16 on, it gives 1 for ``x >= 0`` and -1 below."""
    if exponent >= 16:
        return np.where(x >= 0, 1, -1)
    return rounding_divide_by_pot(x, exponent)


def _saturating_left_shift_int16(value: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(value << amount, INT16_MIN, INT16_MAX)


def _wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap-around into a signed integer of ``bits`` bits."""
    half = 1 << (bits - 1)
    return (values + half) % (1 << bits) - half
