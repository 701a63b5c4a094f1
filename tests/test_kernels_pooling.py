"""The pooling, MEAN and resize kernels: bit for bit against LiteRT's reference kernels on
small converted Keras layers, within stated bounds of float math on random quantized
tensors (hypothesis), and ``KernelError`` on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_support import (check_ops_against_reference, integer_tflite, random_input,
                            single_layer_tflite)
from workbench.errors import KernelError
from workbench.kernels.pooling import average_pool, max_pool, mean
from workbench.kernels.quant import Quant
from workbench.kernels.resize import resize_bilinear, resize_nearest_neighbor
from workbench.tflite_inspect import inspect_tflite

ACTIVATION_BOUNDS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
                     "RELU_N1_TO_1": (-1.0, 1.0)}
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)


# --- bit for bit against LiteRT's reference kernels -------------------------------------------

SAME_QUANTIZATION_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESIZE_BILINEAR",
                         "RESIZE_NEAREST_NEIGHBOR")
KERNEL_OPS = (*SAME_QUANTIZATION_OPS, "MEAN")
def checked_ops(tflite: bytes) -> list[tuple[str, object]]:
    """Every pooling, MEAN or resize op of ``tflite`` checked against LiteRT's reference
    kernels on a random input (``check_ops_against_reference``); pools and resizes keep their
    input's quantization in what the converter gives."""
    info = inspect_tflite(tflite)
    for op in info.ops:
        if op.name in SAME_QUANTIZATION_OPS:
            source, target = info.tensors[op.inputs[0]], info.tensors[op.outputs[0]]
            assert np.array_equal(source.scales, target.scales)
            assert np.array_equal(source.zero_points, target.zero_points)
    return check_ops_against_reference(tflite, random_input(tflite), KERNEL_OPS)


def _layer(name, *args, **kwargs):
    def build():
        import keras

        return getattr(keras.layers, name)(*args, **kwargs)
    return build


def _compat_resize(method, size, align_corners):
    """A Lambda layer with TF1's resize, the way to reach align_corners=True and the legacy
    (half_pixel_centers=False) sampling."""
    def build():
        import keras
        import tensorflow as tf

        resize = getattr(tf.compat.v1.image, f"resize_{method}")
        return keras.layers.Lambda(lambda t: resize(t, size, align_corners=align_corners))
    return build


