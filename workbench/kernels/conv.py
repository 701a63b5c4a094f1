"""Convolutions and fully connected layers on integer codes, as TFLite's reference kernels
compute them: int32 (int8 activations) or int64 (int16 activations) accumulators of
``(input - input_zero_point) * filter``, plus the bias, scaled per output channel by
``input_scale * filter_scale / output_scale`` in fixed point, plus the output zero point,
clamped to the fused activation's range.

The accumulation runs as one float64 matrix product: every product and partial sum is an
integer below 2**53, so the sum is exact whatever order BLAS adds in.

Example:
    >>> x = np.array([[[[10], [20]]]], np.int8)                 # NHWC, 1x1x2x1
    >>> w = np.array([[[[3]]]], np.int8)                        # (out, kh, kw, in)
    >>> conv2d(x, Quant.of(0.5, 0), w, Quant.of(0.1), np.array([0], np.int32),
    ...        Quant.of(0.25, 0))
    array([[[[ 6],
             [12]]]], dtype=int8)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from workbench.errors import KernelError
from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier,
                                           multiply_by_quantized_multiplier_wide,
                                           quantize_multiplier, round_half_away,
                                           wrap_int32)
from workbench.kernels.quant import (ACTIVATION_DTYPES, Quant, check_codes, clamp_output,
                                     output_size, padding_before)

def conv2d(x, x_q: Quant, w, w_q: Quant, bias, out_q: Quant, stride=(1, 1), dilation=(1, 1),
           padding: str = "SAME", activation: str = "NONE") -> np.ndarray:
    """CONV_2D: ``x`` (N, H, W, C) int8 or int16, ``w`` (O, KH, KW, C) int8 with per-tensor
    or per-output-channel scales, ``bias`` (O,) int32 / int64 or None."""
    check_codes(x, "the conv input", ACTIVATION_DTYPES, ndim=4)
    check_codes(w, "the conv filter", ("int8",), ndim=4)
    if w.shape[3] != x.shape[3]:
        raise KernelError(f"The conv filter of shape {w.shape} reads {w.shape[3]} channels, "
                          f"the input of shape {x.shape} has {x.shape[3]}. Pass the filter as "
                          "(out channels, height, width, in channels).")
    windows = _windows(_centred(x, x_q), w.shape[1:3], stride, dilation, padding)
    patches = windows.reshape(-1, np.prod(windows.shape[3:]))
    kernel = w.transpose(1, 2, 3, 0).reshape(-1, w.shape[0]).astype(np.float64)
    accumulators = (patches @ kernel).reshape(*windows.shape[:3], w.shape[0])
    return _output(accumulators, bias, x_q, w_q, out_q, activation)


def depthwise_conv2d(x, x_q: Quant, w, w_q: Quant, bias, out_q: Quant, stride=(1, 1),
                     dilation=(1, 1), padding: str = "SAME", activation: str = "NONE",
                     depth_multiplier: int = 1) -> np.ndarray:
    """DEPTHWISE_CONV_2D: ``w`` (1, KH, KW, C * depth_multiplier); output channel
    ``c * depth_multiplier + m`` reads input channel ``c``."""
    check_codes(x, "the depthwise input", ACTIVATION_DTYPES, ndim=4)
    check_codes(w, "the depthwise filter", ("int8",), ndim=4)
    if w.shape[3] != x.shape[3] * depth_multiplier:
        raise KernelError(f"The depthwise filter of shape {w.shape} has {w.shape[3]} output "
                          f"channels; an input of {x.shape[3]} channels with depth multiplier "
                          f"{depth_multiplier} needs {x.shape[3] * depth_multiplier}.")
    centred = np.repeat(_centred(x, x_q), depth_multiplier, axis=3)
    windows = _windows(centred, w.shape[1:3], stride, dilation, padding)  # N,OH,OW,KH,KW,C
    accumulators = np.einsum("nhwijc,ijc->nhwc", windows, w[0].astype(np.float64))
    return _output(accumulators, bias, x_q, w_q, out_q, activation)


def transpose_conv2d(x, x_q: Quant, w, w_q: Quant, bias, out_q: Quant, output_shape,
                     stride=(1, 1), padding: str = "SAME",
                     activation: str = "NONE") -> np.ndarray:
    """TRANSPOSE_CONV: each input pixel spreads ``input * filter`` over a KH x KW patch of
    the output, patches ``stride`` apart; ``w`` (O, KH, KW, C), ``output_shape`` NHWC."""
    check_codes(x, "the transposed conv input", ("int8",), ndim=4)
    check_codes(w, "the transposed conv filter", ("int8",), ndim=4)
    batch, height, width, _ = x.shape
    _, kernel_h, kernel_w, _ = w.shape
    out_h, out_w = output_shape[1], output_shape[2]
    pad_h = padding_before(out_h, kernel_h, stride[0], 1, padding)
    pad_w = padding_before(out_w, kernel_w, stride[1], 1, padding)
    span_h = max((height - 1) * stride[0] + kernel_h, pad_h + out_h)
    span_w = max((width - 1) * stride[1] + kernel_w, pad_w + out_w)
    scratch = np.zeros((batch, span_h, span_w, w.shape[0]))
    centred = _centred(x, x_q)
    for row in range(kernel_h):  # a loop over the filter's taps, not over pixels
        for column in range(kernel_w):
            scratch[:, row:row + height * stride[0]:stride[0],
                    column:column + width * stride[1]:stride[1]] += \
                centred @ w[:, row, column, :].T.astype(np.float64)
    accumulators = scratch[:, pad_h:pad_h + out_h, pad_w:pad_w + out_w]
    return _output(accumulators, bias, x_q, w_q, out_q, activation)


def fully_connected(x, x_q: Quant, w, w_q: Quant, bias, out_q: Quant,
                    activation: str = "NONE") -> np.ndarray:
    """FULLY_CONNECTED: ``x`` (..., K) flattened to rows of K, ``w`` (O, K) with one scale
    or one per output; returns (rows, O)."""
    check_codes(x, "the fully connected input", ACTIVATION_DTYPES)
    check_codes(w, "the fully connected weights", ("int8",), ndim=2)
    if x.size % w.shape[1]:
        raise KernelError(f"The fully connected weights of shape {w.shape} read rows of "
                          f"{w.shape[1]} values; the input of shape {x.shape} does not split "
                          "into such rows.")
    rows = _centred(x, x_q).reshape(-1, w.shape[1])
    accumulators = (rows @ w.T.astype(np.float64)).astype(np.int64)
    if bias is not None:
        accumulators = accumulators + np.asarray(bias, np.int64)
    if x_q.dtype == np.int8:
        accumulators = wrap_int32(accumulators)
    # LiteRT's reference FC requantizes in double, not in fixed point like its conv (and like
    # its own optimized FC): round(acc * input_scale * filter_scale / output_scale).
    scaled = round_half_away(accumulators * channel_scales(x_q, w_q, out_q)).astype(np.int64)
    return clamp_output(scaled, out_q, activation)


def _centred(x: np.ndarray, x_q: Quant) -> np.ndarray:
    """``x - zero_point`` as float64: padding with 0 then adds nothing, as the reference
    kernels skip taps outside the input."""
    return x.astype(np.float64) - x_q.zero


def _windows(x: np.ndarray, window, stride, dilation, padding: str) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) views of the padded input under each output position."""
    pads = [(0, 0)]
    for axis in (1, 2):
        size, k, s, d = x.shape[axis], window[axis - 1], stride[axis - 1], dilation[axis - 1]
        out = output_size(size, k, s, d, padding)
        before = padding_before(size, k, s, d, padding)
        pads.append((before, max((out - 1) * s + (k - 1) * d + 1 - size - before, 0)))
    padded = np.pad(x, [*pads, (0, 0)])
    spans = [(window[i] - 1) * dilation[i] + 1 for i in (0, 1)]
    views = sliding_window_view(padded, spans, axis=(1, 2))  # N, H', W', C, KH', KW'
    out_h = output_size(x.shape[1], window[0], stride[0], dilation[0], padding)
    out_w = output_size(x.shape[2], window[1], stride[1], dilation[1], padding)
    views = views[:, :out_h * stride[0]:stride[0], :out_w * stride[1]:stride[1], :,
                  ::dilation[0], ::dilation[1]]
    return views.transpose(0, 1, 2, 4, 5, 3)


def _output(accumulators, bias, x_q: Quant, w_q: Quant, out_q: Quant,
            activation: str) -> np.ndarray:
    """Add the bias, scale each output channel in fixed point, offset, clamp."""
    accumulators = accumulators.astype(np.int64)  # exact: integers below 2**53
    if bias is not None:
        accumulators = accumulators + np.asarray(bias, np.int64)
    multiplier, shift = quantize_multiplier(channel_scales(x_q, w_q, out_q))
    if x_q.dtype == np.int16 and (bias is None or np.asarray(bias).dtype == np.int64):
        scaled = multiply_by_quantized_multiplier_wide(accumulators, multiplier, shift)
    else:
        scaled = multiply_by_quantized_multiplier(wrap_int32(accumulators), multiplier, shift)
    return clamp_output(scaled, out_q, activation)


def channel_scales(x_q: Quant, w_q: Quant, out_q: Quant) -> np.ndarray:
    """The real multiplier of each output channel, ``input_scale * filter_scale /
    output_scale``, in double as TFLite computes it."""
    return np.float64(x_q.scale[0]) * w_q.scale.astype(np.float64) / np.float64(out_q.scale[0])
