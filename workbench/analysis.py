"""What a Keras model is made of, layer by layer, and which techniques apply to each layer.

Example:
    >>> layer_table(model)[["layer", "type", "params", "techniques"]]  # doctest: +SKIP
"""

from __future__ import annotations


def layer_macs(layer) -> int:
    """Multiply-accumulates of one call (batch 1) of a conv, depthwise, transposed conv or
    Dense layer; 0 for other layers."""
    import math

    import keras

    kernel = getattr(layer, "kernel", None)
    output = getattr(layer, "output", None)
    if kernel is None or output is None or len(kernel.shape) < 2:
        return 0
    outputs = math.prod(d for d in output.shape[1:] if d is not None)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return outputs * math.prod(kernel.shape[:2])
    if isinstance(layer, keras.layers.Conv2DTranspose):  # every input pixel spreads a kernel
        inputs = math.prod(d for d in layer.input.shape[1:] if d is not None)
        return inputs * math.prod(kernel.shape[:3])
    return outputs * math.prod(kernel.shape[:-1])  # conv (kh, kw, in, out), Dense (in, out)


def layer_table(model):
    """One row per layer (nested models walked): name, type, output shape, parameters, MACs,
    and the techniques that act on it (prune, cluster: it has a kernel; qat: it has an int8
    simulation or passes ranges through)."""
    import pandas as pd

    from workbench.layer_selection import KERNEL_ATTRIBUTES, walk_layers
    from workbench.qat.layers import QUANTIZED_CLASSES
    from workbench.qat.transform import RANGE_PRESERVING

    rows = []
    for path, layer in walk_layers(model):
        if hasattr(layer, "layers"):  # a nested model: its layers follow
            continue
        techniques = []
        if any(getattr(layer, name, None) is not None for name in KERNEL_ATTRIBUTES):
            techniques += ["prune", "cluster"]
        if type(layer) in QUANTIZED_CLASSES or isinstance(layer, RANGE_PRESERVING):
            techniques.append("qat")
        shape = getattr(getattr(layer, "output", None), "shape", None)
        rows.append({"layer": path, "type": type(layer).__name__,
                     "output_shape": str(tuple(shape)) if shape is not None else "",
                     "params": int(layer.count_params()) if layer.built else 0,
                     "macs": layer_macs(layer), "techniques": ", ".join(techniques) or "-"})
    return pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params", "macs",
                                       "techniques"])
