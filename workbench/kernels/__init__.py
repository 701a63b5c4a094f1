"""TFLite's integer arithmetic as readable, vectorized numpy, bit-exact with LiteRT's
reference kernels: what int8 hardware computes, for teaching and for debugging a ``.tflite``
that disagrees with Keras.

Example:
    >>> from workbench.kernels import run_tflite
    >>> tensors = run_tflite("model_int8.tflite", [x_int8])            # doctest: +SKIP
"""

from workbench.kernels.fixed_point import (multiply_by_quantized_multiplier,
                                           quantize_multiplier, rounding_divide_by_pot,
                                           saturating_rounding_doubling_high_mul)
from workbench.kernels.quant import Quant, dequantize, quantize, requantize
from workbench.kernels.runner import IntegerModel, quant_of, run_tflite, supported_ops

__all__ = [
    "IntegerModel", "Quant", "dequantize", "multiply_by_quantized_multiplier", "quantize",
    "quant_of", "quantize_multiplier", "requantize", "rounding_divide_by_pot", "run_tflite",
    "saturating_rounding_doubling_high_mul", "supported_ops",
]
