"""Vectorized 1-D k-means for weight clustering: sort once, then each Lloyd step is
``searchsorted`` on the cluster boundaries plus prefix sums, O(k log n) per iteration.

Example:
    >>> import numpy as np
    >>> centroids, labels = kmeans_1d(np.array([0.0, 0.1, 5.0, 5.2]), 2, init="linear")
    >>> np.round(centroids, 2).tolist(), labels.tolist()
    ([0.05, 5.1], [0, 0, 1, 1])
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError
from workbench.recipes import CLUSTER_INITS as INITS
KMEANS_PLUS_PLUS_SAMPLE = 100_000  # D^2 seeding runs on at most this many values


def initial_centroids(sorted_values: np.ndarray, k: int, init: str,
                      rng: np.random.Generator) -> np.ndarray:
    """``k`` starting centroids from sorted values, by method ``init`` (see ``INITS``)."""
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    if init == "linear":
        return np.linspace(low, high, k)
    if init == "density":  # equal-mass bins of the cumulative distribution
        return np.quantile(sorted_values, (np.arange(k) + 0.5) / k)
    if init == "random":
        return np.sort(rng.uniform(low, high, k))
    if init == "kmeans++":
        return _kmeans_plus_plus(sorted_values, k, rng)
    raise WorkbenchError(f"init must be one of {', '.join(INITS)}. Received: init={init!r}.")


def _kmeans_plus_plus(sorted_values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    values = sorted_values
    if values.size > KMEANS_PLUS_PLUS_SAMPLE:
        values = rng.choice(values, KMEANS_PLUS_PLUS_SAMPLE, replace=False)
    centroids = [float(values[rng.integers(values.size)])]
    distance = (values - centroids[0]) ** 2
    for _ in range(1, k):
        total = distance.sum()
        if total <= 0:  # fewer distinct values than clusters
            centroids.append(centroids[-1])
            continue
        chosen = float(values[np.searchsorted(np.cumsum(distance), rng.uniform(0, total))
                              .clip(0, values.size - 1)])
        centroids.append(chosen)
        distance = np.minimum(distance, (values - chosen) ** 2)
    return np.sort(np.array(centroids))


def kmeans_1d(values: np.ndarray, k: int, init: str = "kmeans++", seed: int = 0,
              max_iterations: int = 100, tolerance: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``values`` into ``k`` groups; returns ``(sorted centroids, label per value)``."""
    flat = np.asarray(values, dtype="float64").ravel()
    ordered = np.sort(flat)
    prefix = np.concatenate([[0.0], np.cumsum(ordered)])
    centroids = initial_centroids(ordered, k, init, np.random.default_rng(seed))
    for _ in range(max_iterations):
        bounds = np.concatenate([[0], np.searchsorted(ordered, _midpoints(centroids)),
                                 [ordered.size]])
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        updated.sort()
        shift = np.max(np.abs(updated - centroids))
        centroids = updated
        if shift <= tolerance * max(1.0, float(np.abs(ordered).max())):
            break
    labels = np.searchsorted(_midpoints(centroids), flat)
    return centroids, labels


def _midpoints(centroids: np.ndarray) -> np.ndarray:
    return (centroids[:-1] + centroids[1:]) / 2.0
