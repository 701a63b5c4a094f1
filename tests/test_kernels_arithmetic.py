"""Fixed-point arithmetic, convolutions, fully connected and elementwise kernels: gemmlowp's
integer steps against a literal transcription, each kernel bit for bit against LiteRT's
reference kernels on converted Keras layers, within one output step of float math on random
shapes and quantization parameters (hypothesis), and ``KernelError`` on bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kernel_support import (check_ops_against_reference, integer_tflite, random_input,
                            single_layer_tflite)
from workbench.errors import KernelError
from workbench.kernels import quantize_multiplier
from workbench.kernels.conv import conv2d, depthwise_conv2d, fully_connected, transpose_conv2d
from workbench.kernels.elementwise import add, mul, sub
from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier,
                                           rounding_divide_by_pot,
                                           saturating_rounding_doubling_high_mul)
from workbench.kernels.quant import Quant, dequantize, quantize

PROPERTY_SETTINGS = settings(max_examples=30, deadline=None)
INT32 = st.integers(-(1 << 31), (1 << 31) - 1)


# --- gemmlowp's steps, literally (one element at a time, as in fixedpoint.h) -------------------

def literal_high_mul(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    product = a * b
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    return total // (1 << 31) if total >= 0 else -((-total) // (1 << 31))  # C++ truncates


def literal_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(INT32, INT32), min_size=1, max_size=50))
def test_high_mul_matches_gemmlowp(pairs):
    a, b = (np.array(side, np.int64) for side in zip(*pairs))
    assert saturating_rounding_doubling_high_mul(a, b).tolist() == \
        [literal_high_mul(x, y) for x, y in pairs]


def test_high_mul_edges():
    low, high = -(1 << 31), (1 << 31) - 1
    for a, b in [(low, low), (low, high), (high, high), (-(1 << 30), 1), (3 << 29, -1),
                 (-3 << 29, 1), (0, low)]:
        assert saturating_rounding_doubling_high_mul(a, b) == literal_high_mul(a, b)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(INT32, st.integers(0, 31)), min_size=1, max_size=50))
def test_rounding_divide_matches_gemmlowp(pairs):
    x, e = (np.array(side, np.int64) for side in zip(*pairs))
    assert rounding_divide_by_pot(x, e).tolist() == \
        [literal_divide_by_pot(a, b) for a, b in pairs]


@given(st.floats(1e-9, 1e3))
def test_quantized_multiplier_stands_for_the_real_one(real):
    multiplier, shift = (int(v) for v in quantize_multiplier(real))
    assert (1 << 30) <= multiplier < (1 << 31)
    assert abs(multiplier * 2.0 ** (shift - 31) / real - 1) <= 2.0 ** -31


@given(st.integers(-(1 << 24), 1 << 24), st.floats(1e-6, 0.999))
def test_fixed_point_scaling_is_within_one_of_exact_rounding(x, real):
    multiplier, shift = quantize_multiplier(real)
    assert abs(int(multiply_by_quantized_multiplier(x, multiplier, shift)) - x * real) <= 1.0


def test_quantize_multiplier_edges():
    assert [int(v) for v in quantize_multiplier(0.0)] == [0, 0]
    assert [int(v) for v in quantize_multiplier(1.0)] == [1 << 30, 1]
    assert [int(v) for v in quantize_multiplier(1e-12)] == [0, 0]  # below 2**-31: flushed
    # 0.999999999999 rounds to 2**31: carried into the next power of two, as TFLite does
    assert [int(v) for v in quantize_multiplier(1 - 1e-12)] == [1 << 30, 1]


# --- bit for bit against LiteRT's reference kernels, through the runner ------------------------

ARITHMETIC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "ADD",
                  "SUB", "MUL", "CONCATENATION", "PAD", "PADV2", "QUANTIZE", "DEQUANTIZE",
                  "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "RESHAPE")


def two_input_model(layer, shapes):
    # named, so that the calibration feeds each input by a name of ours
    inputs = [keras.Input(shape, name=f"input_{i}") for i, shape in enumerate(shapes)]
    return keras.Model(inputs, layer(inputs))


LAYERS = {
    "conv_valid_stride2_relu6": (lambda: keras.layers.Conv2D(5, 3, strides=2, activation="relu6"),
                                 (9, 9, 3)),
    "conv_same_dilated": (lambda: keras.layers.Conv2D(4, (3, 2), dilation_rate=2,
                                                      padding="same"), (8, 7, 2)),
    "conv_1x1_no_bias": (lambda: keras.layers.Conv2D(6, 1, use_bias=False), (5, 5, 4)),
    "depthwise_multiplier3_stride2": (lambda: keras.layers.DepthwiseConv2D(
        3, strides=2, padding="same", depth_multiplier=3, activation="relu"), (7, 8, 2)),
    "depthwise_valid_dilated": (lambda: keras.layers.DepthwiseConv2D(
        2, dilation_rate=2), (6, 6, 3)),
    "transpose_conv_same": (lambda: keras.layers.Conv2DTranspose(3, 3, strides=2,
                                                                 padding="same"), (4, 5, 2)),
    "transpose_conv_valid": (lambda: keras.layers.Conv2DTranspose(2, (2, 3), strides=(1, 2),
                                                                  padding="valid"), (3, 4, 3)),
    "dense_tanh_free": (lambda: keras.layers.Dense(7), (11,)),
    "dense_3d_input": (lambda: keras.layers.Dense(4, activation="relu"), (3, 6)),
    "zero_padding": (lambda: keras.layers.ZeroPadding2D(((1, 2), (0, 3))), (4, 4, 2)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_litert_reference(name):
    build, shape = LAYERS[name]
    tflite = single_layer_tflite(build(), shape, seed=len(name))
    checked = check_ops_against_reference(tflite, random_input(tflite), ARITHMETIC_OPS)
    assert checked, "the converter made none of the ops this test is about"


@pytest.mark.parametrize("layer, shapes, op", [
    (keras.layers.Add, [(4, 4, 3), (4, 4, 3)], "ADD"),
    (keras.layers.Subtract, [(4, 4, 3), (4, 4, 3)], "SUB"),
    (keras.layers.Multiply, [(4, 4, 3), (1, 1, 3)], "MUL"),  # broadcast
    (lambda: keras.layers.Concatenate(axis=-1), [(3, 3, 2), (3, 3, 5)], "CONCATENATION"),
])
def test_two_input_ops_match_litert_reference(layer, shapes, op):
    rng = np.random.default_rng(0)
    samples = [rng.normal(size=(16, *shape)) * (1 + i) for i, shape in enumerate(shapes)]
    tflite = integer_tflite(two_input_model(layer(), shapes), samples)
    checked = check_ops_against_reference(tflite, random_input(tflite), ARITHMETIC_OPS)
    assert [name for name, _ in checked] == [op]


@pytest.mark.parametrize("layer, shape", [(lambda: keras.layers.Conv2D(4, 3), (6, 6, 2)),
                                          (lambda: keras.layers.Dense(5), (9,))])
def test_int16_activations_match_litert_reference(layer, shape):
    tflite = single_layer_tflite(layer(), shape, int16=True)
    checked = check_ops_against_reference(tflite, random_input(tflite), ARITHMETIC_OPS)
    assert {"CONV_2D", "FULLY_CONNECTED"} & {name for name, _ in checked}


# --- within one output step of float math on random tensors ------------------------------------

@st.composite
def quant(draw, dtype="int8", per_channel: int = 0, symmetric: bool = False):
    count = per_channel or 1
    scales = [draw(st.floats(1e-4, 10.0)) for _ in range(count)]
    info = np.iinfo(dtype)
    zero = 0 if symmetric else draw(st.integers(info.min, info.max))
    return Quant.of(scales, zero, dtype, axis=0)


def codes(draw, shape, dtype="int8"):
    info = np.iinfo(dtype)
    values = draw(st.lists(st.integers(info.min, info.max), min_size=int(np.prod(shape)),
                           max_size=int(np.prod(shape))))
    return np.array(values, dtype).reshape(shape)


def expected_codes(real: np.ndarray, out_q: Quant, low=-np.inf, high=np.inf) -> np.ndarray:
    """Float math's answer in output codes, before rounding (clamped like the kernel)."""
    exact = real / np.float64(out_q.scale[0]) + out_q.zero
    return np.clip(exact, max(out_q.qmin, low), min(out_q.qmax, high))


