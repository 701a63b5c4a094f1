"""Quantization arithmetic at the model boundary, scoring helpers and latency."""

import numpy as np

from workbench.measure import (
    accuracy, agreement, dequantize_output, measure_latency, quantize_input, tflite_predict,
    tflite_sizes,
)


def test_quantize_input_uses_scale_zero_point_and_saturates():
    detail = {"dtype": np.int8, "quantization": (0.5, -3)}
    x = np.array([0.0, 1.0, -1.25, 100.0, -100.0], "float32")
    np.testing.assert_array_equal(quantize_input(x, detail), [-3, -1, -6, 127, -128])
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize_input(x, float_detail).dtype == np.float32


def test_dequantize_output_inverts_the_mapping():
    detail = {"dtype": np.int8, "quantization": (0.25, 10)}
    np.testing.assert_allclose(dequantize_output(np.array([10, 14, -118], np.int8), detail),
                               [0.0, 1.0, -32.0])


def test_accuracy_and_agreement():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert accuracy(scores, np.array([0, 1, 1, 1])) == 0.75
    assert agreement(scores, scores[:, ::-1]) == 0.0


def test_tflite_predictions_match_keras_and_latency_is_sane(ptq_rows, default_task):
    tflite = open(ptq_rows["float32"]["tflite_path"], "rb").read()
    x = default_task.dataset.x_test[:70]  # two batches, the second one partial
    np.testing.assert_allclose(tflite_predict(tflite, x, batch_size=64, progress=False),
                               default_task.float_outputs[:70], atol=1e-4)
    latency = measure_latency(tflite, x[0], threads=1, warmup=2, runs=10, progress=False)
    assert 0 < latency.median_ms <= latency.p90_ms < 1000


def test_sizes_count_bytes_and_gzip():
    payload = bytes(1000) + bytes(range(256)) * 4
    size, gzipped = tflite_sizes(payload)
    assert size == 2024 and gzipped < 600
