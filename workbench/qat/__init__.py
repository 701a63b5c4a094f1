"""Keras 3 native quantization-aware training, exported to true int8 ``.tflite``.

Example:
    >>> from workbench.qat import quantize_model, convert_qat
"""

from workbench.qat.layers import (
    QUANTIZED_CLASSES, QuantConv2D, QuantConv2DTranspose, QuantDense, QuantDepthwiseConv2D,
    QuantizeInput,
)
from workbench.qat.transform import convert_qat, qat_report, quantize_model

__all__ = ["QUANTIZED_CLASSES", "QuantConv2D", "QuantConv2DTranspose", "QuantDense",
           "QuantDepthwiseConv2D", "QuantizeInput", "convert_qat", "qat_report", "quantize_model"]
