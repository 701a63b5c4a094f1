"""Google's AI Edge Quantizer (``ai-edge-quantizer``) on a float ``.tflite``: per-op rules
(int4 weights, int8/int16 activations, ops left alone) and a tensor-by-tensor comparison of a
quantized model with its float one.

A rule is ``(scope regex, mode, options)``; for each op the last rule that matches its output
tensor name and that the quantizer supports for that op wins (the quantizer's own policy), so
a general rule first and narrower ones after refine it.

Example:
    >>> rules = [Rule(".*", "weight_only", weight_bits=4)]
    >>> int4 = quantize(float_tflite, rules)                                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass

import numpy as np

from workbench.errors import ConversionError

MODES = ("weight_only", "dynamic", "static", "float")


@dataclass(frozen=True)
class Rule:
    """Quantize the ops whose output name matches ``scope`` (a regex) in ``mode``:
    ``weight_only`` (weights dequantized before a float op), ``dynamic`` (activations quantized
    on the fly), ``static`` (calibrated ``activation_bits``) or ``float`` (left alone);
    ``block_size`` 0 is per channel. ``operation`` limits it to one op type (``'*'``: all)."""

    scope: str
    mode: str
    weight_bits: int = 8
    activation_bits: int = 8
    block_size: int = 0
    operation: str = "*"

    @classmethod
    def exactly(cls, names, mode: str, **options) -> "Rule":
        """A rule for the ops whose output tensors are exactly ``names`` (the quantizer's scope
        of an op is its output names, each followed by ';')."""
        return cls("^(" + "|".join(re.escape(name) for name in names) + ");$", mode, **options)

    def add_to(self, quantizer) -> None:
        from ai_edge_quantizer import qtyping
        from ai_edge_quantizer.algorithm_manager import AlgorithmName

        operation = (qtyping.TFLOperationName.ALL_SUPPORTED if self.operation == "*"
                     else qtyping.TFLOperationName(self.operation))
        granularity = qtyping.QuantGranularity(
            f"BLOCKWISE_{self.block_size}" if self.block_size else "CHANNELWISE")
        if self.mode == "float":
            quantizer.update_quantization_recipe(self.scope, operation_name=operation,
                                                 algorithm_key=AlgorithmName.NO_QUANTIZE)
        elif self.mode == "static":
            quantizer.add_static_config(self.scope, operation, self.activation_bits,
                                        self.weight_bits, granularity)
        elif self.mode == "dynamic":
            quantizer.add_dynamic_config(self.scope, operation, self.weight_bits, granularity)
        else:
            quantizer.add_weight_only_config(self.scope, operation, self.weight_bits,
                                             granularity)


def signature_data(tflite: bytes, samples) -> dict:
    """``samples`` (an array for one input, a dict by input name) as the quantizer's
    calibration and validation data: ``{signature: [{input name: one sample}, ...]}``."""
    from ai_edge_litert.interpreter import Interpreter

    from workbench.data import structure

    signatures = Interpreter(model_content=tflite).get_signature_list()
    key = next(iter(signatures))
    names = signatures[key]["inputs"]
    rows = []
    for index in range(structure.length(samples)):
        one = structure.take(samples, index, index + 1)
        if isinstance(one, dict):
            rows.append({name: np.asarray(one[name], np.float32) for name in names})
        else:
            rows.append({names[0]: np.asarray(one, np.float32)})
    return {key: rows}


@contextlib.contextmanager
def _quiet():
    """The quantizer prints progress bars and a report, and logs per-op warnings."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def quantize(float_tflite: bytes, rules: list[Rule], samples=None) -> bytes:
    """``float_tflite`` quantized by ``rules``; ``samples`` calibrate the static ones."""
    from ai_edge_quantizer import quantizer

    from workbench.tflite_inspect import inspect_tflite

    inspect_tflite(float_tflite)  # a damaged file gets the reader's clear error, not the engine's
    try:
        with _quiet():
            engine = quantizer.Quantizer(bytearray(float_tflite))
            for rule in rules:
                rule.add_to(engine)
            calibration = None
            if engine.need_calibration:
                if samples is None:
                    raise ConversionError("Static quantization calibrates activation ranges "
                                          "and needs representative data; none was given.")
                calibration = engine.calibrate(signature_data(float_tflite, samples),
                                               num_threads=1)
            result = engine.quantize(calibration, enable_progress_report=False)
    except ConversionError:
        raise
    except Exception as error:  # the quantizer raises ValueError, RuntimeError, KeyError...
        detail = str(error).strip().splitlines()[0][:300] if str(error).strip() else \
            type(error).__name__
        raise ConversionError(
            f"The AI Edge Quantizer could not quantize this model: {detail}. It reads float "
            ".tflite models of builtin ops with one subgraph; export the model as float32 "
            "first to check it converts.") from None
    return bytes(result.quantized_model)


def tensor_agreement(float_tflite: bytes, quantized_tflite: bytes, samples):
    """Per tensor of ``quantized_tflite`` that the float model also has: ``tensor_name``,
    ``snr_db`` and ``cosine`` of its values against float on ``samples`` (the quantizer's
    ``validate``; errors accumulate along the graph, as on the device)."""
    import pandas as pd
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric as Metric

    with _quiet():
        engine = quantizer.Quantizer(bytearray(float_tflite),
                                     previous_quantized_model=bytearray(quantized_tflite))
        result = engine.validate(signature_data(float_tflite, samples),
                                 error_metrics=[Metric.SNR, Metric.COSINE_SIMILARITY],
                                 num_threads=1)
    rows = [{"tensor_name": name, "snr_db": _decibels(values.get("snr")),
             "cosine": values.get("cosine_similarity")}
            for name, values in result.get_all_tensor_results().items()]
    return pd.DataFrame(rows, columns=["tensor_name", "snr_db", "cosine"])


def _decibels(ratio) -> float | None:
    """The quantizer's SNR (a power ratio) in dB, capped at 100 dB for identical tensors."""
    if ratio is None:
        return None
    return 100.0 if not np.isfinite(ratio) or ratio > 1e10 else float(10 * np.log10(max(ratio,
                                                                                         1e-10)))
