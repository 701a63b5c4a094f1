"""Keras models the tests build and share (not tests themselves).

Example:
    >>> from model_builders import mixed_model                       # doctest: +SKIP
    >>> mixed_model().count_params() > 0                             # doctest: +SKIP
    True
"""

import keras


def branch_block(name):
    """A nested sub-model: conv -> BN -> ReLU beside a depthwise conv, concatenated."""
    inputs = keras.Input((8, 8, 8))
    a = keras.layers.Conv2D(8, 3, padding="same", name=f"{name}_conv")(inputs)
    a = keras.layers.BatchNormalization(name=f"{name}_bn")(a)
    a = keras.layers.ReLU(name=f"{name}_relu")(a)
    b = keras.layers.DepthwiseConv2D(3, padding="same", name=f"{name}_dw")(inputs)
    return keras.Model(inputs, keras.layers.Concatenate(name=f"{name}_cat")([a, b]), name=name)


def mixed_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    x = branch_block("inner")(x)
    x = keras.layers.BatchNormalization(name="standalone_bn")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="down")(x)
    x = keras.layers.Activation("relu", name="down_relu")(x)
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="up_conv")(x)
    x = keras.layers.UpSampling2D(name="upsample")(x)
    x = keras.layers.AveragePooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="fc")(x))
