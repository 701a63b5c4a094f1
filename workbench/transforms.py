"""The training recipes as functions: task + config -> a plain, stripped Keras model
(for QAT: the trained quantization-aware model, whose quantizers hold the int8 ranges).

Each one fine-tunes on the task's training split (``epochs`` > 0) or applies
the transform in one shot (``epochs=0``, the only choice without training data).

Example:
    >>> result = apply_transform(task, make_config("prune", {"sparsity": "0.8"}))  # doctest: +SKIP
    >>> result.model, result.notes()                                               # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import RecipeError
from workbench.recipes import (
    ClusterConfig, ClusteringStage, Prune2x4Config, PruneConfig, PruningStage, QATConfig,
    TrainingRecipeConfig,
)

RAMP_SHARE = 0.4  # the polynomial schedule reaches its final sparsity after 40% of the steps


@dataclass
class TransformResult:
    """The stripped model and the reports of the transforms applied (what was skipped, why)."""

    model: Any
    reports: list = field(default_factory=list)

    def notes(self) -> str:
        """The reports in one line, for the results table."""
        return "; ".join(line.strip() for report in self.reports
                         for line in report.summary().splitlines())


def apply_transform(task, config: TrainingRecipeConfig | QATConfig,
                    progress: bool = True) -> TransformResult:
    """The stripped model the recipe ``config`` makes from ``task.model``, with its reports."""
    if task.dataset is None and _training_epochs(config) > 0:
        one_shot = "" if isinstance(config, QATConfig) else (
            ", or --set epochs=0"
            f"{' prune_epochs=0' if isinstance(config, PruningStage) else ''} "
            "to apply it in one shot without fine-tuning")
        raise RecipeError(
            f"Recipe '{config.name}' fine-tunes on training data, but model '{task.name}' has no "
            f"dataset. Pass --data PATH.npz{one_shot}."
        )
    result = TransformResult(task.model)
    with warnings.catch_warnings():  # the reports go into the result instead
        warnings.simplefilter("ignore", UserWarning)
        pruned = isinstance(config, (PruneConfig, PruningStage))
        if isinstance(config, PruneConfig):
            _prune(task, result, config.sparsity, config.schedule, None, config.epochs,
                   config.learning_rate, progress)
        elif isinstance(config, PruningStage):
            _prune(task, result, config.sparsity, config.schedule, None, config.prune_epochs,
                   config.prune_learning_rate, progress)
        elif isinstance(config, Prune2x4Config):
            _prune(task, result, 0.5, "constant", (2, 4), config.epochs, config.learning_rate,
                   progress)
        if isinstance(config, ClusterConfig):
            _cluster(task, result, config.clusters, config.init, config.per_channel,
                     config.epochs, config.learning_rate, pruned, progress)
        elif isinstance(config, ClusteringStage):
            _cluster(task, result, config.clusters, config.init, False, config.cluster_epochs,
                     config.cluster_learning_rate, pruned, progress)
        if isinstance(config, QATConfig):
            _quantization_aware_training(task, result, config, pruned,
                                         isinstance(config, ClusteringStage), progress)
    if not result.reports:
        raise RecipeError(f"Recipe '{config.name}' is not a training recipe.")
    return result


def _training_epochs(config) -> int:
    return sum(getattr(config, name, 0) for name in ("epochs", "prune_epochs", "cluster_epochs"))


def recipe_schedule(total_steps: int, sparsity: float, kind: str = "polynomial"):
    """The schedule the pruning recipes use over ``total_steps`` of fine-tuning: masks updated
    about 50 times; polynomial ramps to ``sparsity`` over the first ``RAMP_SHARE`` of the steps."""
    from workbench.pruning import ConstantSparsity, PolynomialDecay

    frequency = max(1, total_steps // 50)
    if kind == "polynomial":
        return PolynomialDecay(0.0, sparsity, begin_step=0,
                               end_step=max(1, int(total_steps * RAMP_SHARE)), frequency=frequency)
    return ConstantSparsity(sparsity, begin_step=0, frequency=frequency)


def _prune(task, result: TransformResult, sparsity, schedule_kind, m_by_n, epochs,
           learning_rate, progress) -> None:
    from workbench.finetune import fine_tune, steps_per_epoch
    from workbench.pruning import (
        ConstantSparsity, UpdatePruningStep, prune_low_magnitude, pruning_report, pruning_state,
        strip_pruning,
    )

    if epochs == 0:  # one shot: prune to the target at once, no fine-tuning
        pruned = prune_low_magnitude(result.model, ConstantSparsity(sparsity),
                                     sparsity_m_by_n=m_by_n)
        pruning_state(pruned).update_masks(sparsity)
    else:
        kind = schedule_kind if m_by_n is None else "constant"
        schedule = recipe_schedule(steps_per_epoch(task.dataset) * epochs, sparsity, kind)
        pruned = prune_low_magnitude(result.model, schedule, sparsity_m_by_n=m_by_n)
        fine_tune(pruned, task.dataset, epochs, learning_rate, [UpdatePruningStep()], progress,
                  "fine-tuning while pruning")
    result.reports.append(pruning_report(pruned))
    result.model = strip_pruning(pruned)


def _quantization_aware_training(task, result: TransformResult, config: QATConfig,
                                  preserve_sparsity: bool, preserve_clusters: bool,
                                  progress: bool) -> None:
    """Leaves the trained QAT model (not stripped: its quantizers hold the int8 ranges)."""
    from workbench.finetune import fine_tune
    from workbench.qat import qat_report, quantize_model

    qat_model = quantize_model(result.model, preserve_sparsity=preserve_sparsity,
                               preserve_clusters=preserve_clusters)
    fine_tune(qat_model, task.dataset, config.epochs, config.learning_rate, (), progress,
              "quantization-aware training")
    result.reports.append(qat_report(qat_model))
    result.model = qat_model


def _cluster(task, result: TransformResult, clusters: int, init: str, per_channel: bool,
             epochs: int, learning_rate: float, preserve_sparsity: bool, progress: bool) -> None:
    from workbench.clustering import cluster_weights, clustering_report, strip_clustering
    from workbench.finetune import fine_tune
    from workbench.folding import fold_batch_norms

    # Fold first: the converter would fold BatchNormalization into the kernels anyway and so
    # multiply each output channel by its own factor, multiplying the number of unique values.
    model, _ = fold_batch_norms(result.model)
    clustered = cluster_weights(model, clusters, init=init, per_channel=per_channel,
                                preserve_sparsity=preserve_sparsity)
    if epochs > 0:
        fine_tune(clustered, task.dataset, epochs, learning_rate, (), progress,
                  "fine-tuning the centroids")
    result.reports.append(clustering_report(clustered))
    result.model = strip_clustering(clustered)
