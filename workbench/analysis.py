"""What a Keras model is made of, layer by layer, and which techniques apply to each layer.

Example:
    >>> layer_table(model)[["layer", "type", "params", "techniques"]]  # doctest: +SKIP
"""

from __future__ import annotations


def layer_table(model):
    """One row per layer (nested models walked): name, type, output shape, parameters, and
    the techniques that act on it (prune, cluster: it has a kernel; qat: it has an int8
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
                     "techniques": ", ".join(techniques) or "-"})
    return pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params", "techniques"])
