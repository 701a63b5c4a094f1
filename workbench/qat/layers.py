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
# Activations TFLite runs as ops of their own with a fixed int8 output range
# (softmax and logistic: scale 1/256, zero point -128; tanh: scale 1/128, zero point 0).
FIXED_OUTPUT_RANGES = {"softmax": (0.0, 255 / 256), "sigmoid": (0.0, 255 / 256),
                       "tanh": (-1.0, 127 / 128)}
# Activations TFLite fuses into the conv / fully-connected kernel before it.
FUSED_ACTIVATIONS = ("linear", "relu", "relu6")


def activation_name(layer) -> str:
    """The name of a layer's activation function ('' for none)."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", "")


def fake_quant(x, low, high, axis=None, narrow_range=False):
    return keras.quantizers.fake_quant_with_min_max_vars(
        x, low, high, num_bits=8, narrow_range=narrow_range, axis=axis)


def quantize_kernel(kernel, per_channel: bool, training=False):
    """Symmetric fake quantization of a kernel (per last-axis channel, or per tensor).

    The bound is a statistic of the kernel (as in tfmot), and it holds every weight, so the
    gradient is the identity (straight through): in training the quantized kernel is
    ``kernel + stop_gradient(quantized - kernel)``, which spares the backward pass the fake
    quantization's own gradient op and a mask, a count and a division through the max. Exports
    (``training=False``) keep the plain fake-quantization op the converter folds into int8.
    """
    if per_channel:
        flat = ops.reshape(kernel, (-1, kernel.shape[-1]))
        bound = ops.maximum(ops.max(ops.abs(flat), axis=0), 1e-8)
        quantized = fake_quant(kernel, -bound, bound, axis=-1, narrow_range=True)
    else:
        bound = ops.maximum(ops.max(ops.abs(kernel)), 1e-8)
        quantized = fake_quant(kernel, -bound, bound, narrow_range=True)
    if training:
        return kernel + ops.stop_gradient(quantized - kernel)
    return quantized


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
        """Bias, activation, then the output quantizer (the order TFLite's fused kernel runs).

        Softmax, sigmoid and tanh are separate ops in TFLite: the values before them get a
        tracked range, the values after them the op's fixed range."""
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)  # a BiasAdd: fused with the conv and its gradient
        fixed = FIXED_OUTPUT_RANGES.get(activation_name(self))
        if fixed is not None:
            return fake_quant(self.activation(self._quantize_output(outputs, training)), *fixed)
        return self._quantize_output(self.activation(outputs), training)

    def _quantize_output(self, x, training):
        if not self.quantize_output:
            return x
        fixed = None if hasattr(self, "use_bias") else FIXED_OUTPUT_RANGES.get(
            activation_name(self))
        if fixed is not None:  # an Activation or Softmax layer
            return fake_quant(x, *fixed)
        if not training:
            return fake_quant(x, self.range_min, self.range_max)
        # The range is a statistic (no gradient through the batch's min and max: that would
        # add masks, counts and divisions the size of the activation to every backward pass).
        batch_min = ops.stop_gradient(ops.minimum(ops.min(x), 0.0))
        batch_max = ops.stop_gradient(ops.maximum(ops.max(x), 0.0))
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
    def call(self, inputs, training=None):
        kernel = quantize_kernel(self.kernel, self.per_channel, training)
        outputs = self.convolution_op(inputs, kernel)
        return self._finish(outputs, training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDepthwiseConv2D(PerChannelWeights, OutputQuantizer, keras.layers.DepthwiseConv2D):
    def call(self, inputs, training=None):
        kernel = self.kernel  # (kh, kw, in, multiplier): channels are in x multiplier
        flat = ops.reshape(kernel, (kernel.shape[0], kernel.shape[1], -1))
        quantized = ops.reshape(quantize_kernel(flat, self.per_channel, training), kernel.shape)
        outputs = ops.depthwise_conv(inputs, quantized, strides=self.strides,
                                     padding=self.padding, dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        return self._finish(outputs, training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantDense(OutputQuantizer, keras.layers.Dense):
    def call(self, inputs, training=None):
        kernel = quantize_kernel(self.kernel, False, training)
        return self._finish(ops.matmul(inputs, kernel), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantConv2DTranspose(PerChannelWeights, OutputQuantizer, keras.layers.Conv2DTranspose):
    """Weights per tensor: TFLite keeps transposed-convolution kernels as (out, h, w, in), and
    the converter folds a per-tensor fake quantization of Keras' (h, w, out, in) kernel."""

    def __init__(self, *args, per_channel: bool = False, **kwargs):
        super().__init__(*args, per_channel=False, **kwargs)

    def call(self, inputs, training=None):
        outputs = ops.conv_transpose(
            inputs, quantize_kernel(self.kernel, False, training), strides=list(self.strides),
            padding=self.padding, output_padding=self.output_padding,
            dilation_rate=self.dilation_rate, data_format=self.data_format)
        return self._finish(outputs, training)


class ChannelAffine(OutputQuantizer):
    """Mixin for per-channel ``x * multiplier + offset`` layers (Rescaling, a BatchNormalization
    with no convolution before it): run as a 1x1 depthwise convolution with per-channel int8
    weights and an int32 bias, the one int8 TFLite kernel that does this in a single op.
    Subclasses give ``affine() -> (multiplier, offset)``, each of shape (channels,)."""

    def call(self, inputs, training=None, mask=None):
        multiplier, offset = self.affine(inputs.shape[-1])
        kernel = ops.reshape(multiplier, (1, 1, -1, 1))
        bound = ops.maximum(ops.abs(multiplier), 1e-8)
        kernel = fake_quant(kernel, -bound, bound, axis=2, narrow_range=True)
        outputs = ops.depthwise_conv(inputs, kernel, strides=1, padding="valid")
        return self._quantize_output(ops.add(outputs, offset), training)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantRescaling(ChannelAffine, keras.layers.Rescaling):
    def affine(self, channels):
        ones = ops.ones((channels,))
        return (ones * ops.cast(self.scale, "float32"), ones * ops.cast(self.offset, "float32"))


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantBatchNormalization(ChannelAffine, keras.layers.BatchNormalization):
    """Uses its moving statistics in training too (frozen, as QAT fine-tuning usually does);
    gamma and beta still learn."""

    def affine(self, channels):
        multiplier = ops.rsqrt(self.moving_variance + self.epsilon)
        if self.scale:
            multiplier = multiplier * self.gamma
        offset = -self.moving_mean * multiplier
        if self.center:
            offset = offset + self.beta
        return multiplier, offset


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantNormalization(ChannelAffine, keras.layers.Normalization):
    """Normalization over the last axis (``axis=-1``, ``invert=False``)."""

    def affine(self, channels):
        adapted = getattr(self, "adapt_mean", None) is not None
        mean = self.adapt_mean if adapted else self.mean
        variance = self.adapt_variance if adapted else self.variance
        ones = ops.ones((channels,))
        multiplier = ones / ops.maximum(ops.sqrt(ops.reshape(variance, (-1,))),
                                        keras.config.epsilon())
        return multiplier, -ops.reshape(mean, (-1,)) * multiplier


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResizeUpSampling2D(keras.layers.UpSampling2D):
    """UpSampling2D as one resize op (Keras' nearest mode repeats and tiles, which TFLite
    runs as a chain of reshape ops); the output keeps the input's range."""

    def call(self, inputs):
        height, width = inputs.shape[1] * self.size[0], inputs.shape[2] * self.size[1]
        return ops.image.resize(inputs, (height, width), interpolation=self.interpolation)


def _quantized_output_of(keras_class):
    """A layer class that runs ``keras_class`` and fake-quantizes its output."""

    accepted = keras_class.call.__code__.co_varnames

    def call(self, inputs, *args, training=None, **kwargs):
        if "training" in accepted:
            kwargs["training"] = training
        if "mask" not in accepted:
            kwargs.pop("mask", None)
        return self._quantize_output(keras_class.call(self, inputs, *args, **kwargs), training)

    quantized = type(f"Quant{keras_class.__name__}", (OutputQuantizer, keras_class), {
        "call": call, "__module__": __name__,
        "__doc__": f"``{keras_class.__name__}`` whose output is fake-quantized to int8."})
    return keras.saving.register_keras_serializable(package=PACKAGE)(quantized)


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuantizeInput(OutputQuantizer, keras.layers.Identity):
    """Fake-quantizes the model input (its range becomes the int8 input's scale)."""

    def call(self, inputs, training=None):
        return self._quantize_output(inputs, training)


# Layers whose output gets a range of its own in TFLite (the int8 kernel rescales into it).
OUTPUT_QUANTIZED = (keras.layers.ReLU, keras.layers.Add, keras.layers.Subtract,
                    keras.layers.Multiply, keras.layers.Concatenate,
                    keras.layers.GlobalAveragePooling2D, keras.layers.Activation,
                    keras.layers.Softmax)
QUANTIZED_CLASSES = {
    keras.layers.Conv2D: QuantConv2D,
    keras.layers.DepthwiseConv2D: QuantDepthwiseConv2D,
    keras.layers.Conv2DTranspose: QuantConv2DTranspose,
    keras.layers.Dense: QuantDense,
    keras.layers.Rescaling: QuantRescaling,
    keras.layers.BatchNormalization: QuantBatchNormalization,
    keras.layers.Normalization: QuantNormalization,
    keras.layers.UpSampling2D: ResizeUpSampling2D,
    **{keras_class: _quantized_output_of(keras_class) for keras_class in OUTPUT_QUANTIZED},
}
