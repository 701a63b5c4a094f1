"""Selective and mixed precision (keep_float, auto_keep_float, int16_layers), per-layer
sensitivity, and int4 weights through the AI Edge Quantizer: real converter, real quantizer,
real LiteRT."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from workbench.devices import analyze_tflite, estimate_tflite
from workbench.errors import ConversionError, ModelLoadError, RecipeError
from workbench.measure import tflite_predict
from workbench.ptq import convert, convert_with_notes
from workbench.recipes import make_config
from workbench.selective import layer_names, op_layers
from workbench.tflite_inspect import inspect_tflite

SKIPPED_OPS = ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SHAPE", "STRIDED_SLICE", "PACK")


@pytest.fixture(scope="module")
def outlier_task(workspace, default_task):
    from workbench.pipeline import prepare_task

    return prepare_task("digits_outlier", workspace=workspace, progress=False)


def op_dtypes_by_layer(tflite: bytes, model) -> dict[str, set[str]]:
    """Keras layer -> the compute dtypes of the ops it became (quantize ops left out)."""
    info = inspect_tflite(tflite)
    found: dict[str, set[str]] = {}
    for cost, layers in zip(analyze_tflite(info).ops, op_layers(info, layer_names(model))):
        if cost.name not in SKIPPED_OPS:
            for layer in layers:
                found.setdefault(layer, set()).add(cost.dtype)
    return found


def test_auto_keep_float_recovers_the_outlier_model(outlier_task, store):
    from workbench.pipeline import run

    int8 = run(outlier_task, make_config("int8"), store, latency_runs=3, progress=False)
    kept = run(outlier_task, make_config("int8", {"auto_keep_float": 1}), store,
               latency_runs=3, progress=False)
    assert int8["float_accuracy"] - int8["accuracy"] > 0.1  # the outlier hurts int8
    assert kept["accuracy"] >= kept["float_accuracy"] - 0.005
    assert kept["size_bytes"] <= 1.15 * int8["size_bytes"]
    assert json.loads(kept["config"])["auto_keep_float"] == 1
    assert "in float: block_dw, block_pw" in kept["notes"]
    dtypes = op_dtypes_by_layer(store.read_tflite(kept["run_id"]), outlier_task.model)
    assert dtypes["block_pw"] == {"float32"} and dtypes["block_dw"] == {"float32"}
    assert dtypes["stem_conv"] == dtypes["down_conv"] == dtypes["fc"] == {"int8"}
    info = inspect_tflite(store.read_tflite(kept["run_id"]))
    assert info.tensors[info.inputs[0]].dtype == "int8"  # the export's input type holds


def test_keep_float_names_the_same_layers_as_auto(outlier_task):
    samples = outlier_task.representative_data(200)
    tflite, notes = convert_with_notes(outlier_task.model,
                                       make_config("int8", {"keep_float": ["block_pw"]}),
                                       samples, progress=False)
    assert notes == "in float: block_dw, block_pw"
    x, labels = outlier_task.dataset.x_test, outlier_task.dataset.y_test
    assert np.mean(tflite_predict(tflite, x).argmax(1) == labels) > 0.95


def test_int16_layers_exactly_on_the_chosen_ops(outlier_task):
    tflite, notes = convert_with_notes(outlier_task.model,
                                       make_config("int8", {"int16_layers": "fc"}),
                                       outlier_task.representative_data(200), progress=False)
    dtypes = op_dtypes_by_layer(tflite, outlier_task.model)
    # fc and the conv feeding it (through the flatten reshape) in int16, int8 everywhere else
    assert dtypes["fc"] == dtypes["down_conv"] == {"int16x8"}
    for layer in ("stem_conv", "block_dw", "block_pw", "block_add", "logits"):
        assert dtypes[layer] == {"int8"}, layer
    assert notes == "int16 activations: down_conv, fc"


def test_unknown_layer_lists_close_names(outlier_task):
    samples = outlier_task.representative_data(8)
    with pytest.raises(RecipeError, match=r"no layer 'block_pww'. Did you mean block_pw"):
        convert(outlier_task.model, make_config("int8", {"keep_float": "block_pww"}), samples)
    everything = ",".join(layer_names(outlier_task.model))
    with pytest.raises(RecipeError, match="every layer of the model in float: that is the "
                                          "float32 recipe"):
        convert(outlier_task.model, make_config("int8", {"keep_float": everything}), samples)
    with pytest.raises(RecipeError, match="either float or int16"):
        convert(outlier_task.model, make_config("int8", {"keep_float": "fc",
                                                         "int16_layers": "fc"}), samples)
    with pytest.raises(RecipeError, match=r"auto_keep_float=9, but the model has 7 layer"):
        convert(outlier_task.model, make_config("int8", {"auto_keep_float": 9}), samples)


def test_options_parse_from_the_command_line_and_round_trip():
    recipe = make_config("int8", {"keep_float": " conv1, dense ,conv1", "auto_keep_float": "2"})
    assert recipe.export.keep_float == "conv1,dense" and recipe.export.auto_keep_float == 2
    assert recipe.code() == ("workbench.make_config('int8', {'keep_float': 'conv1,dense', "
                             "'auto_keep_float': 2})")
    with pytest.raises(RecipeError, match=r"auto_keep_float must lie in \[0, 20\]"):
        make_config("int8", {"auto_keep_float": "-1"})
    assert "keep_float" not in make_config("qat").get_config()  # QAT sets its own ranges


def test_sensitivity_ranks_the_outlier_layer_first(outlier_task):
    from workbench.sensitivity import layer_sensitivity

    table = layer_sensitivity(outlier_task, top=2, progress=False)
    assert table.loc[0, "layer"] == "block_pw" and table.loc[0, "op"] == "CONV_2D"
    assert table.loc[0, "snr_db"] == table["snr_db"].min()
    assert table.loc[0, "recovered"] > 0.1  # keeping it in float wins the loss back
    assert abs(table.loc[1, "recovered"]) < 0.03
    assert table["score_kept_float"].iloc[2:].isna().all()  # only the top ones are scored
    assert table.attrs["int8_score"] < table.loc[0, "score_kept_float"]


def test_int4_weights_on_the_default_model(default_task):
    calibration = default_task.representative_data(200)
    x, labels = default_task.dataset.x_test, default_task.dataset.y_test
    for name in ("int4_weights", "dynamic_int4", "int4_int8"):
        tflite, notes = convert_with_notes(default_task.model, make_config(name), calibration,
                                           progress=False)
        accuracy = float(np.mean(tflite_predict(tflite, x).argmax(1) == labels))
        assert accuracy >= default_task.float_accuracy - 0.03, name
        assert notes.startswith("int4 weights: CONV_2D x3, FULLY_CONNECTED x2"), notes
        assert "DEPTHWISE_CONV_2D" in notes  # the quantizer has no int4 depthwise


def test_int4_flatbuffer_reading_and_blockwise_scales(default_task):
    tflite = convert(default_task.model, make_config("int4_weights", {"block_size": 32}))
    info = inspect_tflite(tflite)
    kernels = {op: [] for op in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")}
    for op, kernel in info.kernels():
        kernels[op].append(kernel)
    dense = default_task.model.get_layer("fc").kernel.numpy().T  # (out, in) as in the file
    fc = next(k for k in kernels["FULLY_CONNECTED"] if k.shape == dense.shape)
    assert fc.dtype == "int4" and fc.block_size == 32 and fc.nbytes == fc.size // 2
    assert -8 <= fc.data.min() and fc.data.max() <= 7 and fc.unique_values <= 16
    step = np.repeat(fc.scales.reshape(dense.shape[0], -1), 32, axis=1)
    assert np.all(np.abs(fc.real_values() - dense) <= step / 2 + 1e-6)  # rounding, per block
    conv = kernels["CONV_2D"][0]
    assert conv.dtype == "int4" and conv.block_size == 0 and len(conv.scales) == conv.shape[0]
    assert kernels["DEPTHWISE_CONV_2D"][0].dtype == "float32"
    assert info.max_unique_weights() <= max(16, kernels["DEPTHWISE_CONV_2D"][0].unique_values)
    assert 0 <= info.weight_sparsity() < 0.5
    graph = analyze_tflite(info)
    assert sum(op.weight_bytes for op in graph.ops if op.name == "FULLY_CONNECTED") < \
        dense.size  # int4 codes and float16 scales: under a byte per weight


def test_int4_mobilenet_v2_is_small_and_agrees_with_float():
    model = keras.applications.MobileNetV2(weights=None, include_top=False, pooling="avg",
                                           input_shape=(224, 224, 3))
    float32 = convert(model, make_config("float32"))
    int4 = convert(model, make_config("int4_weights"))
    assert len(int4) <= 0.17 * len(float32)
    info = inspect_tflite(int4)
    assert {k.dtype for op, k in info.kernels() if op in ("CONV_2D",)} == {"int4"}
    x = np.random.default_rng(0).uniform(-1, 1, (4, 224, 224, 3)).astype("float32")
    reference, quantized = tflite_predict(float32, x), tflite_predict(int4, x)
    assert np.all(np.isfinite(quantized)) and np.ptp(reference) > 0
    for a, b in zip(reference, quantized):  # random weights: compare directions per sample
        cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cosine > 0.9


def test_int4_refuses_a_model_without_int4_weights():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Activation("relu")(inputs))
    with pytest.raises(ConversionError, match="found no weights to make int4.*ops are RELU"):
        convert(model, make_config("int4_weights"))


def test_quantizer_refuses_a_damaged_model(default_task):
    from workbench.edge_quantizer import Rule, quantize

    float32 = convert(default_task.model, make_config("float32"))
    with pytest.raises(ModelLoadError, match="truncated or damaged"):
        quantize(float32[: len(float32) // 3], [Rule(".*", "weight_only", weight_bits=4)])


def test_int8_only_devices_refuse_int4(default_task):
    tflite = convert(default_task.model, make_config("int4_int8"),
                     default_task.representative_data(100))
    assert {op.dtype for op in analyze_tflite(tflite).ops} >= {"int4x8", "int8"}
    tpu = estimate_tflite(tflite, "edge_tpu")
    assert tpu.accel_fraction < 1 and any("int4x8 ops are not supported" in op["reason"]
                                          for op in tpu.fallback_ops)
    phone = estimate_tflite(tflite, "phone_cpu_2019")
    assert phone.fits and not phone.fallback_ops
