"""The training recipes as functions: task + config -> a plain, stripped Keras model.

Each one fine-tunes on the task's training split (``epochs`` > 0) or applies
the transform in one shot (``epochs=0``, the only choice without training data).

Example:
    >>> model = apply_transform(task, make_config("prune", {"sparsity": "0.8"}))  # doctest: +SKIP
"""

from __future__ import annotations

from workbench.errors import RecipeError
from workbench.recipes import (
    ClusterConfig, Prune2x4Config, PruneClusterConfig, PruneConfig, TrainingRecipeConfig,
)

RAMP_SHARE = 0.4  # the polynomial schedule reaches its final sparsity after 40% of the steps


def apply_transform(task, config: TrainingRecipeConfig, progress: bool = True):
    """The stripped model the recipe ``config`` makes from ``task.model``."""
    if task.dataset is None and _training_epochs(config) > 0:
        raise RecipeError(
            f"Recipe '{config.name}' fine-tunes on training data, but model '{task.name}' has no "
            "dataset. Pass --data PATH.npz, or --set epochs=0"
            f"{' prune_epochs=0' if isinstance(config, PruneClusterConfig) else ''} "
            "to apply it in one shot without fine-tuning."
        )
    if isinstance(config, PruneClusterConfig):
        pruned = _prune(task, task.model, config.sparsity, config.schedule, None,
                        config.prune_epochs, config.prune_learning_rate, progress)
        return _cluster(task, pruned, config, preserve_sparsity=True, progress=progress)
    if isinstance(config, ClusterConfig):
        return _cluster(task, task.model, config, preserve_sparsity=False, progress=progress)
    if isinstance(config, PruneConfig):
        return _prune(task, task.model, config.sparsity, config.schedule, None, config.epochs,
                      config.learning_rate, progress)
    if isinstance(config, Prune2x4Config):
        return _prune(task, task.model, 0.5, "constant", (2, 4), config.epochs,
                      config.learning_rate, progress)
    raise RecipeError(f"Recipe '{config.name}' is not a training recipe.")


def _training_epochs(config) -> int:
    return config.epochs + getattr(config, "prune_epochs", 0)


def recipe_schedule(total_steps: int, sparsity: float, kind: str = "polynomial"):
    """The schedule the pruning recipes use over ``total_steps`` of fine-tuning: masks updated
    about 50 times; polynomial ramps to ``sparsity`` over the first ``RAMP_SHARE`` of the steps."""
    from workbench.pruning import ConstantSparsity, PolynomialDecay

    frequency = max(1, total_steps // 50)
    if kind == "polynomial":
        return PolynomialDecay(0.0, sparsity, begin_step=0,
                               end_step=max(1, int(total_steps * RAMP_SHARE)), frequency=frequency)
    return ConstantSparsity(sparsity, begin_step=0, frequency=frequency)


def _prune(task, model, sparsity, schedule_kind, m_by_n, epochs, learning_rate, progress):
    from workbench.finetune import fine_tune, steps_per_epoch
    from workbench.pruning import UpdatePruningStep, prune_low_magnitude, prune_once, strip_pruning

    if epochs == 0:
        return prune_once(model, sparsity, sparsity_m_by_n=m_by_n)
    kind = schedule_kind if m_by_n is None else "constant"
    schedule = recipe_schedule(steps_per_epoch(task.dataset) * epochs, sparsity, kind)
    pruned = prune_low_magnitude(model, schedule, sparsity_m_by_n=m_by_n)
    fine_tune(pruned, task.dataset, epochs, learning_rate, [UpdatePruningStep()], progress,
              "fine-tuning while pruning")
    return strip_pruning(pruned)


def _cluster(task, model, config: ClusterConfig, preserve_sparsity: bool, progress: bool):
    from workbench.clustering import cluster_weights, strip_clustering
    from workbench.finetune import fine_tune
    from workbench.folding import fold_batch_norms

    # Fold first: the converter would fold BatchNormalization into the kernels anyway and so
    # multiply each output channel by its own factor, multiplying the number of unique values.
    model, _ = fold_batch_norms(model)
    clustered = cluster_weights(model, config.clusters, init=config.init,
                                per_channel=config.per_channel,
                                preserve_sparsity=preserve_sparsity)
    if config.epochs > 0:
        fine_tune(clustered, task.dataset, config.epochs, config.learning_rate, (), progress,
                  "fine-tuning the centroids")
    return strip_clustering(clustered)
