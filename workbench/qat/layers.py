"""Keras 3 layers that simulate TFLite int8 inference during training (fake quantization).

Weights: symmetric, narrow range [-127, 127]; per output channel for Conv2D and
DepthwiseConv2D, per tensor for Dense (TFLite requires it). Activations:
asymmetric ranges tracked with an exponential moving average during training
(always containing 0). A layer whose output feeds a ReLU leaves the quantizing
to the ReLU, since TFLite fuses the two. All classes are registered, so a QAT
model loads with plain ``keras.saving.load_model`` once ``workbench.qat`` is imported.

Example:
    >>> layer = QuantDense(10)                                         # doctest: +SKIP
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "workbench"
EMA_MOMENTUM = 0.99


def fake_quant(x, low, high, axis=None, narrow_range=False):
    return keras.quantizers.fake_quant_with_min_max_vars(
        x, low, high, num_bits=8, narrow_range=narrow_range, axis=axis)


def quantize_kernel(kernel, per_channel: bool):
    """Symmetric fake quantization of a kernel (per last-axis channel, or per tensor)."""
    if per_channel:
        flat = ops.reshape(kernel, (-1, kernel.shape[-1]))
        bound = ops.maximum(ops.max(ops.abs(flat), axis=0), 1e-8)
        return fake_quant(kernel, -bound, bound, axis=-1, narrow_range=True)
    bound = ops.maximum(ops.max(ops.abs(kernel)), 1e-8)
    return fake_quant(kernel, -bound, bound, narrow_range=True)


class OutputQuantizer:
    """Mixin (listed before the Keras layer class): a tracked activation range and the fake
    quantization of the layer's output."""

    def __init__(self, *args, quantize_output: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantize_output = quantize_output

    def build(self, input_shape):
        super().build(input_shape)
        if self.quantize_output:
            self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros",
                                             trainable=False)
            self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros",
                                             trainable=False)
            self.range_seen = self.add_weight(name="range_seen", shape=(), initializer="zeros",
                                              trainable=False)

    def get_config(self):
        return {**super().get_config(), "quantize_output": self.quantize_output}

    RANGE_KEYS = ("range_min", "range_max", "range_seen")

    # Keras' Dense and Conv save exactly their kernel and bias; other layers save all their
    # variables. In the first case the ranges are stored beside, under their own names.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.quantize_output and len(store.keys()) < len(self.variables):
            for key in self.RANGE_KEYS:
                store[key] = getattr(self, key).numpy()

    def load_own_variables(self, store):
        ranges_apart = self.quantize_output and self.RANGE_KEYS[0] in store.keys()
        if not ranges_apart:
            return super().load_own_variables(store)
        self._ranges_apart = True
        try:
            super().load_own_variables(
                {key: store[key] for key in store.keys() if key not in self.RANGE_KEYS})
        finally:
            self._ranges_apart = False
        for key in self.RANGE_KEYS:
            getattr(self, key).assign(store[key])

    def _check_load_own_variables(self, store):
        if not getattr(self, "_ranges_apart", False):
            return super()._check_load_own_variables(store)
        expected = len(self.variables) - len(self.RANGE_KEYS)
        if len(store.keys()) != expected:
            raise ValueError(f"Layer '{self.name}' expected {expected} stored variables besides "
                             f"its ranges, but received {len(store.keys())}.")

    def _finish(self, outputs, training):
        """Bias, activation, then the output quantizer (the order TFLite's fused kernel runs)."""
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return self._quantize_output(outputs, training)

    def _quantize_output(self, x, training):
        if not self.quantize_output:
            return x
        if not training:
            return fake_quant(x, self.range_min, self.range_max)
        batch_min = ops.minimum(ops.min(x), 0.0)
        batch_max = ops.maximum(ops.max(x), 0.0)
        first = ops.equal(self.range_seen, 0.0)
        low = ops.where(first, batch_min,
                        EMA_MOMENTUM * self.range_min + (1 - EMA_MOMENTUM) * batch_min)
        high = ops.where(first, batch_max,
                         EMA_MOMENTUM * self.range_max + (1 - EMA_MOMENTUM) * batch_max)
        self.range_min.assign(low)
        self.range_max.assign(high)
        self.range_seen.assign(1.0)
        return fake_quant(x, low, high)


class PerChannelWeights:
    """Mixin for convolutions: per-output-channel weight scales (TFLite's default), or one
    scale per tensor (``per_channel=False``), which keeps N shared values N int8 values."""

    def __init__(self, *args, per_channel: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.per_channel = per_channel

    def get_config(self):
        return {**super().get_config(), "per_channel": self.per_channel}


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantConv2D(PerChannelWeights, OutputQuantizer, keras.layers.Conv2D):
    def convolution_op(self, inputs, kernel):
        return keras.layers.Conv2D.convolution_op(
            self, inputs, quantize_kernel(kernel, self.per_channel))

    def call(self, inputs, training=None):
        return self._quantize_output(keras.layers.Conv2D.call(self, inputs), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDepthwiseConv2D(PerChannelWeights, OutputQuantizer, keras.layers.DepthwiseConv2D):
    def call(self, inputs, training=None):
        kernel = self.kernel  # (kh, kw, in, multiplier): channels are in x multiplier
        flat = ops.reshape(kernel, (kernel.shape[0], kernel.shape[1], -1))
        quantized = ops.reshape(quantize_kernel(flat, self.per_channel), kernel.shape)
        outputs = ops.depthwise_conv(inputs, quantized, strides=self.strides,
                                     padding=self.padding, dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        return self._finish(outputs, training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDense(OutputQuantizer, keras.layers.Dense):
    def call(self, inputs, training=None):
        return self._finish(ops.matmul(inputs, quantize_kernel(self.kernel, False)), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantReLU(OutputQuantizer, keras.layers.ReLU):
    def call(self, inputs, training=None):
        return self._quantize_output(keras.layers.ReLU.call(self, inputs), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantAdd(OutputQuantizer, keras.layers.Add):
    def call(self, inputs, training=None):
        return self._quantize_output(keras.layers.Add.call(self, inputs), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantizeInput(OutputQuantizer, keras.layers.Identity):
    """Fake-quantizes the model input (its range becomes the int8 input's scale)."""

    def call(self, inputs, training=None):
        return self._quantize_output(inputs, training)


QUANTIZED_CLASSES = {
    keras.layers.Conv2D: QuantConv2D,
    keras.layers.DepthwiseConv2D: QuantDepthwiseConv2D,
    keras.layers.Dense: QuantDense,
    keras.layers.ReLU: QuantReLU,
    keras.layers.Add: QuantAdd,
}
