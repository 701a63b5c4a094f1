"""Keras 3 native quantization-aware training, exported to true int8 ``.tflite``.

Example:
    >>> from workbench.qat import quantize_model, convert_qat
"""

from workbench.qat.layers import (
    QuantAdd, QuantConv2D, QuantDense, QuantDepthwiseConv2D, QuantizeInput, QuantReLU,
)
from workbench.qat.transform import convert_qat, qat_report, quantize_model

__all__ = ["QuantAdd", "QuantConv2D", "QuantDense", "QuantDepthwiseConv2D", "QuantReLU",
           "QuantizeInput", "convert_qat", "qat_report", "quantize_model"]