def assert_within_a_step(ours, exact):
    # one rounding of the exact value (0.5) plus the 31-bit multiplier and the double
    # rounding of gemmlowp (another 0.5 at most, on a tie): never more than one code
    assert ours.shape == exact.shape
    assert np.max(np.abs(ours.astype(np.float64) - exact), initial=0) <= 1.0 + 1e-9


@st.composite
def conv_cases(draw):
    batch, height, width = draw(st.integers(1, 2)), draw(st.integers(1, 7)), \
        draw(st.integers(1, 7))
    channels, outputs = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    if padding == "VALID" and any((k - 1) * d + 1 > n for k, d, n in
                                  zip(kernel, dilation, (height, width))):
        padding = "SAME"
    x_q, w_q = draw(quant()), draw(quant(per_channel=outputs, symmetric=True))
    out_q = draw(quant())
    x = codes(draw, (batch, height, width, channels))
    w = codes(draw, (outputs, *kernel, channels))
    w[w == -128] = -127  # TFLite's weights are symmetric: -127..127
    bias = np.array(draw(st.lists(st.integers(-(1 << 16), 1 << 16), min_size=outputs,
                                  max_size=outputs)), np.int32)
    # Converters give accumulator-to-output multipliers below 1; far above, the shifted
    # accumulator overflows int32 in TFLite as here (bit-exact, but nothing like float).
    assume(x_q.scale[0] * w_q.scale.max() <= out_q.scale[0])
    return x, x_q, w, w_q, bias, out_q, stride, dilation, padding


