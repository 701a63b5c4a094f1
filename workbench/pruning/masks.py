"""Pruning masks (magnitude, structured m-by-n) and the m-by-n checker, in numpy.

The m-by-n groups run along the input-channel dimension: axis -2 of Keras conv
kernels ``(..., in, out)``, axis 0 of Dense/RNN kernels ``(in, out)``, and the
last axis of TFLite's ``(out, ..., in)`` conv and fully-connected weights.

Example:
    >>> import numpy as np
    >>> mask = m_by_n_mask(np.array([[4.0], [-1.0], [3.0], [0.5]]), 2, 4, axis=0)
    >>> mask.ravel().tolist()
    [1.0, 0.0, 1.0, 0.0]
    >>> satisfies_m_by_n(mask, 2, 4, axis=0)
    True
"""

from __future__ import annotations

import numpy as np


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """1 for the largest-magnitude weights, 0 for the ``sparsity`` share of smallest ones."""
    flat = np.abs(weights).ravel()
    prune_count = int(np.floor(sparsity * flat.size))
    mask = np.ones(flat.size, dtype="float32")
    if prune_count > 0:
        mask[np.argpartition(flat, prune_count - 1)[:prune_count]] = 0.0
    return mask.reshape(weights.shape)


def _groups(weights: np.ndarray, n: int, axis: int) -> np.ndarray:
    """View with ``axis`` moved last and split into groups of ``n``: shape (..., groups, n)."""
    moved = np.moveaxis(weights, axis, -1)
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // n, n)


def m_by_n_mask(weights: np.ndarray, m: int, n: int, axis: int) -> np.ndarray:
    """Keep the ``m`` largest magnitudes in every group of ``n`` consecutive weights on ``axis``."""
    groups = np.abs(_groups(weights, n, axis))
    order = np.argsort(-groups, axis=-1, kind="stable")
    mask = np.zeros_like(groups, dtype="float32")
    np.put_along_axis(mask, order[..., :m], 1.0, axis=-1)
    moved_shape = np.moveaxis(weights, axis, -1).shape
    return np.moveaxis(mask.reshape(moved_shape), -1, axis)


def satisfies_m_by_n(weights: np.ndarray, m: int, n: int, axis: int) -> bool:
    """True if every group of ``n`` along ``axis`` holds at most ``m`` non-zeros."""
    if weights.shape[axis] % n:
        return False
    return bool((np.count_nonzero(_groups(weights, n, axis), axis=-1) <= m).all())


def m_by_n_table(model_or_tflite, m: int = 2, n: int = 4):
    """Per weight tensor of a Keras model or a ``.tflite`` (bytes, path or inspected model):
    whether it satisfies m-by-n sparsity along its input channels. Returns a DataFrame with
    columns ``weight, shape, satisfies, note`` (depthwise and embedding kernels are noted, not
    judged: m-by-n does not apply to them)."""
    import pandas as pd

    rows = [{"weight": name, "shape": tuple(values.shape),
             "satisfies": None if axis is None else satisfies_m_by_n(values, m, n, axis),
             "note": note}
            for name, values, axis, note in _kernels_with_input_axis(model_or_tflite)]
    return pd.DataFrame(rows, columns=["weight", "shape", "satisfies", "note"])


def _kernels_with_input_axis(source):
    """``(name, values, input-channel axis or None, note)`` for each kernel of ``source``."""
    from workbench.tflite_inspect import TFLiteModelInfo, inspect_tflite

    if hasattr(source, "weights") and hasattr(source, "layers"):  # a Keras model
        from workbench.layer_selection import all_weights
        from workbench.pruning.prune import input_channel_axis

        for ref in all_weights(source):
            axis, note = input_channel_axis(ref)
            yield ref.path, np.asarray(ref.variable.numpy()), axis, note or ""
        return
    info = source if isinstance(source, TFLiteModelInfo) else inspect_tflite(source)
    for op_name, tensor in info.kernels():
        if not tensor.is_constant:
            continue
        values = tensor.data.reshape(tensor.shape)
        if op_name == "DEPTHWISE_CONV_2D":
            yield tensor.name, values, None, "depthwise: m-by-n does not apply"
        else:  # TFLite keeps (out, ..., in): input channels last
            yield tensor.name, values, -1, ""
