"""The flatbuffer reader on a graph whose weights are set by hand."""

import keras
import numpy as np
import pytest

from workbench.ptq import convert
from workbench.stages.export import DynamicRangeExport, Float32Export
from workbench.tflite_inspect import inspect_tflite


@pytest.fixture(scope="module")
def hand_model():
    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(32, name="fc")(inputs)
    model = keras.Model(inputs, outputs)
    kernel = np.tile(np.array([0.0, 0.0, 0.5, -0.25], "float32"), 64 * 32 // 4).reshape(64, 32)
    bias = np.arange(32, dtype="float32")
    model.get_layer("fc").set_weights([kernel, bias])
    return model


def test_float_graph_tensors_and_ops(hand_model):
    info = inspect_tflite(convert(hand_model, Float32Export(), progress=False))
    assert info.op_counts() == {"FULLY_CONNECTED": 1}
    (kernel,) = info.weight_tensors()
    assert kernel.dtype == "float32" and kernel.shape == (32, 64)  # TFLite keeps (out, in)
    assert kernel.zeros == 64 * 32 // 2 and kernel.unique_values == 3
    bias = info.tensors[info.ops[0].inputs[2]]
    assert bias.unique_values == 32 and bias.zeros == 1
    np.testing.assert_array_equal(bias.data, np.arange(32))
    inputs = [info.tensors[i] for i in info.inputs]
    assert [t.is_constant for t in inputs] == [False] and inputs[0].zeros is None


def test_dynamic_range_kernel_is_int8_with_scales(hand_model, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(convert(hand_model, DynamicRangeExport(), progress=False))
    info = inspect_tflite(path)  # a path works as well as bytes
    (kernel,) = info.weight_tensors()
    assert kernel.dtype == "int8"
    assert kernel.zeros == 64 * 32 // 2 and kernel.unique_values == 3
    assert kernel.scales is not None and kernel.scales.size >= 1
    table = info.table()
    assert {"name", "dtype", "shape", "zeros", "unique_values"} <= set(table.columns)
    assert len(table) == len(info.tensors)
