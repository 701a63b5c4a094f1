"""Small integer models for the kernel tests: a Keras graph converted with full-integer
quantization (int8, or int16 activations with int8 weights), and LiteRT's reference run."""

from __future__ import annotations

import numpy as np

from workbench.kernels import IntegerModel
from workbench.kernels.litert import litert_tensors
from workbench.tflite_inspect import inspect_tflite


def integer_tflite(model, samples: np.ndarray, int16: bool = False) -> bytes:
    """``model`` converted with every tensor integer (int8 I/O; int16 I/O for ``int16``),
    calibrated on ``samples`` (a list of arrays for a model of several inputs)."""
    import tensorflow as tf

    from workbench.progress import converter_chatter_hidden

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if isinstance(samples, list):  # by input name: the graph's own input order is not Keras'
        names = [tensor.name for tensor in model.inputs]
        parts = [np.asarray(part, np.float32) for part in samples]
        converter.representative_dataset = lambda: (
            {name: part[i][None] for name, part in zip(names, parts)}
            for i in range(len(parts[0])))
    else:
        array = np.asarray(samples, np.float32)
        converter.representative_dataset = lambda: ([sample[None]] for sample in array)
    ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 if int16 \
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8
    converter.target_spec.supported_ops = [ops]
    converter.inference_input_type = converter.inference_output_type = \
        tf.int16 if int16 else tf.int8
    with converter_chatter_hidden():
        return converter.convert()


def single_layer_tflite(layer, input_shape, seed: int = 0, int16: bool = False,
                        scale: float = 1.0) -> bytes:
    """One Keras ``layer`` on an input of ``input_shape`` (no batch axis), as an integer
    ``.tflite``, calibrated on normal samples times ``scale``."""
    import keras

    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, layer(inputs))
    samples = np.random.default_rng(seed).normal(size=(32, *input_shape)) * scale
    return integer_tflite(model, samples, int16)


def random_input(tflite: bytes, seed: int = 1) -> list[np.ndarray]:
    """One random array per graph input: integers over the dtype's whole range, floats in
    [-4, 4] (beyond the calibrated range of the digits models' inputs, so QUANTIZE saturates)."""
    info = inspect_tflite(tflite)
    rng = np.random.default_rng(seed)
    found = []
    for index in info.inputs:
        tensor = info.tensors[index]
        if tensor.dtype == "float32":  # quantized by the model's own QUANTIZE: past its range
            found.append(rng.uniform(-4, 4, tensor.shape).astype(np.float32))
            continue
        limits = np.iinfo(tensor.dtype)
        found.append(rng.integers(limits.min, limits.max, tensor.shape, endpoint=True)
                     .astype(tensor.dtype))
    return found


def reference_outputs(tflite: bytes, inputs) -> dict[str, np.ndarray]:
    """Every tensor of LiteRT's reference run, by name."""
    return litert_tensors(tflite, inputs, "reference")


def zoo_int8_tflite(name: str, samples: int = 8) -> bytes:
    """``name`` (e.g. ``mobilenet_v2:96``, random weights) with batch-norm statistics and int8
    calibration from uniform noise, as the workbench's ``int8`` variant."""
    import keras

    from workbench.ptq import convert
    from workbench.recipes import make_config
    from workbench.zoo import build_zoo_model, with_batch_norm_statistics

    keras.utils.set_random_seed(0)
    model = build_zoo_model(name)
    data = np.random.default_rng(0).uniform(-1, 1, (samples, *model.input_shape[1:]))
    model = with_batch_norm_statistics(model, data)
    return convert(model, make_config("int8"), data.astype("float32"), progress=False)


def check_ops_against_reference(tflite: bytes, inputs, op_names) -> list[tuple[str, object]]:
    """Run each op of ``tflite`` named in ``op_names`` through the kernels (the runner's op
    handlers: options read from the flatbuffer) on the inputs LiteRT's reference run gave it,
    assert its output equal to LiteRT's, element by element, and return the ``(op name,
    builtin options)`` checked."""
    model = IntegerModel(tflite)
    tensors = reference_outputs(tflite, inputs)
    by_index = {t.index: tensors[t.name] for t in model.info.tensors if t.name in tensors}
    checked = []
    for op in model.info.ops:
        if op.name not in op_names:
            continue
        values = {**model.constants, **{i: by_index[i] for i in op.inputs if i in by_index}}
        model.run_op(op.index, values)
        ours, theirs = values[op.outputs[0]], by_index[op.outputs[0]]
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, op.name
        assert np.array_equal(ours, theirs), \
            f"op {op.index} ({op.name}): {np.count_nonzero(ours != theirs)} of {theirs.size} " \
            "codes differ"
        checked.append((op.name, model.options[op.index]))
    return checked