def real_bias(bias, x_q, w_q):
    return bias * np.float64(x_q.scale[0]) * w_q.scale.astype(np.float64)


@PROPERTY_SETTINGS
@given(conv_cases())
def test_conv2d_within_a_step_of_float(case):
    import tensorflow as tf

    x, x_q, w, w_q, bias, out_q, stride, dilation, padding = case
    if dilation != (1, 1) and stride != (1, 1):
        stride = (1, 1)  # TensorFlow's float conv refuses both together
    real = tf.nn.conv2d(dequantize(x, x_q).astype(np.float64),
                        np.transpose(dequantize(w, w_q).astype(np.float64), (1, 2, 3, 0)),
                        strides=stride, padding=padding, dilations=dilation).numpy()
    ours = conv2d(x, x_q, w, w_q, bias, out_q, stride, dilation, padding)
    assert_within_a_step(ours, expected_codes(real + real_bias(bias, x_q, w_q), out_q))


@PROPERTY_SETTINGS
@given(conv_cases(), st.integers(1, 3))
def test_depthwise_within_a_step_of_float(case, multiplier):
    import tensorflow as tf

    x, x_q, _, _, _, out_q, stride, dilation, padding = case
    # TensorFlow's float depthwise takes equal strides, and none with a dilation
    stride = (1, 1) if dilation != (1, 1) else (stride[0], stride[0])
    channels = x.shape[3] * multiplier
    rng = np.random.default_rng(channels)
    w = rng.integers(-127, 128, (1, 2, 3, channels)).astype(np.int8)
    w_q = Quant.of(rng.uniform(1e-3, 1, channels), 0, "int8", axis=3)
    assume(x_q.scale[0] * w_q.scale.max() <= out_q.scale[0])  # as in conv_cases
    if padding == "VALID" and (x.shape[1] < 1 + dilation[0] or x.shape[2] < 1 + 2 * dilation[1]):
        padding = "SAME"
    real = tf.nn.depthwise_conv2d(
        dequantize(x, x_q).astype(np.float64),
        dequantize(w, w_q)[0].reshape(2, 3, x.shape[3], multiplier).astype(np.float64),
        strides=(1, *stride, 1), padding=padding, dilations=dilation).numpy()
    ours = depthwise_conv2d(x, x_q, w, w_q, None, out_q, stride, dilation, padding,
                            depth_multiplier=multiplier)
    assert_within_a_step(ours, expected_codes(real, out_q))


@PROPERTY_SETTINGS
@given(conv_cases(), st.sampled_from(["NONE", "RELU", "RELU6"]))
def test_fully_connected_within_a_step_of_float(case, activation):
    x, x_q, w, w_q, bias, out_q, *_ = case
    rows = x.reshape(x.shape[0], -1)
    weights = np.resize(w, (w.shape[0], rows.shape[1]))
    real = dequantize(rows, x_q).astype(np.float64) @ \
        dequantize(weights, Quant.of(w_q.scale, 0, "int8", axis=0)).astype(np.float64).T
    ours = fully_connected(rows, x_q, weights, w_q, bias, out_q, activation)
    low = {"NONE": -np.inf, "RELU": out_q.zero, "RELU6": out_q.zero}[activation]
    high = np.inf if activation != "RELU6" else out_q.zero + np.floor(6 / out_q.scale[0] + 0.5)
    assert_within_a_step(ours, expected_codes(real + real_bias(bias, x_q, w_q), out_q, low,
                                              high))


