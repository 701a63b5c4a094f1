"""The builtin ops ``run_tflite`` implements: each reads its inputs, quantization and
options from an ``OpCall`` and returns its outputs (one array each)."""

from __future__ import annotations

import numpy as np

from workbench.errors import KernelError
from workbench.kernels import activations, conv, elementwise, pooling, resize
from workbench.kernels.quant import dequantize, quantize, requantize
from workbench.kernels.runner import PADDINGS, OpCall


def _window_options(call: OpCall) -> dict:
    o = call.options
    return {"stride": (o.strideH, o.strideW), "padding": PADDINGS[o.padding],
            "activation": call.activation}


def _conv(call: OpCall):
    o = call.options
    return [conv.conv2d(call.input(0), call.quant(0), call.input(1), call.quant(1),
                        call.input(2), call.output_quant(), **_window_options(call),
                        dilation=(o.dilationHFactor, o.dilationWFactor))]


def _depthwise(call: OpCall):
    o = call.options
    x, w = call.input(0), call.input(1)
    return [conv.depthwise_conv2d(x, call.quant(0), w, call.quant(1), call.input(2),
                                  call.output_quant(), **_window_options(call),
                                  dilation=(o.dilationHFactor, o.dilationWFactor),
                                  depth_multiplier=w.shape[3] // x.shape[3])]


def _transpose_conv(call: OpCall):
    o = call.options
    bias = call.input(3) if len(call.op.inputs) > 3 else None
    return [conv.transpose_conv2d(call.input(2), call.quant(2), call.input(1), call.quant(1),
                                  bias, call.output_quant(), tuple(call.input(0)),
                                  stride=(o.strideH, o.strideW), padding=PADDINGS[o.padding],
                                  activation=call.activation)]


def _fully_connected(call: OpCall):
    if getattr(call.options, "weightsFormat", 0):
        raise KernelError(f"Op {call.index} (FULLY_CONNECTED) stores shuffled weights, which "
                          "the integer kernels do not read.")
    x = call.input(0)
    result = conv.fully_connected(x, call.quant(0), call.input(1), call.quant(1),
                                  call.input(2), call.output_quant(), call.activation)
    keep = getattr(call.options, "keepNumDims", False)
    return [result.reshape(*x.shape[:-1], -1) if keep else result]


def _binary(kernel):
    def run(call: OpCall):
        return [kernel(call.input(0), call.quant(0), call.input(1), call.quant(1),
                       call.output_quant(), call.activation)]
    return run


def _add(call: OpCall):
    if call.quant(0).dtype == np.int16 and getattr(call.options, "potScaleInt16", False) and \
            _all_power_of_two(call):
        raise KernelError(f"Op {call.index} (ADD) uses the int16 power-of-two-scale path, "
                          "which the integer kernels do not implement.")
    return _binary(elementwise.add)(call)


def _all_power_of_two(call: OpCall) -> bool:
    scales = [call.quant(0).scale[0], call.quant(1).scale[0], call.output_quant().scale[0]]
    return all(np.frexp(np.float32(s))[0] == 0.5 for s in scales)


def _concatenation(call: OpCall):
    target = call.output_quant()
    parts = [call.input(i) for i in range(len(call.op.inputs))]
    for i in range(len(parts)):
        source = call.quant(i)
        if source.scale[0] != target.scale[0] or source.zero != target.zero:
            raise KernelError(f"Op {call.index} (CONCATENATION): input {i} has scale "
                              f"{source.scale[0]}, zero point {source.zero}; the output "
                              f"{target.scale[0]}, {target.zero}. TFLite's int8 concatenation "
                              "requires them equal.")
    return [np.concatenate(parts, axis=call.options.axis)]


def _reshape(call: OpCall):
    shape = call.input(1) if len(call.op.inputs) > 1 and call.input(1) is not None \
        else getattr(call.options, "newShape", None)
    return [call.input(0).reshape(call.output_shape() if shape is None else
                                  tuple(int(n) for n in np.ravel(shape)))]


def _squeeze(call: OpCall):
    axes = tuple(getattr(call.options, "squeezeDims", None) or ())
    return [np.squeeze(call.input(0), axis=axes or None)]


def _expand_dims(call: OpCall):
    return [np.expand_dims(call.input(0), int(np.ravel(call.input(1))[0]))]


def _space_to_batch(call: OpCall):
    """SPACE_TO_BATCH_ND (NHWC): pad with the zero point, then each block offset becomes a
    batch (how the converter runs a dilated convolution)."""
    x, (block_h, block_w) = call.input(0), np.ravel(call.input(1)).tolist()
    padded = np.pad(x, [(0, 0), *np.asarray(call.input(2)).reshape(2, 2).tolist(), (0, 0)],
                    constant_values=call.output_quant().zero)
    n, h, w, c = padded.shape
    blocks = padded.reshape(n, h // block_h, block_h, w // block_w, block_w, c)
    return [blocks.transpose(2, 4, 0, 1, 3, 5).reshape(-1, h // block_h, w // block_w, c)]


def _batch_to_space(call: OpCall):
    """BATCH_TO_SPACE_ND (NHWC): SPACE_TO_BATCH_ND undone, then cropped."""
    x, (block_h, block_w) = call.input(0), np.ravel(call.input(1)).tolist()
    (top, bottom), (left, right) = np.asarray(call.input(2)).reshape(2, 2).tolist()
    batch, h, w, c = x.shape
    n = batch // (block_h * block_w)
    space = x.reshape(block_h, block_w, n, h, w, c).transpose(2, 3, 0, 4, 1, 5)
    space = space.reshape(n, h * block_h, w * block_w, c)
    return [space[:, top:h * block_h - bottom, left:w * block_w - right]]


def _shape(call: OpCall):
    return [np.array(call.input(0).shape, np.dtype(call.info.tensors[call.op.outputs[0]].dtype))]


def _pack(call: OpCall):
    parts = [call.input(i) for i in range(len(call.op.inputs))]
    return [np.stack(parts, axis=call.options.axis)]


def _strided_slice(call: OpCall):
    """STRIDED_SLICE with begin, end and shrink-axis masks (no ellipsis or new axes)."""
    o = call.options
    if o.ellipsisMask or o.newAxisMask or getattr(o, "offset", False):
        raise KernelError(f"Op {call.index} (STRIDED_SLICE) uses an ellipsis, new-axis or "
                          "offset mask, which the integer kernels do not implement.")
    x = call.input(0)
    begin, end, strides = (np.atleast_1d(call.input(i)).tolist() for i in (1, 2, 3))
    index = []
    for axis, (start, stop, step) in enumerate(zip(begin, end, strides)):
        if o.shrinkAxisMask >> axis & 1:
            index.append(start)
            continue
        index.append(slice(None if o.beginMask >> axis & 1 else start,
                           None if o.endMask >> axis & 1 else stop, step))
    return [x[tuple(index)]]


def _pad(call: OpCall):
    paddings = np.asarray(call.input(1)).reshape(-1, 2)
    value = call.input(2) if call.op.name == "PADV2" and call.input(2) is not None \
        else call.output_quant().zero
    return [np.pad(call.input(0), paddings, constant_values=np.asarray(value).item())]


def _quantize(call: OpCall):
    x = call.input(0)
    if x.dtype.kind == "f":
        return [quantize(x, call.output_quant())]
    return [requantize(x, call.quant(0), call.output_quant())]


def _dequantize(call: OpCall):
    x = call.input(0)
    return [x.astype(np.float32) if x.dtype == np.float16 else dequantize(x, call.quant(0))]


def _pool(kernel):
    def run(call: OpCall):
        o = call.options
        return [kernel(call.input(0), call.quant(0), call.output_quant(),
                       filter=(o.filterHeight, o.filterWidth), **_window_options(call))]
    return run


def _mean(call: OpCall):
    axes = tuple(int(a) for a in np.atleast_1d(call.input(1)))
    return [pooling.mean(call.input(0), call.quant(0), call.output_quant(), axes,
                         bool(call.options.keepDims))]


def _resize_nearest(call: OpCall):
    o = call.options
    return [resize.resize_nearest_neighbor(call.input(0), tuple(call.input(1)),
                                           o.alignCorners, o.halfPixelCenters)]


def _resize_bilinear(call: OpCall):
    o = call.options
    return [resize.resize_bilinear(call.input(0), call.quant(0), call.output_quant(),
                                   tuple(call.input(1)), o.alignCorners, o.halfPixelCenters)]


def _softmax(call: OpCall):
    return [activations.softmax(call.input(0), call.quant(0), call.output_quant(),
                                call.options.beta)]


def _unary(kernel):
    def run(call: OpCall):
        return [kernel(call.input(0), call.quant(0), call.output_quant())]
    return run


OPS = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _fully_connected,
    "TRANSPOSE_CONV": _transpose_conv,
    "ADD": _add, "SUB": _binary(elementwise.sub), "MUL": _binary(elementwise.mul),
    "AVERAGE_POOL_2D": _pool(pooling.average_pool), "MAX_POOL_2D": _pool(pooling.max_pool),
    "MEAN": _mean, "CONCATENATION": _concatenation, "RESHAPE": _reshape,
    "SQUEEZE": _squeeze, "EXPAND_DIMS": _expand_dims, "SPACE_TO_BATCH_ND": _space_to_batch,
    "BATCH_TO_SPACE_ND": _batch_to_space, "PAD": _pad, "PADV2": _pad,
    "SHAPE": _shape, "PACK": _pack, "STRIDED_SLICE": _strided_slice,
    "RESIZE_NEAREST_NEIGHBOR": _resize_nearest, "RESIZE_BILINEAR": _resize_bilinear,
    "SOFTMAX": _softmax, "LOGISTIC": _unary(activations.logistic),
    "TANH": _unary(activations.tanh), "HARD_SWISH": _unary(activations.hard_swish),
    "QUANTIZE": _quantize, "DEQUANTIZE": _dequantize,
}