# id: (layer factory, input shape without batch, int16 activations, the op and options
# the converter must emit)
LAYER_CASES = {
    "avg_same_s2_odd": (_layer("AveragePooling2D", 3, 2, padding="same"), (7, 9, 3), False,
                        "AVERAGE_POOL_2D", {"padding": 0, "strideH": 2}),
    "avg_valid_s1": (_layer("AveragePooling2D", 2, 1, padding="valid"), (5, 6, 4), False,
                     "AVERAGE_POOL_2D", {"padding": 1, "strideH": 1}),
    "avg_same_mixed": (_layer("AveragePooling2D", (3, 2), (1, 2), padding="same"), (5, 7, 4),
                       False, "AVERAGE_POOL_2D", {"filterHeight": 3, "strideW": 2}),
    "avg_same_int16": (_layer("AveragePooling2D", 3, 2, padding="same"), (7, 5, 3), True,
                       "AVERAGE_POOL_2D", {}),
    "max_valid_s1": (_layer("MaxPooling2D", 2, 1, padding="valid"), (5, 6, 2), False,
                     "MAX_POOL_2D", {"padding": 1}),
    "max_same_s2_odd": (_layer("MaxPooling2D", 3, 2, padding="same"), (7, 9, 3), False,
                        "MAX_POOL_2D", {"padding": 0, "strideW": 2}),
    "max_valid_s2_int16": (_layer("MaxPooling2D", 2, 2, padding="valid"), (7, 5, 3), True,
                           "MAX_POOL_2D", {}),
    "gap": (_layer("GlobalAveragePooling2D"), (5, 5, 8), False, "MEAN", {"keepDims": False}),
    "gap_keepdims": (_layer("GlobalAveragePooling2D", keepdims=True), (5, 7, 8), False, "MEAN",
                     {"keepDims": True}),
    "gap_int16": (_layer("GlobalAveragePooling2D"), (5, 5, 8), True, "MEAN", {}),
    "upsampling_bilinear": (_layer("UpSampling2D", 2, interpolation="bilinear"), (3, 4, 2),
                            False, "RESIZE_BILINEAR",
                            {"halfPixelCenters": True, "alignCorners": False}),
    "resizing_bilinear_up": (_layer("Resizing", 7, 5, interpolation="bilinear"), (4, 6, 2),
                             False, "RESIZE_BILINEAR", {"halfPixelCenters": True}),
    "resizing_bilinear_down": (_layer("Resizing", 3, 2, interpolation="bilinear"), (8, 7, 2),
                               False, "RESIZE_BILINEAR", {"halfPixelCenters": True}),
    "resizing_bilinear_int16": (_layer("Resizing", 7, 5, interpolation="bilinear"), (4, 6, 2),
                                True, "RESIZE_BILINEAR", {}),
    "resizing_nearest": (_layer("Resizing", 7, 5, interpolation="nearest"), (4, 6, 2), False,
                         "RESIZE_NEAREST_NEIGHBOR", {"halfPixelCenters": True}),
    "tf1_bilinear_align": (_compat_resize("bilinear", (7, 9), True), (4, 5, 3), False,
                           "RESIZE_BILINEAR", {"alignCorners": True, "halfPixelCenters": False}),
    "tf1_bilinear_legacy": (_compat_resize("bilinear", (7, 9), False), (4, 5, 3), False,
                            "RESIZE_BILINEAR", {"alignCorners": False, "halfPixelCenters": False}),
    "tf1_nearest_align": (_compat_resize("nearest_neighbor", (7, 9), True), (4, 5, 3), False,
                          "RESIZE_NEAREST_NEIGHBOR", {"alignCorners": True}),
    "tf1_nearest_legacy": (_compat_resize("nearest_neighbor", (7, 9), False), (4, 5, 3), False,
                           "RESIZE_NEAREST_NEIGHBOR",
                           {"alignCorners": False, "halfPixelCenters": False}),
}


@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_matches_litert_reference(case):
    build, shape, int16, op_name, options = LAYER_CASES[case]
    checked = checked_ops(single_layer_tflite(build(), shape, int16=int16))
    assert [name for name, _ in checked] == [op_name]
    assert {key: getattr(checked[0][1], key) for key in options} == options


@pytest.mark.parametrize("axis, keepdims, shape", [(-1, False, (4, 6)), (-1, True, (3, 4, 6)),
                                                   ((1, 3), True, (4, 6, 3))])
def test_mean_over_other_axes_matches_litert_reference(axis, keepdims, shape):
    import keras

    inputs = keras.Input(shape)
    model = keras.Model(inputs, keras.ops.mean(inputs, axis=axis, keepdims=keepdims))
    samples = np.random.default_rng(0).normal(size=(32, *shape))
    checked = checked_ops(integer_tflite(model, samples))
    assert [(name, bool(options.keepDims)) for name, options in checked] == \
        [("MEAN", keepdims)]


def test_nearest_upsampling_is_tile_and_matches_resize_nearest_neighbor():
    """Keras 3's UpSampling2D(interpolation="nearest") converts to TILE and RESHAPE, no
    RESIZE op; the graph still computes exactly our resize_nearest_neighbor. (LiteRT's
    reference resolver lacks TILE version 3; the default kernels copy the same codes.)"""
    import keras

    from workbench.kernels.litert import litert_tensors

    tflite = single_layer_tflite(keras.layers.UpSampling2D(2, interpolation="nearest"),
                                 (3, 4, 2))
    info = inspect_tflite(tflite)
    assert not any(op.name.startswith("RESIZE") for op in info.ops)
    inputs = random_input(tflite)
    output = litert_tensors(tflite, inputs, "default")[info.tensors[info.outputs[0]].name]
    assert np.array_equal(resize_nearest_neighbor(inputs[0], (6, 8)), output)


# --- within stated bounds of float math (hypothesis) -----------------------------------------

