"""Low-bit weights through Google's AI Edge Quantizer, applied to the float ``.tflite``:
``int4_weights`` (weight-only int4), ``dynamic_int4`` (int4 weights, activations quantized on
the fly) and ``int4_int8`` (int4 weights, calibrated int8 activations).

The quantizer's own policy decides which ops take which scheme; the ops it cannot quantize
stay as they are and the row's notes list them (``low_bit_notes``). Blockwise scales
(``block_size`` 32/64/128) exist there only for the dynamic scheme on FULLY_CONNECTED and
EMBEDDING_LOOKUP; other ops keep one scale per output channel.

Example:
    >>> [rule.mode for rule in Int4WeightsExport(block_size=32).rules()]
    ['weight_only', 'dynamic']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from workbench.stages.base import ExportStage, option
from workbench.stages.export import AFTER_QAT, DEFAULT_CALIBRATION_SAMPLES
from workbench.stages.registry import register

BLOCK_SIZES = (0, 32, 64, 128)
# Ops whose weights the quantizer can make int4, and the ones with blockwise int4.
INT4_OPS = ("CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "EMBEDDING_LOOKUP")
BLOCKWISE_OPS = ("FULLY_CONNECTED", "EMBEDDING_LOOKUP")
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D",
            "BATCH_MATMUL", "EMBEDDING_LOOKUP")


@dataclass(frozen=True)
class EdgeQuantizerExport(ExportStage):
    """An export that converts to float32, then quantizes that ``.tflite`` by ``rules()``."""

    refuses: ClassVar[dict[str, str]] = AFTER_QAT
    in_default_sweep: ClassVar[bool] = False
    calibration_samples: ClassVar[int] = 0

    def rules(self) -> list:
        raise NotImplementedError

    def quantize_float(self, float_tflite: bytes, samples) -> tuple[bytes, str]:
        """``float_tflite`` quantized by the rules, and the notes on what became int4."""
        from workbench.edge_quantizer import quantize

        from workbench.errors import ConversionError
        from workbench.tflite_inspect import inspect_tflite

        tflite = quantize(float_tflite, self.rules(), samples)
        kernels = inspect_tflite(tflite).kernels(WEIGHTED)
        if not any(kernel.dtype == "int4" for _, kernel in kernels):
            ops = sorted(inspect_tflite(float_tflite).op_counts())
            raise ConversionError(
                f"Recipe '{self.name}' found no weights to make int4: the quantizer gives int4 to "
                f"{', '.join(INT4_OPS)} kernels, and this model's ops are {', '.join(ops)}. "
                "Use a recipe for models without such layers (float16, int8).")
        return tflite, low_bit_notes(kernels)

    def export_with_notes(self, task, model, facts, progress: bool) -> tuple[bytes, str]:
        from workbench.ptq import convert_with_notes

        representative = task.representative_data(self.calibration_samples) \
            if self.calibrates(facts) else None
        return convert_with_notes(model, self, representative, progress=progress)


@dataclass(frozen=True)
class BlockwiseInt4Export(EdgeQuantizerExport):
    """The int4 exports that offer blockwise scales: int4 weights everywhere in ``mode``."""

    mode: ClassVar[str] = ""  # the quantizer's scheme: weight_only or dynamic

    block_size: int = option(0, choices=BLOCK_SIZES,
                             help="int4 weights per scale (blockwise: FULLY_CONNECTED and "
                                  "EMBEDDING_LOOKUP only); 0: one scale per output channel")

    def rules(self) -> list:
        from workbench.edge_quantizer import Rule

        rules = [Rule(".*", self.mode, weight_bits=4)]
        if self.block_size:  # under another scope key: it wins where the quantizer has
            # blockwise int4 for an op; elsewhere it is skipped and the first rule holds
            rules.append(Rule(".+", "dynamic", weight_bits=4, block_size=self.block_size))
        return rules


@register
@dataclass(frozen=True)
class Int4WeightsExport(BlockwiseInt4Export):
    name: ClassVar[str] = "int4_weights"
    summary: ClassVar[str] = (
        "int4 weights (AI Edge Quantizer), dequantized to float when the model loads: up to "
        "8x smaller on disk, float compute; no data needed."
    )
    mode: ClassVar[str] = "weight_only"


@register
@dataclass(frozen=True)
class DynamicInt4Export(BlockwiseInt4Export):
    name: ClassVar[str] = "dynamic_int4"
    summary: ClassVar[str] = (
        "int4 weights, activations quantized on the fly (AI Edge Quantizer): up to 8x smaller, "
        "integer compute on CPU; no data needed."
    )
    mode: ClassVar[str] = "dynamic"


@register
@dataclass(frozen=True)
class Int4Int8Export(EdgeQuantizerExport):
    name: ClassVar[str] = "int4_int8"
    summary: ClassVar[str] = (
        "int4 weights on FULLY_CONNECTED and CONV_2D, int8 weights elsewhere, int8 "
        "activations calibrated on representative data (AI Edge Quantizer)."
    )
    needs_representative_data: ClassVar[bool] = True

    calibration_samples: int = option(
        DEFAULT_CALIBRATION_SAMPLES, minimum=1, maximum=100_000,
        help="how many representative samples calibrate the activation ranges")

    def rules(self) -> list:
        from workbench.edge_quantizer import Rule

        return [Rule(".*", "static"), Rule(".+", "static", weight_bits=4)]


def low_bit_notes(kernels) -> str:
    """``'int4 weights: CONV_2D x35, FULLY_CONNECTED x1; of them FULLY_CONNECTED blockwise 32
    x1; not int4 (...): DEPTHWISE_CONV_2D (float32) x17'``: what the quantizer did to each
    weighted op (``kernels``: ``TFLiteModelInfo.kernels(WEIGHTED)`` of the quantized model)."""
    int4, blockwise, other = Counter(), Counter(), Counter()
    for op_name, kernel in kernels:
        if kernel.dtype == "int4":
            int4[op_name] += 1
            if kernel.block_size:
                blockwise[f"{op_name} blockwise {kernel.block_size}"] += 1
        else:
            other[f"{op_name} ({kernel.dtype})"] += 1

    def listed(counts: Counter) -> str:
        return ", ".join(f"{name} x{count}" for name, count in sorted(counts.items()))

    parts = [f"int4 weights: {listed(int4) or 'none'}",
             f"of them {listed(blockwise)}" if blockwise else "",
             f"not int4 (the quantizer has no int4 for them): {listed(other)}" if other else ""]
    return "; ".join(filter(None, parts))
