"""The networks the published latencies were measured on, randomly initialised.

A latency depends on the graph, not the weights, so each cell of
bench/reference/published_latencies.csv names a builder: a keras.applications one (called with
``weights=None``), or one of the two built here from their published definitions:

- ``resnet8``: MLPerf Tiny's image-classification ResNet (ST's ResNet v1 8);
- ``EfficientNetLite0`` ... ``EfficientNetLite4``: EfficientNet without squeeze-and-excite,
  with ReLU6, and a stem and head that do not scale (tensorflow/tpu,
  models/official/efficientnet/lite/efficientnet_lite_builder.py).

    >>> model = network("EfficientNetLite0", 224)                               # doctest: +SKIP
    >>> sum(weight.numpy().size for weight in model.trainable_weights)         # doctest: +SKIP
    4652008
"""

from __future__ import annotations

import math

# (width, depth) multipliers of EfficientNet-lite0..4; their input sizes are 224, 240, 260,
# 280 and 300, taken from the cell.
EFFICIENTNET_LITE = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2), 3: (1.2, 1.4), 4: (1.4, 1.8)}
# EfficientNet-B0's stages: repeats, kernel, stride, expansion, output filters
EFFICIENTNET_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                       (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
BUILT_HERE = {"resnet8", *(f"EfficientNetLite{index}" for index in EFFICIENTNET_LITE)}


def network(builder: str, size: int, alpha: float = 1.0, classes: int = 1000):
    """A randomly initialised network for a square input of ``size`` pixels; ``alpha`` is the
    width of the MobileNets."""
    import keras

    shape = (size, size, 3)
    if builder == "resnet8":
        return resnet8(shape, classes)
    if builder.startswith("EfficientNetLite"):
        return efficientnet_lite(int(builder.removeprefix("EfficientNetLite")), shape, classes)
    kwargs = {"alpha": alpha} if builder.startswith("MobileNet") else {}
    if builder.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = False  # the published models take scaled inputs
    return getattr(keras.applications, builder)(weights=None, input_shape=shape,
                                                classes=classes, **kwargs)


def resnet8(shape, classes: int):
    """MLPerf Tiny's image-classification ResNet (ST's ResNet v1 8): a 16-filter stem, three
    residual stacks of 16, 32 and 64 filters (strides 1, 2, 2; 1x1 convolutions on the
    shortcuts that change shape), average pooling and a dense layer."""
    import keras
    from keras import layers

    def block(x, filters, stride):
        y = layers.Conv2D(filters, 3, stride, padding="same")(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(y))
        if stride != 1 or x.shape[-1] != filters:
            x = layers.Conv2D(filters, 1, stride)(x)
        return layers.ReLU()(layers.Add()([x, y]))

    inputs = keras.Input(shape)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same")(inputs)))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        x = block(x, filters, stride)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def efficientnet_lite(index: int, shape, classes: int):
    """EfficientNet-lite``index``: inverted residual blocks with ReLU6 and no squeeze-and-excite;
    widths scaled and rounded to multiples of 8, repeats scaled except in the first and last
    stage, the 32-filter stem and 1280-filter head fixed, and a full-size average pool."""
    import keras
    from keras import layers

    width, depth = EFFICIENTNET_LITE[index]

    def scaled(filters):
        rounded = max(8, int(filters * width + 4) // 8 * 8)
        return rounded + 8 if rounded < 0.9 * filters * width else rounded

    def conv_bn(x, filters, kernel=1, stride=1, activate=True):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(epsilon=1e-3)(x)
        return layers.ReLU(6.0)(x) if activate else x

    inputs = keras.Input(shape)
    x = conv_bn(inputs, 32, 3, 2)
    for stage, (repeats, kernel, stride, expansion, filters) in enumerate(EFFICIENTNET_STAGES):
        fixed = stage in (0, len(EFFICIENTNET_STAGES) - 1)
        for repeat in range(repeats if fixed else math.ceil(depth * repeats)):
            block_input = x
            if expansion != 1:
                x = conv_bn(x, x.shape[-1] * expansion)
            x = layers.DepthwiseConv2D(kernel, stride if repeat == 0 else 1, padding="same",
                                       use_bias=False)(x)
            x = layers.ReLU(6.0)(layers.BatchNormalization(epsilon=1e-3)(x))
            x = conv_bn(x, scaled(filters), activate=False)
            if repeat > 0:
                x = layers.Add()([x, block_input])
    x = conv_bn(x, 1280)
    x = layers.Flatten()(layers.AveragePooling2D(x.shape[1:3])(x))
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))
