"""Post-training quantization with ``tf.lite.TFLiteConverter``.

``convert`` turns a Keras 3 model into ``.tflite`` bytes for one recipe config:
``float32``, ``dynamic_range``, ``float16``, ``int8`` (full integer) or
``int16x8`` (int16 activations, int8 weights). The full-integer recipes
calibrate on representative data: a numpy array, a ``tf.data.Dataset`` or a
generator of input samples or batches.

Example:
    >>> from workbench.recipes import make_config
    >>> tflite_bytes = convert(model, make_config("int8"), x_train[:200])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from typing import Any

from workbench.data import representative_inputs
from workbench.errors import ConversionError, RecipeError
from workbench.progress import converter_chatter_hidden


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


def convert(model, config, representative_data: Any = None, progress: bool = True) -> bytes:
    """Convert ``model`` with a post-training recipe (``make_config("int8")``) or export stage
    (``Int8Export()``); returns the ``.tflite`` flatbuffer bytes."""
    return convert_with_notes(model, config, representative_data, progress)[0]


def convert_with_notes(model, config, representative_data: Any = None,
                       progress: bool = True) -> tuple[bytes, str]:
    """``convert``, and what the row's notes should say of it (layers kept in float...)."""
    export = _export_stage(config)
    check_convertible_names(model)
    samples = None
    if export.needs_representative_data:
        if representative_data is None:
            raise RecipeError(
                f"Recipe '{export.name}' calibrates activation ranges and needs representative "
                "data, but none was given. Pass representative_data= (a numpy array, "
                "tf.data.Dataset or generator of ~100-500 unlabelled inputs), or on the command "
                "line use a model with a dataset (--data PATH.npz)."
            )
        samples = representative_inputs(representative_data, model,
                                        max_samples=export.calibration_samples)
    if hasattr(export, "quantize_float"):  # the AI Edge Quantizer works on the float model
        from workbench.stages.export import Float32Export

        return export.quantize_float(convert(model, Float32Export(), progress=False), samples)
    if getattr(export, "is_selective", False):
        from workbench.selective import convert_selective

        return convert_selective(model, export, samples, progress)
    converter = make_converter(model, export, samples, progress)
    try:
        # The Keras exporter prints "Saved artifact at ..." on stdout: keep it out of the CLI.
        with converter_chatter_hidden():
            return converter.convert(), ""
    except Exception as error:  # the converter raises ConverterError, ValueError, RuntimeError
        raise ConversionError(_conversion_message(export, error)) from None


def make_converter(model, export, samples, progress: bool = False):
    """A ``TFLiteConverter`` for ``model`` set up by the export stage ``export``."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(_flat_io(model))
    export.configure(converter, samples, progress)
    return converter


def _flat_io(model):
    """A model of several inputs or outputs as lists of them (the converter cannot trace dict
    structures): the ``.tflite`` inputs keep the Keras input names, its outputs are numbered
    ``output_0...`` in ``model.output_names`` order (``measure.io_details`` names them back)."""
    if len(model.inputs) == 1 and len(model.outputs) == 1:
        return model
    import keras

    return keras.Model(list(model.inputs), list(model.outputs), name=model.name)


def _export_stage(config):
    """The export stage of a post-training recipe, or ``config`` itself when it is one."""
    from workbench.recipes import PTQ_RECIPES

    stages = getattr(config, "stages", (config,))
    if len(stages) != 1 or getattr(stages[0], "kind", "") != "export":
        raise RecipeError(
            f"convert() takes a post-training recipe ({', '.join(PTQ_RECIPES)}); recipe "
            f"'{config.name}' has transform stages. Use workbench.run() for it.")
    return stages[0]


def _conversion_message(config, error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "error:" in line.lower()), lines[0] if lines else "")
    hint = ""
    if getattr(config, "integer_only", False):
        hint = (" Some op has no integer kernel: set integer_only=false to let it fall back to "
                "float, or replace that layer.")
    return f"The TFLite converter failed for recipe '{config.name}': {detail[:400]}.{hint}"
