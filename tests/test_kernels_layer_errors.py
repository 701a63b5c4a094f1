"""Per-op error on the integer path (``workbench.kernels.layer_errors``) against TensorFlow's
quantization debugger: two independent measurements of the same int8 model."""

import numpy as np
import pytest

from workbench.errors import KernelError
from workbench.kernels.layer_errors import integer_path_errors
from workbench.ptq import convert
from workbench.quant_debug import ROUNDING_ONLY, quantization_errors, with_outlier_channel
from workbench.recipes import make_config
from workbench.stages.export import Float32Export


def kernel_errors(model, samples):
    int8 = convert(model, make_config("int8"), samples, progress=False)
    return integer_path_errors(int8, convert(model, Float32Export(), progress=False), samples)


def test_own_errors_agree_with_the_quantization_debugger(default_task):
    x = default_task.dataset.x_train[:48]
    ours = kernel_errors(default_task.model, x).set_index("tensor_name")
    theirs = quantization_errors(default_task.model, x).set_index("tensor_name")
    shared = ours.index.intersection(theirs.index)
    assert len(shared) == 8 and set(ours.loc[shared, "op"]) >= {
        "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED", "RESHAPE"}
    reshape = ours[ours["op"] == "RESHAPE"].iloc[0]
    assert reshape["rmse"] == 0 and reshape["max_abs_error"] == 0  # moves codes, adds nothing
    # measured: within 0.03 steps and 0.7 dB of the debugger on every op
    np.testing.assert_allclose(ours.loc[shared, "rmse_over_scale"],
                               theirs.loc[shared, "rmse_over_scale"], atol=0.08)
    np.testing.assert_allclose(ours.loc[shared, "snr_db"], theirs.loc[shared, "snr_db"], atol=2)
    arithmetic = ours[ours["op"] != "RESHAPE"]
    assert arithmetic["rmse_over_scale"].between(0.5 * ROUNDING_ONLY, 2 * ROUNDING_ONLY).all()


def test_the_outlier_layer_stands_out_on_the_integer_path(default_task):
    x = default_task.dataset.x_train[:48]
    outlier = with_outlier_channel(default_task.model, "block_dw_bn", "block_pw", 1000)
    errors = kernel_errors(outlier, x).set_index("op")
    worst = errors.sort_values("rmse_over_scale").iloc[-1]
    assert "block_pw" in worst["tensor_name"] and worst["rmse_over_scale"] > 10 * ROUNDING_ONLY
    assert errors["snr_db"].min() == worst["snr_db"]  # end to end, worst from there on


def test_a_model_with_two_inputs_is_refused(tmp_path):
    import keras

    from kernel_support import integer_tflite

    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    samples = np.random.default_rng(0).normal(size=(8, 4))
    with pytest.raises(KernelError, match="compares one-input models; this one has 2"):
        integer_path_errors(integer_tflite(model, [samples, samples]), b"", samples)
