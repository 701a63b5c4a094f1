"""Weight clustering (``cluster``): each kernel keeps a few shared values (k-means
centroids), fine-tuned. After a pruning stage it keeps every zero (sparsity-preserving
clustering). BatchNormalization is folded first, as the converter would fold it anyway.

Example:
    >>> Cluster(clusters=8).provides
    frozenset({'shared values'})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.stages.base import SHARED_VALUES, ZEROS, TransformStage, option
from workbench.stages.registry import register

CLUSTER_INITS = ("kmeans++", "linear", "density", "random")


@register
@dataclass(frozen=True)
class Cluster(TransformStage):
    name: ClassVar[str] = "cluster"
    summary: ClassVar[str] = (
        "Weight clustering: each kernel keeps only a few shared values (k-means centroids), "
        "fine-tuned; compresses far better."
    )
    provides: ClassVar[frozenset[str]] = frozenset({SHARED_VALUES})
    refuses: ClassVar[dict[str, str]] = {
        **TransformStage.refuses, SHARED_VALUES: "the model is already clustered"}

    clusters: int = option(16, minimum=2, maximum=65536, help="shared values per kernel")
    init: str = option("kmeans++", choices=CLUSTER_INITS, help="how the centroids start")
    per_channel: bool = option(False, help="separate centroids for each output channel")
    epochs: int = option(3, minimum=0, maximum=1000, help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(1e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")

    def apply(self, task, model, facts, progress: bool):
        from workbench.clustering import cluster_weights, clustering_report, strip_clustering
        from workbench.finetune import fine_tune
        from workbench.folding import fold_batch_norms

        # Fold first: the converter would fold BatchNormalization into the kernels anyway and
        # so multiply each output channel by its own factor, multiplying the unique values.
        folded, _ = fold_batch_norms(model)
        clustered = cluster_weights(folded, self.clusters, init=self.init,
                                    per_channel=self.per_channel,
                                    preserve_sparsity=ZEROS in facts,
                                    copy=folded is model)  # folding made a private copy
        if self.epochs > 0:
            fine_tune(clustered, task.dataset, self.epochs, self.learning_rate, (), progress,
                      "fine-tuning the centroids")
        return strip_clustering(clustered), clustering_report(clustered)
