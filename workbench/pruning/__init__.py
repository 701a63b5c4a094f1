"""Keras 3 native magnitude and structured (m-by-n) pruning.

Example:
    >>> from workbench.pruning import prune_low_magnitude, PolynomialDecay, UpdatePruningStep
    >>> schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=400)
"""

from workbench.pruning.masks import m_by_n_mask, m_by_n_table, magnitude_mask, satisfies_m_by_n
from workbench.pruning.policy import PruneForLatencyOnXNNPack
from workbench.pruning.prune import (
    PruningState, UpdatePruningStep, prune_low_magnitude, prune_once, pruning_report,
    pruning_state, strip_pruning, weight_sparsity_table,
)
from workbench.pruning.schedules import ConstantSparsity, PolynomialDecay, PruningSchedule

__all__ = [
    "ConstantSparsity", "PolynomialDecay", "PruneForLatencyOnXNNPack", "PruningSchedule",
    "PruningState", "UpdatePruningStep", "m_by_n_mask", "m_by_n_table", "magnitude_mask",
    "prune_low_magnitude",
    "prune_once", "pruning_report", "pruning_state", "satisfies_m_by_n", "strip_pruning",
    "weight_sparsity_table",
]
