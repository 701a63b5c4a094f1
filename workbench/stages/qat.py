"""Quantization-aware training (``qat``): fine-tunes while simulating int8 inference, keeping
the zeros and the shared values earlier stages made. It leaves the trained QAT model (its
quantizers hold the int8 ranges), so it comes last among the transforms and only the int8
export follows it.

Example:
    >>> QAT(epochs=2).provides
    frozenset({'quantization-aware'})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.stages.base import QUANTIZE_AWARE, SHARED_VALUES, ZEROS, TransformStage, option
from workbench.stages.registry import register


@register
@dataclass(frozen=True)
class QAT(TransformStage):
    name: ClassVar[str] = "qat"
    summary: ClassVar[str] = (
        "Quantization-aware training: fine-tunes while simulating int8 inference, then exports "
        "a full-integer model; the smallest accuracy loss of the int8 recipes."
    )
    provides: ClassVar[frozenset[str]] = frozenset({QUANTIZE_AWARE})

    epochs: int = option(3, minimum=1, maximum=1000, help="QAT fine-tuning epochs")
    learning_rate: float = option(3e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")

    def apply(self, task, model, facts, progress: bool):
        from workbench.finetune import fine_tune
        from workbench.qat import qat_report, quantize_model

        qat_model = quantize_model(model, preserve_sparsity=ZEROS in facts,
                                   preserve_clusters=SHARED_VALUES in facts)
        fine_tune(qat_model, task.dataset, self.epochs, self.learning_rate, (), progress,
                  "quantization-aware training")
        return qat_model, qat_report(qat_model)
