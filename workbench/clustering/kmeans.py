"""Vectorized 1-D k-means for weight clustering, on a fine histogram of the weights.

The weights are binned once into 16384 bins over their range (one ``bincount``
pass); Lloyd's iterations then run on the bin means with prefix sums, so each
step costs O(bins), whatever the tensor size. Each weight takes the
label of its bin's nearest centroid.

Example:
    >>> import numpy as np
    >>> centroids, labels = kmeans_1d(np.array([0.0, 0.1, 5.0, 5.2]), 2, init="linear")
    >>> np.round(centroids, 2).tolist(), labels.tolist()
    ([0.05, 5.1], [0, 0, 1, 1])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from workbench.errors import WorkbenchError
from workbench.stages.clustering import CLUSTER_INITS as INITS

MAX_BINS = 1 << 14


class Histogram(NamedTuple):
    """The occupied bins of a fine histogram, in order: their ``points`` (the mean of their
    values, or for large tensors their centre) and their ``counts``;
    ``bin_of_value`` gives each value's bin among all bins, ``occupied_index`` each bin's
    place among the occupied ones."""

    points: np.ndarray
    counts: np.ndarray
    bin_of_value: np.ndarray
    occupied_index: np.ndarray


def weighted_histogram(flat: np.ndarray) -> Histogram:
    """The histogram of ``flat`` over ``MAX_BINS`` bins of its range (fewer for few values)."""
    low, high = float(flat.min()), float(flat.max())
    if high == low:
        return Histogram(np.array([low]), np.array([float(flat.size)]),
                         np.zeros(flat.size, np.int32), np.zeros(1, np.int32))
    bins = min(MAX_BINS, 4 * flat.size)
    width = (high - low) / bins
    # in the values' own precision (float32 weights: half the memory traffic of float64)
    dtype = flat.dtype if flat.dtype.kind == "f" else np.dtype(np.float64)
    position = flat - dtype.type(low)
    position *= dtype.type(1.0 / width)
    index = np.minimum(position, bins - 1, out=position).astype(np.int32)
    counts = np.bincount(index, minlength=bins).astype("float64")
    occupied = counts > 0
    if flat.size <= MAX_BINS:  # few values, coarse bins: each bin's exact mean
        points = np.bincount(index, weights=flat, minlength=bins)[occupied] / counts[occupied]
    else:  # bins of 1/16384 of the range: their centres, one pass fewer over the values
        points = low + (np.flatnonzero(occupied) + 0.5) * width
    return Histogram(points, counts[occupied], index, np.cumsum(occupied, dtype=np.int32) - 1)


def initial_centroids(points: np.ndarray, mass: np.ndarray, k: int, init: str,
                      rng: np.random.Generator) -> np.ndarray:
    """``k`` starting centroids for weighted sorted ``points``, by method ``init``."""
    if init == "linear":
        return np.linspace(points[0], points[-1], k)
    if init == "density":  # equal-mass slices of the cumulative distribution
        cumulative = np.cumsum(mass) / mass.sum()
        return points[np.searchsorted(cumulative, (np.arange(k) + 0.5) / k).clip(0, points.size - 1)]
    if init == "random":
        return np.sort(rng.uniform(points[0], points[-1], k))
    if init == "kmeans++":
        return _kmeans_plus_plus(points, mass, k, rng)
    raise WorkbenchError(f"init must be one of {', '.join(INITS)}. Received: init={init!r}.")


def _kmeans_plus_plus(points: np.ndarray, mass: np.ndarray, k: int,
                      rng: np.random.Generator) -> np.ndarray:
    """D^2 seeding: each next centroid drawn with probability mass x squared distance."""
    centroids = [float(points[np.searchsorted(np.cumsum(mass), rng.uniform(0, mass.sum()))
                              .clip(0, points.size - 1)])]
    distance = (points - centroids[0]) ** 2
    for _ in range(1, k):
        weight = np.cumsum(mass * distance)
        if weight[-1] <= 0:  # fewer distinct values than clusters
            centroids.append(centroids[-1])
            continue
        chosen = float(points[np.searchsorted(weight, rng.uniform(0, weight[-1]))
                              .clip(0, points.size - 1)])
        centroids.append(chosen)
        distance = np.minimum(distance, (points - chosen) ** 2)
    return np.sort(np.array(centroids))


def kmeans_1d(values: np.ndarray, k: int, init: str = "kmeans++", seed: int = 0,
              max_iterations: int = 100, tolerance: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``values`` into ``k`` groups; returns ``(sorted centroids, label per value)``.

    A value's label is its histogram bin's nearest centroid (bins are 1/16384 of the range).
    """
    centroids, labels, _ = kmeans_with_sizes(values, k, init, seed, max_iterations, tolerance)
    return centroids, labels


def kmeans_with_sizes(values: np.ndarray, k: int, init: str = "kmeans++", seed: int = 0,
                      max_iterations: int = 100, tolerance: float = 1e-6):
    """``kmeans_1d``, and the number of values in each cluster (counted on the bins)."""
    flat = np.asarray(values).ravel()
    histogram = weighted_histogram(flat)
    points, mass = histogram.points, histogram.counts
    centroids = initial_centroids(points, mass, k, init, np.random.default_rng(seed))
    mass_prefix = np.concatenate([[0.0], np.cumsum(mass)])
    sum_prefix = np.concatenate([[0.0], np.cumsum(mass * points)])
    scale = max(1.0, abs(points[0]), abs(points[-1]))
    for _ in range(max_iterations):
        bounds = np.concatenate([[0], np.searchsorted(points, _midpoints(centroids)),
                                 [points.size]])
        members = mass_prefix[bounds[1:]] - mass_prefix[bounds[:-1]]
        totals = sum_prefix[bounds[1:]] - sum_prefix[bounds[:-1]]
        updated = np.sort(np.where(members > 0, totals / np.maximum(members, 1e-300), centroids))
        shift = np.max(np.abs(updated - centroids))
        centroids = updated
        if shift <= tolerance * scale:
            break
    label_of_bin = np.searchsorted(_midpoints(centroids), points).astype(np.int32)
    sizes = np.bincount(label_of_bin, weights=mass, minlength=k).astype(np.int64)
    # one gather over the values: bin -> occupied bin -> label composed on the bins first
    return centroids, label_of_bin[histogram.occupied_index][histogram.bin_of_value], sizes


def _midpoints(centroids: np.ndarray) -> np.ndarray:
    return (centroids[:-1] + centroids[1:]) / 2.0
