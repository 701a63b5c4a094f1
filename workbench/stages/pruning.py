"""Magnitude pruning (``prune``) and structured 2:4 pruning (``prune_2x4``): the smallest
weights become zeros while fine-tuning (or at once, ``epochs=0``), then the pruning wrappers
are stripped. Both give the model the ``ZEROS`` fact; a later clustering or QAT keeps them.

Example:
    >>> Prune(sparsity=0.5, epochs=0).trains
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.stages.base import SHARED_VALUES, ZEROS, TransformStage, option
from workbench.stages.registry import register

RAMP_SHARE = 0.4  # the polynomial schedule reaches its final sparsity after 40% of the steps
SCHEDULES = ("polynomial", "constant")
# 15 epochs at 1e-3 recover what 80% zeros cost on the digits CNN within 0.9 points over seeds
# and CPUs (10 epochs at 5e-4: up to 2.0; bench.training_spread).
PRUNE_EPOCHS, PRUNE_LEARNING_RATE = 15, 1e-3


class PruningStageBase(TransformStage):
    """What both pruning stages refuse to follow, and how they prune."""

    provides: ClassVar[frozenset[str]] = frozenset({ZEROS})
    refuses: ClassVar[dict[str, str]] = {
        **TransformStage.refuses,
        ZEROS: "the model is already pruned: use one pruning stage",
        SHARED_VALUES: "new zeros would break the shared values: prune before clustering",
    }

    def _prune(self, task, model, sparsity: float, schedule_kind: str, m_by_n, progress: bool):
        from workbench.finetune import fine_tune, steps_per_epoch
        from workbench.pruning import (
            ConstantSparsity, UpdatePruningStep, prune_low_magnitude, pruning_report,
            pruning_state, strip_pruning,
        )

        if self.epochs == 0:  # one shot: prune to the target at once, no fine-tuning
            pruned = prune_low_magnitude(model, ConstantSparsity(sparsity),
                                         sparsity_m_by_n=m_by_n)
            pruning_state(pruned).update_masks(sparsity)
        else:
            schedule = recipe_schedule(steps_per_epoch(task.dataset) * self.epochs, sparsity,
                                       schedule_kind)
            pruned = prune_low_magnitude(model, schedule, sparsity_m_by_n=m_by_n)
            fine_tune(pruned, task.dataset, self.epochs, self.learning_rate,
                      [UpdatePruningStep()], progress, "fine-tuning while pruning")
        return strip_pruning(pruned), pruning_report(pruned)


@register
@dataclass(frozen=True)
class Prune(PruningStageBase):
    name: ClassVar[str] = "prune"
    summary: ClassVar[str] = (
        "Magnitude pruning during fine-tuning: the smallest weights become zeros; same file "
        "size, far smaller compressed; sparse kernels can turn it into speed."
    )

    sparsity: float = option(0.8, minimum=0.0, maximum=0.999, help="share of weights set to zero")
    schedule: str = option("polynomial", choices=SCHEDULES,
                           help="polynomial: ramp up over the first 40% of steps; constant: at once")
    epochs: int = option(PRUNE_EPOCHS, minimum=0, maximum=1000,
                         help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(PRUNE_LEARNING_RATE, minimum=1e-7, maximum=1.0,
                                  help="Adam learning rate")

    def apply(self, task, model, facts, progress: bool):
        return self._prune(task, model, self.sparsity, self.schedule, None, progress)


@register
@dataclass(frozen=True)
class Prune2x4(PruningStageBase):
    name: ClassVar[str] = "prune_2x4"
    summary: ClassVar[str] = (
        "Structured 2:4 pruning: two of every four consecutive input-channel weights are zero, "
        "the pattern sparse accelerators run fast."
    )

    epochs: int = option(10, minimum=0, maximum=1000, help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(5e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")

    def apply(self, task, model, facts, progress: bool):
        return self._prune(task, model, 0.5, "constant", (2, 4), progress)


def recipe_schedule(total_steps: int, sparsity: float, kind: str = "polynomial"):
    """The schedule the pruning stages use over ``total_steps`` of fine-tuning: masks updated
    about 50 times; polynomial ramps to ``sparsity`` over the first ``RAMP_SHARE`` of the steps."""
    from workbench.pruning import ConstantSparsity, PolynomialDecay

    frequency = max(1, total_steps // 50)
    if kind == "polynomial":
        return PolynomialDecay(0.0, sparsity, begin_step=0,
                               end_step=max(1, int(total_steps * RAMP_SHARE)), frequency=frequency)
    return ConstantSparsity(sparsity, begin_step=0, frequency=frequency)
