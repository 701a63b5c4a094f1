"""Post-training quantization with ``tf.lite.TFLiteConverter``.

``convert`` turns a Keras 3 model into ``.tflite`` bytes for one recipe config:
``float32``, ``dynamic_range``, ``float16``, ``int8`` (full integer) or
``int16x8`` (int16 activations, int8 weights). The full-integer recipes
calibrate on representative data: a numpy array, a ``tf.data.Dataset`` or a
generator of input samples or batches.

Example:
    >>> from workbench.recipes import Int8Config
    >>> tflite_bytes = convert(model, Int8Config(), representative_data=x_train[:200])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from typing import Any

from workbench.data import representative_array
from workbench.errors import ConversionError, RecipeError
from workbench.progress import converter_chatter_hidden, track
from workbench.recipes import (
    DynamicRangeConfig, Float16Config, Float32Config, FullIntegerConfig, Int8Config,
    Int16x8Config, RecipeConfig,
)


# The names TensorFlow accepts for the ops a layer becomes (tensorflow/python/framework/ops.py).
CONVERTIBLE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def check_convertible_names(model) -> None:
    """Refuse, naming it, a layer whose name the converter cannot trace (a space, '<', 'ü'...):
    TensorFlow fails on those with an unrelated message, after any training ran."""
    from workbench.layer_selection import walk_layers

    bad = [path for path, layer in walk_layers(model) if not CONVERTIBLE_NAME.match(layer.name)]
    if bad:
        raise RecipeError(
            f"Layer name(s) {', '.join(repr(name) for name in bad[:5])} cannot be converted: "
            "TensorFlow names ops after layers. Expected names of letters, digits and _ . - / > "
            "(starting with a letter, digit or '.'): rename the layers (e.g. "
            "keras.layers.Dense(10, name='dense_1')) and save the model again.")


def convert(model, config: RecipeConfig, representative_data: Any = None,
            progress: bool = True) -> bytes:
    """Convert ``model`` with recipe ``config``; returns the ``.tflite`` flatbuffer bytes."""
    check_convertible_names(model)
    samples = None
    if isinstance(config, FullIntegerConfig):
        if representative_data is None:
            raise RecipeError(
                f"Recipe '{config.name}' calibrates activation ranges and needs representative "
                "data, but none was given. Pass representative_data= (a numpy array, "
                "tf.data.Dataset or generator of ~100-500 unlabelled inputs), or on the command "
                "line use a model with a dataset (--data PATH.npz)."
            )
        samples = representative_array(
            representative_data, model.inputs[0].shape, max_samples=config.calibration_samples
        )
    converter = _make_converter(model, config, samples, progress)
    try:
        # The Keras exporter prints "Saved artifact at ..." on stdout: keep it out of the CLI.
        with converter_chatter_hidden():
            return converter.convert()
    except Exception as error:  # the converter raises ConverterError, ValueError, RuntimeError
        raise ConversionError(_conversion_message(config, error)) from None


def _make_converter(model, config: RecipeConfig, samples, progress: bool):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if isinstance(config, Float32Config):
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if isinstance(config, DynamicRangeConfig):
        return converter
    if isinstance(config, Float16Config):
        converter.target_spec.supported_types = [tf.float16]
        return converter
    converter.representative_dataset = _calibration_feed(samples, progress)
    dtypes = {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16, "float32": tf.float32}
    if isinstance(config, Int8Config):
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif isinstance(config, Int16x8Config):
        ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    else:
        raise RecipeError(f"Recipe '{config.name}' is not a post-training quantization recipe.")
    if not config.integer_only:
        ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    converter.target_spec.supported_ops = ops
    converter.inference_input_type = dtypes[config.inference_input_type]
    converter.inference_output_type = dtypes[config.inference_output_type]
    return converter


def _calibration_feed(samples, progress: bool):
    def feed():
        for sample in track(samples, "calibrating", enabled=progress, unit="sample"):
            yield [sample[None]]

    return feed


def _conversion_message(config: RecipeConfig, error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "error:" in line.lower()), lines[0] if lines else "")
    hint = ""
    if getattr(config, "integer_only", False):
        hint = (" Some op has no integer kernel: set integer_only=false to let it fall back to "
                "float, or replace that layer.")
    return f"The TFLite converter failed for recipe '{config.name}': {detail[:400]}.{hint}"
