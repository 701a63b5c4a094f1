"""Stages: one technique each (prune, prune_2x4, cluster, qat; the float32, dynamic_range,
float16, int8 and int16x8 exports of the TFLite converter; the int4_weights, dynamic_int4 and
int4_int8 exports of the AI Edge Quantizer), composed by ``workbench.recipes`` into recipes.

Adding a technique is one module that defines a ``TransformStage`` or ``ExportStage`` subclass
under ``@register``, and its import below.

Example:
    >>> from workbench.stages import STAGES
    >>> [name for name, stage in STAGES.items() if stage.kind == "export"]
    ['float32', 'dynamic_range', 'float16', 'int8', 'int16x8', 'int4_weights', 'dynamic_int4', 'int4_int8']
"""

from workbench.stages.base import (  # noqa: F401
    QUANTIZE_AWARE, SHARED_VALUES, ZEROS, ExportStage, OptionSpec, Stage, TransformStage, option,
)
from workbench.stages.registry import STAGES, get_stage, register  # noqa: F401
from workbench.stages import export, low_bit, pruning, clustering, qat  # noqa: E402,F401
