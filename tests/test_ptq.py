"""Every post-training recipe on the default model, converted and run in LiteRT."""

import numpy as np
import pytest

from workbench.errors import DataError, RecipeError
from workbench.measure import interpreter
from workbench.ptq import convert
from workbench.recipes import DEFAULT_SWEEP
from workbench.stages.export import Int8Export, Int16x8Export
from workbench.tflite_inspect import inspect_tflite


def _io_dtypes(tflite: bytes) -> tuple[str, str]:
    runner = interpreter(tflite)
    return (np.dtype(runner.get_input_details()[0]["dtype"]).name,
            np.dtype(runner.get_output_details()[0]["dtype"]).name)


def _read(row) -> bytes:
    with open(row["tflite_path"], "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("recipe", DEFAULT_SWEEP)
def test_variant_runs_in_litert_and_stays_accurate(ptq_rows, default_task, recipe):
    row = ptq_rows[recipe]
    runner = interpreter(_read(row))
    runner.allocate_tensors()
    runner.invoke()  # loads and runs
    assert default_task.float_accuracy >= 0.97
    assert abs(row["accuracy"] - row["float_accuracy"]) <= 0.02
    assert row["agreement"] >= 0.97
    assert row["latency_ms"] > 0 and row["latency_p90_ms"] >= row["latency_ms"]


def test_sizes_shrink_as_published(ptq_rows):
    float_size = ptq_rows["float32"]["size_bytes"]
    assert ptq_rows["dynamic_range"]["size_bytes"] <= 0.30 * float_size
    assert ptq_rows["int8"]["size_bytes"] <= 0.30 * float_size
    assert ptq_rows["float16"]["size_bytes"] <= 0.55 * float_size
    assert ptq_rows["float16"]["size_bytes"] >= 0.45 * float_size  # half, not less


def test_strict_int8_has_only_int8_kernels_and_int8_io(ptq_rows):
    tflite = _read(ptq_rows["int8"])
    info = inspect_tflite(tflite)
    kernels = info.weight_tensors()
    assert len(kernels) == 6  # 3 conv + 1 depthwise + 2 dense in the default model
    assert {tensor.dtype for tensor in kernels} == {"int8"}
    assert _io_dtypes(tflite) == ("int8", "int8")
    assert "DEQUANTIZE" not in info.op_counts() and "QUANTIZE" not in info.op_counts()


def test_int8_ops_fraction_per_recipe(ptq_rows):
    assert ptq_rows["int8"]["int8_ops_fraction"] == 1.0
    for recipe in ("float32", "dynamic_range", "float16", "int16x8"):
        assert ptq_rows[recipe]["int8_ops_fraction"] == 0.0, recipe


def test_int8_ops_fraction_counts_boundary_conversions(default_task):
    tflite = convert(default_task.model, Int8Export(inference_input_type="float32",
                                                    calibration_samples=20),
                     default_task.dataset.calibration, progress=False)
    info = inspect_tflite(tflite)
    counts = info.op_counts()
    assert counts["QUANTIZE"] == 1  # float input quantized to int8 at the boundary
    shape_ops = counts["SHAPE"] + counts["STRIDED_SLICE"] + counts["PACK"]  # int32 arithmetic
    touching = sum(counts.values()) - shape_ops
    assert info.int8_ops_fraction() == pytest.approx((touching - 1) / touching)


def test_float_kernels_stay_float_in_the_baseline(ptq_rows):
    kernels = inspect_tflite(_read(ptq_rows["float32"])).weight_tensors()
    assert {tensor.dtype for tensor in kernels} == {"float32"}
    assert {t.dtype for t in inspect_tflite(_read(ptq_rows["float16"])).weight_tensors()} == \
        {"float16"}


def test_int16x8_has_int16_activations(ptq_rows):
    info = inspect_tflite(_read(ptq_rows["int16x8"]))
    activation_dtypes = {t.dtype for t in info.tensors if not t.is_constant}
    assert "int16" in activation_dtypes
    assert {t.dtype for t in info.weight_tensors()} == {"int8"}


def test_int8_float_io_option(default_task):
    config = Int8Export(inference_input_type="float32", inference_output_type="float32",
                        calibration_samples=50)
    tflite = convert(default_task.model, config, default_task.dataset.calibration,
                     progress=False)
    assert _io_dtypes(tflite) == ("float32", "float32")
    uint8 = convert(default_task.model, Int8Export(inference_input_type="uint8",
                                                   calibration_samples=50),
                    default_task.dataset.calibration, progress=False)
    assert _io_dtypes(uint8) == ("uint8", "int8")


def test_int16x8_int16_io_option(default_task):
    config = Int16x8Export(inference_input_type="int16", inference_output_type="int16",
                           calibration_samples=50)
    tflite = convert(default_task.model, config, default_task.dataset.calibration,
                     progress=False)
    assert _io_dtypes(tflite) == ("int16", "int16")


def test_representative_data_as_tf_dataset_and_generator(default_task):
    import tensorflow as tf

    sample = default_task.dataset.calibration[:40]
    config = Int8Export(calibration_samples=40)
    from_array = convert(default_task.model, config, sample, progress=False)
    from_dataset = convert(default_task.model, config,
                           tf.data.Dataset.from_tensor_slices(sample).batch(10), progress=False)
    from_generator = convert(default_task.model, config, ([x[None]] for x in sample),
                             progress=False)
    assert from_array == from_dataset == from_generator  # same samples, same calibration


@pytest.mark.parametrize("config", [Int8Export(), Int16x8Export()])
def test_full_integer_without_representative_data(default_task, config):
    with pytest.raises(RecipeError, match=f"'{config.name}'.*needs representative data.*"
                                          "representative_data="):
        convert(default_task.model, config, None, progress=False)


def test_nan_in_representative_data(default_task):
    sample = default_task.dataset.calibration.copy()
    sample[3] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite.*first: sample 3"):
        convert(default_task.model, Int8Export(), sample, progress=False)


def test_saved_model_directory_converts(tmp_path, default_task):
    from workbench.loading import load_model
    from workbench.stages.export import Float32Export

    default_task.model.export(str(tmp_path / "saved"), verbose=False)
    wrapped = load_model(tmp_path / "saved")
    tflite = convert(wrapped, Float32Export(), progress=False)
    from workbench.measure import tflite_predict

    x = default_task.dataset.x_test[:32]
    np.testing.assert_allclose(tflite_predict(tflite, x, progress=False),
                               default_task.float_outputs[:32], atol=1e-4)
