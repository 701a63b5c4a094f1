"""Keras 3 native weight clustering (k-means weight sharing), sparsity-preserving on request.

Example:
    >>> from workbench.clustering import cluster_weights, strip_clustering
"""

from workbench.clustering.cluster import (
    ClusterAssignment, cluster_weights, clustering_report, strip_clustering,
)
from workbench.clustering.kmeans import INITS, kmeans_1d

__all__ = ["INITS", "ClusterAssignment", "cluster_weights", "clustering_report", "kmeans_1d",
           "strip_clustering"]
