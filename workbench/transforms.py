"""A recipe's transform stages applied in order: task + recipe -> the last model (for QAT: the
trained quantization-aware model, whose quantizers hold the int8 ranges), the stages' reports
and the facts they bought (zeros, shared values...), which the export reads.

Each stage fine-tunes on the task's training split (``epochs`` > 0) or applies its transform
in one shot (``epochs=0``, the only choice for models without training data).

Example:
    >>> result = apply_transforms(task, make_config("prune", {"sparsity": "0.8"}))  # doctest: +SKIP
    >>> result.model, result.facts, result.notes()                                # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import RecipeError


@dataclass
class TransformResult:
    """The last model, the reports of the stages applied (what was skipped, why) and the facts
    they gave the model."""

    model: Any
    reports: list = field(default_factory=list)
    facts: frozenset[str] = frozenset()

    def notes(self) -> str:
        """The reports in one line, for the results table."""
        return "; ".join(line.strip() for report in self.reports
                         for line in report.summary().splitlines())


def apply_transforms(task, recipe, progress: bool = True) -> TransformResult:
    """Fold ``recipe``'s transform stages over ``task.model``; each reads the facts before it."""
    check_training_data(task, recipe)
    result = TransformResult(task.model)
    with warnings.catch_warnings():  # the reports go into the result instead
        warnings.simplefilter("ignore", UserWarning)
        for stage in recipe.transforms:
            result.model, report = stage.apply(task, result.model, result.facts, progress)
            result.reports.append(report)
            result.facts = result.facts | stage.provides
    return result


def check_training_data(task, recipe) -> None:
    """Refuse, before any work, a recipe that fine-tunes when the task has no training data."""
    training = [stage.name for stage in recipe.transforms if stage.trains]
    if task.dataset is None and training:
        names = recipe.one_shot_names()
        one_shot = (f", or --set {' '.join(f'{name}=0' for name in names)} to apply it in one "
                    "shot without fine-tuning") if names else ""
        raise RecipeError(
            f"Recipe '{recipe.name}' fine-tunes on training data ({', '.join(training)}), but "
            f"model '{task.name}' has no dataset. Pass --data PATH.npz{one_shot}."
        )