@st.composite
def quantized(draw, shape):
    """``(codes, Quant)``: int8 or int16 codes uniform over the dtype's range or only its two
    extremes (saturation), a scale from 1e-6 to 1e3, any int8 zero point (int16: 0)."""
    dtype = np.dtype(draw(st.sampled_from(["int8", "int16"])))
    limits = np.iinfo(dtype)
    scale = 10.0 ** draw(st.floats(-6, 3))
    zero = 0 if dtype == np.int16 else draw(st.integers(limits.min, limits.max))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        codes = rng.integers(limits.min, limits.max, shape, endpoint=True)
    else:
        codes = rng.choice([limits.min, limits.max], shape)
    return codes.astype(dtype), Quant.of(scale, zero, dtype)


@st.composite
def nhwc_shapes(draw, max_side=9):
    return (draw(st.integers(1, 2)), draw(st.integers(1, max_side)),
            draw(st.integers(1, max_side)), draw(st.integers(1, 3)))


def real(codes, params: Quant) -> np.ndarray:
    """Dequantized in float64 (the float32 scale taken exactly)."""
    return np.float64(params.scale[0]) * (codes.astype(np.float64) - params.zero)


def steps_apart(codes, params: Quant, reference) -> np.ndarray:
    """How far the kernel's output lies from the float ``reference``, in output steps."""
    return np.abs(real(codes, params) - reference) / np.float64(params.scale[0])


