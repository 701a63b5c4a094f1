"""Pruning schedules: small callable config objects, like tfmot's.

A schedule maps a training step to ``(update_now, target_sparsity)``: the masks
are recomputed every ``frequency`` steps between ``begin_step`` and
``end_step`` (``-1``: no end).

Example:
    >>> schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=10)
    >>> schedule(50)
    (True, 0.7)
    >>> PolynomialDecay.from_config(schedule.get_config()) == schedule
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from workbench.errors import WorkbenchError


def _check_sparsity(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise WorkbenchError(
            f"{name} must be a number in [0, 1) (the share of weights set to zero). "
            f"Received: {name}={value!r}."
        )


class PruningSchedule:
    """Base class: ``schedule(step) -> (update_now, sparsity)``; see the module doc.

    Subclasses are frozen dataclasses with ``begin_step``, ``end_step`` and ``frequency``.
    """

    kind: ClassVar[str] = ""
    begin_step: int
    end_step: int
    frequency: int

    def __post_init__(self):
        for name in ("begin_step", "end_step", "frequency"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise WorkbenchError(f"{name} must be a whole number. "
                                     f"Received: {name}={getattr(self, name)!r}.")
        if self.begin_step < 0 or self.frequency < 1:
            raise WorkbenchError(
                f"Expected begin_step >= 0 and frequency >= 1. Received: "
                f"begin_step={self.begin_step}, frequency={self.frequency}."
            )
        if self.end_step != -1 and self.end_step < self.begin_step:
            raise WorkbenchError(
                f"The schedule ends before it begins. Received: begin_step={self.begin_step}, "
                f"end_step={self.end_step}. Expected end_step >= begin_step, or -1 for no end."
            )

    def _active(self, step: int) -> bool:
        in_range = step >= self.begin_step and (self.end_step == -1 or step <= self.end_step)
        on_beat = (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        return in_range and on_beat

    def sparsity(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: int) -> tuple[bool, float]:
        return self._active(step), self.sparsity(step)

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "config": dataclasses.asdict(self)}

    @classmethod
    def from_config(cls, config: dict) -> "PruningSchedule":
        classes = {c.__name__: c for c in (ConstantSparsity, PolynomialDecay)}
        if config.get("class_name") not in classes:
            raise WorkbenchError(f"Unknown pruning schedule {config.get('class_name')!r}. "
                                 f"Expected one of: {', '.join(classes)}.")
        return classes[config["class_name"]](**config["config"])


@dataclass(frozen=True)
class ConstantSparsity(PruningSchedule):
    """Prune to ``target_sparsity`` at once, then keep it (masks refreshed every ``frequency``)."""

    kind: ClassVar[str] = "constant"
    target_sparsity: float
    begin_step: int = 0
    end_step: int = -1
    frequency: int = 100

    def __post_init__(self):
        super().__post_init__()
        _check_sparsity("target_sparsity", self.target_sparsity)

    def sparsity(self, step: int) -> float:
        return float(self.target_sparsity)


@dataclass(frozen=True)
class PolynomialDecay(PruningSchedule):
    """Sparsity grows from ``initial_sparsity`` to ``final_sparsity`` as 1 - (1 - t)^power."""

    kind: ClassVar[str] = "polynomial"
    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    power: float = 3.0
    frequency: int = 100

    def __post_init__(self):
        super().__post_init__()
        _check_sparsity("initial_sparsity", self.initial_sparsity)
        _check_sparsity("final_sparsity", self.final_sparsity)
        if self.end_step == -1:
            raise WorkbenchError("PolynomialDecay needs an end_step (the step at which "
                                 "final_sparsity is reached). Received: end_step=-1.")

    def sparsity(self, step: int) -> float:
        span = max(self.end_step - self.begin_step, 1)
        progress = min(max((step - self.begin_step) / span, 0.0), 1.0)
        remaining = (1.0 - progress) ** self.power
        return float(self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * remaining)
