"""What the kernels of a ``.tflite`` hold, as histograms: the real weight values, and for an
integer model the codes actually stored (int8), which is where pruning's zeros and
clustering's few shared values show.

Example:
    >>> histograms = kernel_histograms(tflite_bytes)                  # doctest: +SKIP
    >>> histograms["codes"].counts.sum() == histograms["real"].counts.sum()   # doctest: +SKIP
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.tflite_inspect import inspect_tflite

DEFAULT_BINS = 80


@dataclass(frozen=True)
class Histogram:
    counts: np.ndarray
    edges: np.ndarray
    label: str

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def kernel_histograms(tflite, bins: int = DEFAULT_BINS) -> dict[str, Histogram]:
    """``{"real": ...}`` over every conv / depthwise / fully-connected kernel, plus
    ``"codes"`` (one bin per integer code) when the kernels are stored quantized. Empty when
    the model has no readable kernel."""
    kernels = [tensor for tensor in inspect_tflite(tflite).weight_tensors() if tensor.is_constant]
    real = [values.ravel() for values in (tensor.real_values() for tensor in kernels)
            if values is not None]
    found = {}
    if real:
        values = np.concatenate(real)
        counts, edges = np.histogram(values, bins=bins)
        found["real"] = Histogram(counts, edges, "weight value (real number)")
    quantized = [tensor for tensor in kernels
                 if tensor.is_quantized and tensor.data.size == tensor.size]
    if quantized:
        stored = np.concatenate([tensor.data.ravel().astype("int64") for tensor in quantized])
        edges = np.arange(stored.min() - 0.5, stored.max() + 1.5)
        counts, edges = np.histogram(stored, bins=edges)
        dtypes = "/".join(sorted({tensor.dtype for tensor in quantized}))
        found["codes"] = Histogram(counts, edges, f"stored {dtypes} code")
    return found