def float_pool(values, filter, stride, padding, reduce):
    """A float pool over the window positions inside ``values`` (TensorFlow's SAME puts the
    odd padding position after)."""
    outputs, starts = [], []
    for size, window, step in zip(values.shape[1:3], filter, stride):
        count = -(-size // step) if padding == "SAME" else (size - window) // step + 1
        total = max((count - 1) * step + window - size, 0) if padding == "SAME" else 0
        outputs.append(count)
        starts.append([i * step - total // 2 for i in range(count)])
    result = np.empty((values.shape[0], *outputs, values.shape[3]))
    for i, top in enumerate(starts[0]):
        for j, left in enumerate(starts[1]):
            window = values[:, max(top, 0):top + filter[0], max(left, 0):left + filter[1]]
            result[:, i, j] = reduce(window, axis=(1, 2))
    return result


def float_output(values, params: Quant, activation="NONE"):
    """``values`` clamped as the fused activation and the output's range clamp them."""
    low, high = ACTIVATION_BOUNDS[activation]
    representable = real(np.array([params.qmin, params.qmax]), params)
    return np.clip(values, max(low, representable[0]), min(high, representable[1]))


@st.composite
def pool_cases(draw):
    shape = draw(nhwc_shapes())
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    most = shape[1:3] if padding == "VALID" else (4, 4)  # VALID windows must fit
    filter = tuple(draw(st.integers(1, min(4, n))) for n in most)
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    x, x_q = draw(quantized(shape))
    return x, x_q, filter, stride, padding, draw(st.sampled_from(list(ACTIVATION_BOUNDS)))


@pytest.mark.parametrize("kernel, reduce", [(average_pool, np.mean), (max_pool, np.max)],
                         ids=["average", "max"])
@PROPERTY_SETTINGS
@given(case=pool_cases())
def test_pools_within_half_a_step_of_float(kernel, reduce, case):
    # The mean (max) of codes is the mean (max) of the real values exactly; the average rounds
    # once (<= 0.5 step) and both clamp to activation bounds that are themselves rounded to
    # codes (<= 0.5 step). Clamping is 1-Lipschitz in the value and the bounds together (sup
    # norm), so the result is within 0.5 step of the float result (+ float64 slack).
    x, x_q, filter, stride, padding, activation = case
    ours = kernel(x, x_q, x_q, filter, stride, padding, activation)
    reference = float_pool(real(x, x_q), filter, stride, padding, reduce)
    assert ours.shape == reference.shape
    assert steps_apart(ours, x_q, float_output(reference, x_q, activation)).max() <= 0.5 + 1e-6


@st.composite
def mean_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    x, x_q = draw(quantized(shape))
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    # Output scales up to 2**14 finer than the input's: beyond that, LiteRT's int32 fixed
    # point (left shift before the high multiply) overflows for int16 sums, as it does here.
    ratio = 2.0 ** draw(st.floats(-30, 14))
    zero = 0 if x_q.dtype == np.int16 else draw(st.integers(-128, 127))
    out_q = Quant.of(np.float32(x_q.scale[0] / ratio), zero, x_q.dtype)
    return x, x_q, out_q, axes, draw(st.booleans())


@PROPERTY_SETTINGS
@given(mean_cases())
def test_mean_within_one_step_of_float(case):
    # QuantizedMeanOrSum scales the exact integer sum by a 31-bit multiplier (relative error
    # below 2**-28, < 0.001 step over the int16 range), then rounds twice: the doubling high
    # multiply to an integer before the right shift by 2**r (<= 0.5 / 2**r step) and the
    # shift itself (<= 0.5 step). With the output clamp (1-Lipschitz): within 1 step.
    x, x_q, out_q, axes, keep_dims = case
    ours = mean(x, x_q, out_q, axes, keep_dims)
    reference = np.mean(real(x, x_q), axis=tuple({a % x.ndim for a in axes}),
                        keepdims=keep_dims)
    assert ours.shape == reference.shape and ours.dtype == x.dtype
    assert steps_apart(ours, out_q, float_output(reference, out_q)).max() <= 1 + 1e-3


def _sampled_positions(in_size, out_size, align_corners, half_pixel_centers):
    """TensorFlow's exact sampling position of each output index, in input pixels."""
    index = np.arange(out_size, dtype=np.float64)
    if align_corners and out_size > 1:
        return index * (in_size - 1) / (out_size - 1)
    if half_pixel_centers:
        return (index + 0.5) * in_size / out_size - 0.5
    return index * in_size / out_size


def _linear(values, positions, axis):
    """Linear interpolation along ``axis`` at ``positions`` clamped to the input."""
    positions = np.clip(positions, 0, values.shape[axis] - 1)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, values.shape[axis] - 1)
    shape = [1] * values.ndim
    shape[axis] = -1
    weight = (positions - lower).reshape(shape)
    return np.take(values, lower, axis) * (1 - weight) + np.take(values, upper, axis) * weight


@st.composite
def resize_cases(draw):
    shape = draw(nhwc_shapes(max_side=8))
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    align_corners = draw(st.booleans())
    half_pixel_centers = not align_corners and draw(st.booleans())
    return (*draw(quantized(shape)), size, align_corners, half_pixel_centers)


@PROPERTY_SETTINGS
@given(resize_cases())
def test_resize_bilinear_within_stated_bound_of_float(case):
    # The kernel interpolates exactly at positions in 1/1024ths of a pixel and rounds once
    # (<= 0.5 step). Its step size (in/out rounded to 1/1024) puts output i within
    # (i + 1) / 2048 pixel of TensorFlow's position; bilinear interpolation changes by at most
    # the largest neighbour difference along an axis per pixel moved along it.
    x, x_q, size, align_corners, half_pixel_centers = case
    ours = resize_bilinear(x, x_q, x_q, size, align_corners, half_pixel_centers)
    positions = [_sampled_positions(n, m, align_corners, half_pixel_centers)
                 for n, m in zip(x.shape[1:3], size)]
    reference = _linear(_linear(real(x, x_q), positions[0], 1), positions[1], 2)
    codes = x.astype(np.float64)
    slope = [np.abs(np.diff(codes, axis=axis)).max(initial=0) for axis in (1, 2)]
    moved = [(m + 1) / 2048 for m in size]
    bound = 0.5 + slope[0] * moved[0] + slope[1] * moved[1]
    assert ours.shape == (x.shape[0], *size, x.shape[3])
    assert steps_apart(ours, x_q, reference).max() <= bound + 1e-6


@PROPERTY_SETTINGS
@given(nhwc_shapes(max_side=12), st.integers(1, 20), st.integers(1, 20), st.booleans(),
       st.booleans())
def test_resize_nearest_copies_the_nearest_pixel(shape, height, width, align_corners,
                                                 half_pixel_centers):
    # Codes that name their own row and column show where each output came from: TensorFlow's
    # position (floor, or round with align_corners) within the input, except that LiteRT's
    # float32 arithmetic may fall on either side of an exact tie.
    rows, cols = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    x = np.broadcast_to((rows * 100 + cols)[None, :, :, None], shape).astype(np.int16)
    ours = resize_nearest_neighbor(x, (height, width), align_corners, half_pixel_centers)
    assert ours.shape == (shape[0], height, width, shape[3])
    for source, in_size, out_size in ((ours[0, :, 0, 0] // 100, shape[1], height),
                                      (ours[0, 0, :, 0] % 100, shape[2], width)):
        scale = (in_size - 1) / (out_size - 1) if align_corners and out_size > 1 \
            else in_size / out_size
        position = (np.arange(out_size) + 0.5 * half_pixel_centers) * scale
        tie = position + 0.5 if align_corners else position
        expected = np.clip(np.floor(tie), 0, in_size - 1)
        at_tie = np.abs(tie - np.round(tie)) < 1e-4
        assert np.all((source == expected) | (at_tie & (np.abs(source - expected) == 1)))


# --- bad input --------------------------------------------------------------------------------

INT8 = Quant.of(0.1, 0, "int8")
CODES = np.zeros((1, 4, 4, 2), np.int8)


@pytest.mark.parametrize("call, message", [
    (lambda: average_pool(CODES.astype(np.float32), INT8, INT8), "int8 or int16 codes"),
    (lambda: max_pool(CODES[0], INT8, INT8), "4 axes"),
    (lambda: average_pool(CODES, INT8, INT8, padding="same"), "Unknown padding 'same'"),
    (lambda: max_pool(CODES, INT8, INT8, padding="FULL"), "Unknown padding 'FULL'"),
    (lambda: max_pool(CODES, INT8, INT8, filter=(5, 2), padding="VALID"), "does not fit"),
    (lambda: average_pool(CODES, INT8, INT8, stride=(0, 1)), "two positive ints"),
    (lambda: max_pool(CODES, INT8, INT8, activation="GELU"), "Unknown fused activation"),
    (lambda: max_pool(CODES, INT8, Quant.of(0.2, 0, "int8")), "keeps the input's quantization"),
    (lambda: average_pool(CODES, Quant.of(0.1, 0, "int16"), Quant.of(0.1, 0, "int16")),
     "quantization says int16"),
    (lambda: mean(CODES.astype(np.float64), INT8, INT8, (1, 2)), "int8 or int16 codes"),
    (lambda: mean(CODES, INT8, INT8, (4,)), "axis 4 is not an axis"),
    (lambda: mean(CODES.astype(np.int16), Quant.of(0.1, 3, "int16"), Quant.of(0.1, 0, "int16"),
                  (1, 2)), "zero points 0"),
    (lambda: mean(CODES, INT8, Quant.of(0.1, 0, "int16"), (1, 2)), "per-tensor int8"),
    (lambda: resize_nearest_neighbor(CODES.astype(np.float32), (8, 8)), "int8 or int16 codes"),
    (lambda: resize_nearest_neighbor(CODES[0], (8, 8)), "4 axes"),
    (lambda: resize_nearest_neighbor(CODES, (0, 8)), "two positive ints"),
    (lambda: resize_bilinear(CODES, INT8, INT8, (8,)), "two positive ints"),
    (lambda: resize_bilinear(CODES, INT8, INT8, (8, 8), True, True), "half_pixel_centers"),
    (lambda: resize_bilinear(CODES, INT8, Quant.of(0.1, 5, "int8"), (8, 8)),
     "keeps the input's quantization"),
    # 3 rows to 130: the step rounds up to 24/1024 and the last rows sample row 3, which
    # LiteRT's kernel reads past the end of the input.
    (lambda: resize_bilinear(np.zeros((1, 3, 1, 1), np.int8), INT8, INT8, (130, 1)),
     "reads past the input"),
])
def test_bad_input_raises_kernel_error(call, message):
    with pytest.raises(KernelError, match=message):
        call()
