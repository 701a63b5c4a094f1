"""Pruning policies: which layers to prune for a target runtime.

Example:
    >>> pruned = prune_low_magnitude(model, policy=PruneForLatencyOnXNNPack())   # doctest: +SKIP
"""

from __future__ import annotations

import keras

from workbench.layer_selection import WeightRef

XNNPACK_REASON = ("XNNPACK's sparse kernels only speed up 1x1 convolutions with stride 1 "
                  "(pruning this layer would shrink the file, not the latency)")


class PruneForLatencyOnXNNPack:
    """Prune only what XNNPACK's sparse inference path accelerates: 1x1 Conv2D, stride 1."""

    def skip_reason(self, ref: WeightRef) -> str | None:
        layer = ref.layer
        is_pointwise = (
            type(layer) is keras.layers.Conv2D and tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.strides) == (1, 1) and tuple(layer.dilation_rate) == (1, 1)
            and getattr(layer, "groups", 1) == 1
        )
        return None if is_pointwise else XNNPACK_REASON