@PROPERTY_SETTINGS
@given(conv_cases())
def test_transpose_conv_within_a_step_of_float(case):
    import tensorflow as tf

    x, x_q, w, w_q, bias, out_q, stride, _, padding = case
    out_h = x.shape[1] * stride[0] if padding == "SAME" else \
        (x.shape[1] - 1) * stride[0] + w.shape[1]
    out_w = x.shape[2] * stride[1] if padding == "SAME" else \
        (x.shape[2] - 1) * stride[1] + w.shape[2]
    shape = (x.shape[0], out_h, out_w, w.shape[0])
    real = tf.nn.conv2d_transpose(
        dequantize(x, x_q).astype(np.float64),
        np.transpose(dequantize(w, w_q).astype(np.float64), (1, 2, 0, 3)), shape,
        strides=stride, padding=padding).numpy()
    ours = transpose_conv2d(x, x_q, w, w_q, bias, out_q, shape, stride, padding)
    assert_within_a_step(ours, expected_codes(real + real_bias(bias, x_q, w_q), out_q))


@st.composite
def elementwise_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    other = tuple(1 if draw(st.booleans()) else n for n in shape)  # broadcasts
    a_q, b_q, out_q = draw(quant()), draw(quant()), draw(quant())
    return codes(draw, shape), a_q, codes(draw, other), b_q, out_q


@PROPERTY_SETTINGS
@given(elementwise_cases(), st.sampled_from([(add, np.add), (sub, np.subtract)]))
def test_add_and_sub_within_a_step_of_float(case, kernels):
    a, a_q, b, b_q, out_q = case
    ours_kernel, float_op = kernels
    if max(a_q.scale[0], b_q.scale[0]) > 1000 * out_q.scale[0]:
        return  # TFLite requires the output scale within 2**(20-1) of the inputs'; not this
    real = float_op(dequantize(a, a_q).astype(np.float64), dequantize(b, b_q))
    assert_within_a_step(ours_kernel(a, a_q, b, b_q, out_q), expected_codes(real, out_q))


@PROPERTY_SETTINGS
@given(elementwise_cases())
def test_mul_within_a_step_of_float(case):
    a, a_q, b, b_q, out_q = case
    # the product of centred codes (< 2**16) shifted left by log2 of the multiplier must stay
    # within int32, in TFLite as here
    assume(a_q.scale[0] * b_q.scale[0] <= 2 ** 12 * out_q.scale[0])
    real = dequantize(a, a_q).astype(np.float64) * dequantize(b, b_q)
    assert_within_a_step(mul(a, a_q, b, b_q, out_q), expected_codes(real, out_q))


@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20), quant())
def test_quantize_then_dequantize_is_within_half_a_step(values, params):
    x = np.array(values, np.float32)
    back = dequantize(quantize(x, params), params)
    scale = np.float64(params.scale[0])
    lowest, highest = (params.qmin - params.zero) * scale, (params.qmax - params.zero) * scale
    clipped = np.clip(x.astype(np.float64), lowest, highest)
    assert np.max(np.abs(back - clipped)) <= 0.5 * scale * (1 + 1e-5) + 1e-9


# --- bad input ------------------------------------------------------------------------------

X, W = np.zeros((1, 4, 4, 2), np.int8), np.zeros((3, 3, 3, 2), np.int8)
Q = Quant.of(0.1, 0)


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(X.astype(np.float32), Q, W, Q, None, Q), "must be an array of int8 or "
                                                             "int16 codes, received float32"),
    (lambda: conv2d(X[0], Q, W, Q, None, Q), "must have 4 axes, received shape"),
    (lambda: conv2d(X, Q, W[..., :1], Q, None, Q), "reads 1 channels, the input of shape"),
    (lambda: conv2d(X, Q, W, Q, None, Q, padding="same"), "Unknown padding 'same'"),
    (lambda: conv2d(X, Q, W, Q, None, Q, activation="GELU"), "Unknown fused activation"),
    (lambda: depthwise_conv2d(X, Q, W[:1], Q, None, Q, depth_multiplier=2),
     "needs 4"),
    (lambda: fully_connected(X, Q, np.zeros((3, 5), np.int8), Q, None, Q),
     "does not split into such rows"),
    (lambda: add(X, Q, X[0, :3], Q, Q), r"cannot broadcast shapes \(1, 4, 4, 2\) and \(3, 4, 2\)"),
    (lambda: mul(X, Q, X.astype(np.int16), Q, Q), "one dtype, received int8 and int16"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(KernelError, match=message):
        call()
