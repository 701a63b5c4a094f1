"""The post-training exports: float32, dynamic range, float16, full-integer int8 and int16x8,
each a converter setting (``configure``) the TFLite converter applies to the last model.

The full-integer ones calibrate activation ranges on representative data; after QAT, int8
reads the ranges from the model's quantizers instead, and the other exports refuse to follow it.

Example:
    >>> Int8Export(calibration_samples=50).calibrates(frozenset())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.stages.base import QUANTIZE_AWARE, ExportStage, option
from workbench.stages.registry import register

DEFAULT_CALIBRATION_SAMPLES = 200
IO_INT8 = ("int8", "uint8", "float32")
IO_INT16 = ("int16", "float32")
AFTER_QAT = {QUANTIZE_AWARE: "a quantization-aware model exports only as full-integer int8 "
                             "(end the recipe with int8)"}


def calibration_feed(samples, progress: bool):
    """The converter's representative dataset: a generator function over ``samples`` (an
    array, or a dict of arrays by input name), one sample at a time."""
    from workbench.data import structure
    from workbench.progress import track

    def feed():
        count = structure.length(samples)
        for index in track(range(count), "calibrating", enabled=progress, unit="sample"):
            one = structure.take(samples, index, index + 1)
            yield one if isinstance(one, dict) else [one]

    return feed


class ConverterExport(ExportStage):
    """An export that is one setting of ``tf.lite.TFLiteConverter.from_keras_model``."""

    refuses: ClassVar[dict[str, str]] = AFTER_QAT

    def configure(self, converter, samples, progress: bool) -> None:
        """Set ``converter`` up for this export (``samples``: calibration inputs or None)."""

    def export_with_notes(self, task, model, facts, progress: bool) -> tuple[bytes, str]:
        from workbench.ptq import convert_with_notes

        representative = task.representative_data(self.calibration_samples) \
            if self.calibrates(facts) else None
        return convert_with_notes(model, self, representative, progress=progress)


@register
@dataclass(frozen=True)
class Float32Export(ConverterExport):
    name: ClassVar[str] = "float32"
    summary: ClassVar[str] = "No quantization: the float baseline every variant is compared to."


@register
@dataclass(frozen=True)
class DynamicRangeExport(ConverterExport):
    name: ClassVar[str] = "dynamic_range"
    summary: ClassVar[str] = (
        "int8 weights, float activations quantized on the fly; no data needed; up to 4x smaller."
    )

    def configure(self, converter, samples, progress: bool) -> None:
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]


@register
@dataclass(frozen=True)
class Float16Export(ConverterExport):
    name: ClassVar[str] = "float16"
    summary: ClassVar[str] = "float16 weights; no data needed; up to 2x smaller; GPU friendly."

    def configure(self, converter, samples, progress: bool) -> None:
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]


@dataclass(frozen=True)
class FullIntegerExport(ConverterExport):
    """Options shared by the exports that calibrate activation ranges on representative data."""

    needs_representative_data: ClassVar[bool] = True
    ops_set: ClassVar[str] = ""  # the tf.lite.OpsSet its integer kernels come from

    integer_only: bool = option(
        True, help="refuse float fallback: fail if an op has no integer kernel"
    )
    calibration_samples: int = option(
        DEFAULT_CALIBRATION_SAMPLES, minimum=1, maximum=100_000,
        help="how many representative samples calibrate the activation ranges",
    )

    def configure(self, converter, samples, progress: bool) -> None:
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_feed(samples, progress)
        ops = [getattr(tf.lite.OpsSet, self.ops_set)]
        if not self.integer_only:
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = ops
        dtypes = {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16, "float32": tf.float32}
        converter.inference_input_type = dtypes[self.inference_input_type]
        converter.inference_output_type = dtypes[self.inference_output_type]


@register
@dataclass(frozen=True)
class Int8Export(FullIntegerExport):
    name: ClassVar[str] = "int8"
    summary: ClassVar[str] = (
        "Full-integer int8 weights and activations, calibrated on representative data; "
        "runs on integer-only hardware (Edge TPU, DSP, microcontrollers)."
    )
    ops_set: ClassVar[str] = "TFLITE_BUILTINS_INT8"
    refuses: ClassVar[dict[str, str]] = {}  # the one export that follows QAT
    unused_after: ClassVar[dict[str, frozenset[str]]] = {  # the quantizers set the ranges
        QUANTIZE_AWARE: frozenset({"integer_only", "calibration_samples", "keep_float",
                                   "auto_keep_float", "int16_layers"})}

    inference_input_type: str = option("int8", choices=IO_INT8, help="dtype of the model input")
    inference_output_type: str = option("int8", choices=IO_INT8, help="dtype of the model output")
    keep_float: str = option(
        "", help="layers kept in float, each with the op feeding it (comma-separated names)",
        keyed_at_default=False)
    auto_keep_float: int = option(
        0, minimum=0, maximum=20, help="keep the K layers with the largest int8 error in float",
        keyed_at_default=False)
    int16_layers: str = option(
        "", help="layers with int16 activations, each with the op feeding it; int8 "
                 "elsewhere (quantized by the AI Edge Quantizer)", keyed_at_default=False)

    def __post_init__(self):
        from workbench.selective import split_layer_list

        for name in ("keep_float", "int16_layers"):
            value = getattr(self, name)
            if isinstance(value, (str, list, tuple)):
                object.__setattr__(self, name, ",".join(split_layer_list(value)))
        super().__post_init__()

    @property
    def is_selective(self) -> bool:
        """Whether some layers leave int8 (kept in float or int16)."""
        return bool(self.keep_float or self.auto_keep_float or self.int16_layers)

    def calibrates(self, facts) -> bool:
        return QUANTIZE_AWARE not in facts  # after QAT the ranges come from the quantizers

    def export_with_notes(self, task, model, facts, progress: bool) -> tuple[bytes, str]:
        if QUANTIZE_AWARE in facts:
            from workbench.qat import convert_qat

            return convert_qat(model, self.inference_input_type,
                               self.inference_output_type), ""
        return super().export_with_notes(task, model, facts, progress)


@register
@dataclass(frozen=True)
class Int16x8Export(FullIntegerExport):
    name: ClassVar[str] = "int16x8"
    summary: ClassVar[str] = (
        "int16 activations with int8 weights: more accurate than int8 when activations are "
        "sensitive; slower reference kernels on CPU."
    )
    ops_set: ClassVar[str] = "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"

    inference_input_type: str = option("float32", choices=IO_INT16,
                                       help="dtype of the model input")
    inference_output_type: str = option("float32", choices=IO_INT16,
                                        help="dtype of the model output")
