"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on integer codes, as LiteRT's reference
kernels compute them.

``resize_nearest_neighbor`` reproduces ``reference_ops::ResizeNearestNeighbor``: each output
row and column copies the input's at ``floor((i + offset) * scale)`` (``round`` with
``align_corners``), computed in float32. ``resize_bilinear`` reproduces
``reference_ops::ResizeBilinearInteger`` (LiteRT's int8 and int16 path): the sampling
positions in 10-bit fixed point, the four weighted taps summed exactly in int64 and rounded
once, halves away from zero. Neither rescales codes: the converter gives the output the
input's scale and zero point.

Example:
    >>> codes = np.array([0, 10, 20], np.int8).reshape(1, 1, 3, 1)
    >>> resize_nearest_neighbor(codes, (1, 6), half_pixel_centers=True)[0, 0, :, 0]
    array([ 0,  0, 10, 10, 20, 20], dtype=int8)
    >>> params = Quant.of(0.1, 0, "int8")
    >>> resize_bilinear(codes, params, params, (1, 6), half_pixel_centers=True)[0, 0, :, 0]
    array([ 0,  3,  8, 13, 18, 20], dtype=int8)
"""

from __future__ import annotations

import numpy as np

from workbench.errors import KernelError
from workbench.kernels.fixed_point import round_half_away
from workbench.kernels.pooling import (check_same_quantization, checked_codes, positive_pair,
                                       rounded_divide)
from workbench.kernels.quant import Quant

__all__ = ["resize_nearest_neighbor", "resize_bilinear"]

FRACTION_BITS = 10  # ResizeBilinearInteger's sampling positions: 1.0 is 1 << 10
ONE = 1 << FRACTION_BITS


def resize_nearest_neighbor(x: np.ndarray, size, align_corners: bool = False,
                            half_pixel_centers: bool = False) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR of NHWC codes to ``size`` (height, width); the codes are
    copied, so any quantization carries over."""
    x = checked_codes(x, "resize_nearest_neighbor", 4)
    height, width = positive_pair(size, "resize_nearest_neighbor size")
    rows = _nearest_sources(x.shape[1], height, align_corners, half_pixel_centers)
    cols = _nearest_sources(x.shape[2], width, align_corners, half_pixel_centers)
    return x[:, rows][:, :, cols]


def resize_bilinear(x: np.ndarray, x_q: Quant, out_q: Quant, size, align_corners: bool = False,
                    half_pixel_centers: bool = False) -> np.ndarray:
    """RESIZE_BILINEAR of NHWC codes to ``size`` (height, width)."""
    x = checked_codes(x, "resize_bilinear", 4, x_q)
    check_same_quantization(x_q, out_q, "resize_bilinear")
    if align_corners and half_pixel_centers:  # LiteRT's Prepare refuses the pair
        raise KernelError("The resize_bilinear half_pixel_centers needs align_corners=False, "
                          "received both True (LiteRT refuses the pair). Choose one.")
    height, width = positive_pair(size, "resize_bilinear size")
    rows = _bilinear_taps(x.shape[1], height, align_corners, half_pixel_centers)
    cols = _bilinear_taps(x.shape[2], width, align_corners, half_pixel_centers)
    # The four taps' sum is exact in int64, so it can be taken one axis after the other.
    weighted = _interpolated(_interpolated(x.astype(np.int64), cols, axis=2), rows, axis=1)
    return rounded_divide(weighted, ONE * ONE).astype(x.dtype)


def _nearest_sources(in_size: int, out_size: int, align_corners: bool,
                     half_pixel_centers: bool) -> np.ndarray:
    """The input index each output index copies (``GetNearestNeighbor``, in float32)."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    position = (np.arange(out_size, dtype=np.float32) + offset) * scale
    nearest = round_half_away(position) if align_corners else np.floor(position)
    nearest = np.minimum(nearest.astype(np.int64), in_size - 1)
    return np.maximum(nearest, 0) if half_pixel_centers else nearest


def _bilinear_taps(in_size: int, out_size: int, align_corners: bool,
                   half_pixel_centers: bool) -> tuple[np.ndarray, ...]:
    """``(lower, upper, lower_weight, upper_weight)`` per output index along one axis
    (``ComputeInterpolationValuesInteger``); the weights are in 1/1024ths."""
    corners = align_corners and out_size > 1  # then the end pixels' centres line up
    span_in, span_out = (in_size - 1, out_size - 1) if corners else (in_size, out_size)
    scale = (ONE * span_in + span_out // 2) // span_out  # rounded, in 1/1024ths
    position = np.arange(out_size, dtype=np.int64) * scale
    if half_pixel_centers:
        position += scale // 2 - ONE // 2
    # position >= -512 here, so floor division agrees with C++'s truncation after the clamp.
    lower = np.maximum(position // ONE, 0)
    upper = np.minimum((position + ONE - 1) // ONE, in_size - 1)
    if lower.max() > in_size - 1:
        raise KernelError(
            f"The resize_bilinear from {in_size} to {out_size} pixels rounds the sampling "
            "step up so far that LiteRT's integer kernel reads past the input (garbage "
            "codes). Use a smaller factor, or resize in two steps.")
    fraction = position - ONE * lower  # negative only where lower == upper
    return lower, upper, ONE - fraction, fraction


def _interpolated(values: np.ndarray, taps, axis: int) -> np.ndarray:
    """``values`` sampled along ``axis`` at the taps' two neighbours, weighted (unscaled)."""
    lower, upper, lower_weight, upper_weight = taps
    shape = [1] * values.ndim
    shape[axis] = -1
    return (np.take(values, lower, axis) * lower_weight.reshape(shape)
            + np.take(values, upper, axis) * upper_weight.reshape(shape))
