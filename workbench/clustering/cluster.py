"""Weight clustering for Keras 3: ``cluster_weights`` / ``strip_clustering``.

Each selected kernel is replaced by ``number_of_clusters`` shared values (per
output channel with ``per_channel=True``). During fine-tuning the optimizer
projects every cluster back onto one value (the mean of its members) after
each update: the centroids train, the assignments stay fixed. With
``preserve_sparsity=True`` the zeros of a pruned model form their own cluster
pinned at exactly zero (sparsity-preserving clustering).

Example:
    >>> clustered = cluster_weights(model, 16, init="kmeans++")          # doctest: +SKIP
    >>> clustered.compile(...); clustered.fit(x, y, epochs=2)            # doctest: +SKIP
    >>> final = strip_clustering(clustered)                              # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np

from workbench.clustering.kmeans import INITS, kmeans_1d, kmeans_with_sizes
from workbench.constraints import install_projection
from workbench.errors import WorkbenchError
from workbench.layer_selection import (
    LayerSpec, TransformReport, WeightRef, attached_state, clone_with_weights, select_weights,
)

STATE_ATTRIBUTE = "_workbench_clustering"


@dataclass(frozen=True, eq=False)
class ClusterAssignment:
    """Fixed cluster ids per weight (flattened), and which weights are pinned at zero."""

    ids: np.ndarray          # int32, one per weight
    segments: int            # number of distinct ids
    keep: np.ndarray | None  # 1/0 per weight when sparsity is preserved
    sizes: np.ndarray | None = None  # weights per id, when known (else counted from ids)

    def counts(self) -> np.ndarray:
        sizes = self.sizes if self.sizes is not None else np.bincount(
            self.ids, minlength=self.segments)
        return np.maximum(sizes, 1)

    def project(self, values: np.ndarray) -> np.ndarray:
        """numpy: every weight replaced by the mean of its cluster (zeros kept)."""
        flat = values.ravel().astype("float64")
        means = np.bincount(self.ids, flat, self.segments) / self.counts()
        out = means[self.ids]
        if self.keep is not None:
            out = out * self.keep
        return out.reshape(values.shape).astype(values.dtype)

    def keras_projection(self):
        """The same projection in keras.ops, run by the optimizer in the train step."""
        ids = keras.ops.convert_to_tensor(self.ids, dtype="int32")
        counts = self.counts().astype("float32")
        keep = None if self.keep is None else self.keep.astype("float32")

        def project(weights):
            flat = keras.ops.reshape(weights, (-1,))
            sums = keras.ops.segment_sum(flat, ids, num_segments=self.segments)
            out = keras.ops.take(sums / keras.ops.cast(counts, sums.dtype), ids)
            if keep is not None:
                out = out * keras.ops.cast(keep, out.dtype)
            return keras.ops.reshape(out, keras.ops.shape(weights))

        return project


def output_channels(ref: WeightRef) -> int:
    """How many output channels the kernel has (a depthwise kernel: inputs x multiplier)."""
    shape = tuple(ref.variable.shape)
    if isinstance(ref.layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)) or \
            ref.attribute == "depthwise_kernel":
        return shape[-2] * shape[-1]
    return shape[-1]


def channel_view(ref: WeightRef, values: np.ndarray) -> np.ndarray:
    """(rows, channels) view whose columns are the output channels of the kernel."""
    return values.reshape(-1, output_channels(ref))


def assign_clusters(values: np.ndarray, k: int, init: str, preserve_sparsity: bool,
                    columns: int | None = None) -> tuple[ClusterAssignment, np.ndarray]:
    """k-means on ``values`` (per column of a (rows, columns) view when ``columns`` is set).

    Returns the assignment and the clustered values (each weight set to its centroid).
    """
    table = values.reshape(-1, columns or 1)
    keep = table != 0 if preserve_sparsity else None
    pinned_zero = keep is not None and not keep.all()
    clusters = k - 1 if pinned_zero else k  # the zero cluster counts among the k
    if columns is None and not pinned_zero:  # the common case: one k-means over the tensor
        centroids, labels, sizes = kmeans_with_sizes(values, clusters, init)
        clustered = centroids.astype(values.dtype)[labels].reshape(values.shape)
        return ClusterAssignment(labels, k, None, sizes), clustered
    ids = np.full(table.shape, clusters * table.shape[1], "int32")  # the zero cluster's id
    clustered = np.zeros(table.shape, values.dtype)
    for column in range(table.shape[1]):
        live = keep[:, column] if pinned_zero else slice(None)
        if table[live, column].size:
            centroids, labels = kmeans_1d(table[live, column], clusters, init, seed=column)
            ids[live, column] = labels + column * clusters
            clustered[live, column] = centroids[labels]
    segments = clusters * table.shape[1] + (1 if pinned_zero else 0)
    keep_flat = keep.reshape(-1).astype("float32") if pinned_zero else None
    return ClusterAssignment(ids.ravel(), segments, keep_flat), clustered.reshape(values.shape)


def _check_arguments(number_of_clusters, init) -> None:
    if isinstance(number_of_clusters, bool) or not isinstance(number_of_clusters, int) \
            or number_of_clusters < 2:
        raise WorkbenchError(
            f"number_of_clusters must be a whole number of at least 2. "
            f"Received: number_of_clusters={number_of_clusters!r}."
        )
    if init not in INITS:
        raise WorkbenchError(f"init must be one of {', '.join(INITS)}. Received: init={init!r}.")


def cluster_weights(model, number_of_clusters: int, init: str = "kmeans++",
                    per_channel: bool = False, preserve_sparsity: bool = False,
                    layers: LayerSpec = None, copy: bool = True):
    """A copy of ``model`` whose selected kernels hold at most ``number_of_clusters`` values.

    ``model`` is left untouched; the copy's ``clustering_report(copy)`` says which weights were
    clustered and which were skipped and why. ``copy=False`` clusters ``model`` itself and
    returns it: no copy (on ResNet50 the copy takes longer than the k-means), but the caller's
    model is changed.

    Example:
        >>> clustered = cluster_weights(model, 16, copy=False)   # doctest: +SKIP
    """
    _check_arguments(number_of_clusters, init)
    select_weights(model, layers)  # validates the filter before any copy
    clustered = clone_with_weights(model) if copy else model
    report = TransformReport(f"clustering ({number_of_clusters} clusters"
                             f"{', per channel' if per_channel else ''})")
    refs = []
    for ref in select_weights(clustered, layers):
        size = int(np.prod(ref.variable.shape))
        rows = size // output_channels(ref) if per_channel else size
        if rows < number_of_clusters:
            report.skipped[ref.path] = (f"it has {rows} weights{' per channel' if per_channel else ''}"
                                        f", fewer than number_of_clusters={number_of_clusters}")
        else:
            refs.append(ref)

    def cluster_one(ref):
        values = np.asarray(ref.variable.numpy())
        view = channel_view(ref, values)
        assignment, clustered_values = assign_clusters(
            view, number_of_clusters, init, preserve_sparsity,
            columns=view.shape[1] if per_channel else None)
        ref.variable.assign(clustered_values.reshape(values.shape))
        return assignment, assignment.keras_projection()

    # numpy and TensorFlow release the GIL in their passes over the weights: the kernels are
    # clustered side by side, one per core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = list(pool.map(cluster_one, refs))
    assignments = []
    for ref, (assignment, projection) in zip(refs, done):
        install_projection(ref.variable, projection)
        assignments.append((ref, assignment))
        report.applied.append(ref.path)
    if not assignments:
        raise WorkbenchError(
            f"Nothing to cluster: number_of_clusters={number_of_clusters} is more than the "
            f"weights of every selected layer.\n{report.summary()}"
        )
    setattr(clustered, STATE_ATTRIBUTE, (assignments, report))
    report.warn_if_skipped()
    return clustered


def clustering_report(model) -> TransformReport:
    return attached_state(model, STATE_ATTRIBUTE, "cluster_weights")[1]


def strip_clustering(model):
    """A plain Keras model whose clustered kernels hold exactly their shared values."""
    state = getattr(model, STATE_ATTRIBUTE, None)
    plain = clone_with_weights(model)
    if state is not None:
        projections = {id(ref.variable): assignment for ref, assignment in state[0]}
        for source, target in zip(model.weights, plain.weights):
            if id(source) in projections:
                target.assign(projections[id(source)].project(np.asarray(source.numpy())))
    return plain
