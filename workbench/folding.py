"""Fold BatchNormalization into the convolution or Dense layer before it, as the TFLite converter does.

After folding, a kernel's values are exactly the values the ``.tflite`` stores,
so a transform that constrains values (clustering: N shared values) survives
conversion. Each folded BatchNormalization becomes an ``Identity`` layer (the
converter drops it); the layer before it gains a bias.

Example:
    >>> folded, pairs = fold_batch_norms(model)                        # doctest: +SKIP
    >>> pairs                                                          # doctest: +SKIP
    [('stem_conv', 'stem_bn'), ('block_dw', 'block_dw_bn')]
"""

from __future__ import annotations

import keras
import numpy as np

FOLDABLE = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
            keras.layers.DepthwiseConv2D, keras.layers.Dense)


def foldable_pairs(model) -> dict[str, str]:
    """``{layer name: batch-norm name}`` for each BatchNormalization that can be folded:
    its input comes straight from a linear conv / depthwise / Dense layer used nowhere else."""
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.axis not in (-1, len(
                layer.input.shape) - 1):
            continue
        producer = layer.input._keras_history.operation
        if (isinstance(producer, FOLDABLE) and type(producer) in FOLDABLE
                and producer.activation is keras.activations.linear
                and len(producer._outbound_nodes) == 1 and len(producer._inbound_nodes) == 1):
            pairs[producer.name] = layer.name
    return pairs


def fold_batch_norms(model):
    """A copy of a functional/Sequential ``model`` with foldable BatchNormalizations folded.

    Returns ``(model, [(layer, batch_norm), ...])``; the model is returned unchanged (not
    copied) when there is nothing to fold. Nested models are left as they are.
    """
    pairs = foldable_pairs(model)
    if not pairs:
        return model, []
    folded_norms = set(pairs.values())

    def clone(layer):
        config = layer.get_config()
        if layer.name in folded_norms:
            return keras.layers.Identity(name=layer.name)
        if layer.name in pairs:
            config["use_bias"] = True
        return type(layer).from_config(config)

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.layers.Identity):  # takes no mask / training arguments
            return layer(args[0])
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in model.layers:
        if layer.name in pairs:
            folded.get_layer(layer.name).set_weights(
                _folded_weights(layer, model.get_layer(pairs[layer.name])))
        elif layer.name not in folded_norms and layer.weights:
            folded.get_layer(layer.name).set_weights(layer.get_weights())
    return folded, sorted(pairs.items())


def _folded_weights(layer, norm) -> list[np.ndarray]:
    """Kernel and bias of ``layer`` followed by ``norm`` (inference mode), as one layer."""
    kernel = np.asarray(layer.kernel.numpy(), "float64")
    bias = np.asarray(layer.bias.numpy(), "float64") if layer.use_bias else 0.0
    mean = np.asarray(norm.moving_mean.numpy(), "float64")
    variance = np.asarray(norm.moving_variance.numpy(), "float64")
    gamma = np.asarray(norm.gamma.numpy(), "float64") if norm.scale else 1.0
    beta = np.asarray(norm.beta.numpy(), "float64") if norm.center else 0.0
    scale = gamma / np.sqrt(variance + norm.epsilon)
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, in, multiplier)
        kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:  # output channels last
        kernel = kernel * scale
    new_bias = (bias - mean) * scale + beta
    return [kernel.astype("float32"), np.broadcast_to(new_bias, scale.shape).astype("float32")]
