"""QAT beyond plain conv stacks: nested models, Concatenate, Rescaling, standalone
BatchNormalization, resizing and transposed convolutions, all exported fully int8."""

import keras
import numpy as np
import pytest

from model_builders import mixed_model
from workbench.errors import WorkbenchError
from workbench.finetune import fine_tune
from workbench.graph import inline_nested_models
from workbench.measure import accuracy, agreement, keras_predict, tflite_predict
from workbench.qat import convert_qat, qat_report, quantize_model
from workbench.tflite_inspect import inspect_tflite


@pytest.fixture(scope="module")
def mixed(default_task):
    keras.utils.set_random_seed(3)
    model = mixed_model()
    fine_tune(model, default_task.dataset, 12, 3e-3, progress=False)
    qat_model = quantize_model(model)
    fine_tune(qat_model, default_task.dataset, 2, 1e-3, progress=False)
    return model, qat_model, convert_qat(qat_model)


def test_mixed_functional_model_converts_fully_int8(mixed, default_task):
    model, qat_model, tflite = mixed
    info = inspect_tflite(tflite)
    assert info.int8_ops_fraction() == 1.0
    ops = info.op_counts()
    assert ops["CONCATENATION"] == 1 and ops["TRANSPOSE_CONV"] == 1
    assert ops["RESIZE_NEAREST_NEIGHBOR"] == 1 and ops["SOFTMAX"] == 1
    # Rescaling and the standalone BN run as 1x1 depthwise convolutions, beside the block's own
    assert ops["DEPTHWISE_CONV_2D"] == 3
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops
    x, y = default_task.dataset.x_test, default_task.dataset.y_test
    qat_outputs, tflite_outputs = keras_predict(qat_model, x), tflite_predict(tflite, x,
                                                                              progress=False)
    # measured over seeds and oneDNN on/off (bench.training_spread): at most 0.22 points
    assert abs(accuracy(qat_outputs, y) - accuracy(tflite_outputs, y)) <= 0.01
    assert agreement(qat_outputs, tflite_outputs) >= 0.97
    assert accuracy(tflite_outputs, y) >= 0.6  # it learnt (chance is 0.1)


def test_report_names_what_was_rewritten(mixed):
    report = qat_report(mixed[1])
    assert "inlined nested model 'inner'" in report.notes
    assert any("folded 1 BatchNormalization" in note for note in report.notes)
    assert {"rescale", "standalone_bn", "inner_cat", "up_conv", "upsample", "fc"} <= set(
        report.applied)


def test_mixed_qat_model_saves_and_loads(mixed, default_task, tmp_path):
    qat_model = mixed[1]
    qat_model.save(tmp_path / "mixed.keras")
    loaded = keras.saving.load_model(tmp_path / "mixed.keras")
    x = default_task.dataset.x_test[:64]
    np.testing.assert_allclose(keras_predict(loaded, x), keras_predict(qat_model, x))


def test_inlining_keeps_predictions_and_the_original(default_task):
    keras.utils.set_random_seed(4)
    model = mixed_model()
    flat, inlined = inline_nested_models(model)
    assert inlined == ["inner"]
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    x = default_task.dataset.x_test[:32]
    np.testing.assert_allclose(keras_predict(flat, x), keras_predict(model, x), rtol=1e-5,
                               atol=1e-6)
    flat.get_layer("inner_conv").kernel.assign(np.zeros((3, 3, 8, 8), "float32"))
    assert np.abs(model.get_layer("inner").get_layer("inner_conv").kernel.numpy()).sum() > 0


def test_inlining_refuses_clashing_names():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(4, name="fc")(inner_in), name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(inner(inputs)))
    with pytest.raises(WorkbenchError, match=r"'fc' is used both inside the nested model"):
        inline_nested_models(model)


def test_unsupported_activation_and_layout_are_named():
    inputs = keras.Input((8, 8, 1))
    gelu = keras.Model(inputs, keras.layers.Conv2D(4, 3, activation="gelu", name="c")(inputs))
    with pytest.raises(WorkbenchError, match=r"'c' uses activation 'gelu'.*keep_float=\['c'\]"):
        quantize_model(gelu)
    with pytest.warns(UserWarning, match="skipped c: kept in float by keep_float"):
        kept = quantize_model(gelu, keep_float=["c"])
    assert qat_report(kept).skipped == {"c": "kept in float by keep_float"}
    flat = keras.Input((8,))
    bn = keras.Model(flat, keras.layers.BatchNormalization(name="bn")(flat))
    with pytest.raises(WorkbenchError, match=r"'bn' \(BatchNormalization\) acts on a rank-2"):
        quantize_model(bn)


def test_per_layer_errors_point_at_the_outlier_layer(default_task):
    from workbench.quant_debug import ROUNDING_ONLY, quantization_errors, with_outlier_channel

    x = default_task.dataset.x_train[:48]
    plain = quantization_errors(default_task.model, x)
    assert set(plain["op"]) >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED"}
    assert plain["rmse_over_scale"].max() < 3 * ROUNDING_ONLY
    outlier = with_outlier_channel(default_task.model, "block_dw_bn", "block_pw", 1000)
    np.testing.assert_allclose(keras_predict(outlier, x), keras_predict(default_task.model, x),
                               rtol=1e-4, atol=1e-4)
    errors = quantization_errors(outlier, x).set_index("layer")
    assert errors["rmse_over_scale"].idxmax() == "block_pw"  # the conv its BN was folded into
    assert errors.loc["block_pw", "rmse_over_scale"] > 10 * ROUNDING_ONLY
    # against the float model (errors accumulate): clean before the outlier, worst at it
    assert errors.loc[["stem_conv", "block_dw"], "snr_db"].min() > 25
    assert errors["snr_db"].idxmin() == "block_pw" and errors["cosine"].idxmin() == "block_pw"
    assert errors.loc["block_pw", "cosine"] < 0.5 < errors.loc["block_dw", "cosine"]
