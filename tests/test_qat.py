"""Quantization-aware training on the default model, exported to a true int8 .tflite.

Bounds on trained accuracy leave room for the spread between seeds and CPUs, measured by
``python -m bench.training_spread`` (bench/results/training_spread.json): e.g. prune_qat's drop
ranged 0.4-0.9 points over 4 seeds with oneDNN on and off (0.4-1.8 with the earlier pruning
defaults); its bound is 3 points.
"""

import keras
import numpy as np
import pytest

from conftest import LATENCY_RUNS
from workbench.errors import RecipeError, WorkbenchError
from workbench.measure import agreement, interpreter, keras_predict, tflite_predict
from workbench.pipeline import prepare_task, run
from workbench.qat import QuantDense, convert_qat, qat_report, quantize_model
from workbench.recipes import make_config


@pytest.fixture(scope="module")
def qat_row(default_task, store):
    return run(default_task, make_config("qat"), store, latency_runs=LATENCY_RUNS,
               progress=False)


def test_qat_exports_a_fully_int8_model(qat_row, ptq_rows):
    assert qat_row["int8_ops_fraction"] == 1.0
    runner = interpreter(open(qat_row["tflite_path"], "rb").read())
    assert runner.get_input_details()[0]["dtype"] == np.int8
    assert runner.get_output_details()[0]["dtype"] == np.int8
    assert 100 * abs(qat_row["float_accuracy"] - qat_row["accuracy"]) <= 1.5
    assert qat_row["accuracy"] >= ptq_rows["int8"]["accuracy"] - 0.01  # measured: -0.2..+0.2
    assert "applied to 10 layer(s)" in qat_row["notes"]


@pytest.fixture(scope="module")
def trained_qat(default_task):
    from workbench.finetune import fine_tune

    model = quantize_model(default_task.model)
    fine_tune(model, default_task.dataset, 2, 1e-4, progress=False)
    return model


def test_tflite_agrees_with_the_qat_model(trained_qat, default_task):
    x = default_task.dataset.x_test
    tflite = convert_qat(trained_qat)
    assert agreement(tflite_predict(tflite, x, progress=False),
                     keras_predict(trained_qat, x)) >= 0.99


def test_qat_model_saves_and_loads_plainly(trained_qat, default_task, tmp_path):
    trained_qat.save(tmp_path / "qat.keras")
    loaded = keras.saving.load_model(tmp_path / "qat.keras")
    x = default_task.dataset.x_test[:64]
    np.testing.assert_allclose(keras_predict(loaded, x), keras_predict(trained_qat, x))


def test_report_and_fused_relus(trained_qat):
    report = qat_report(trained_qat)
    assert report.skipped == {} and "fc" in report.applied
    body = trained_qat.layers[-1]
    # conv -> (folded BN) -> ReLU: the ReLU quantizes, the convolution does not
    assert body.get_layer("stem_conv").quantize_output is False
    assert body.get_layer("stem_relu").quantize_output is True


def test_bad_input(trained_qat):
    with pytest.raises(WorkbenchError, match="already quantization-aware"):
        quantize_model(trained_qat.layers[-1])
    inputs = keras.Input((8,))
    odd = keras.Model(inputs, keras.layers.LayerNormalization(name="norm")(inputs))
    with pytest.raises(WorkbenchError, match=r"'norm' \(LayerNormalization\).*keep_float=\['norm'\]"):
        quantize_model(odd)
    assert QuantDense.from_config(QuantDense(4).get_config()).quantize_output is True


def test_qat_needs_training_data():
    task = prepare_task("mobilenet_v1:32", progress=False)
    with pytest.raises(RecipeError, match=r"has no dataset\. Pass --data PATH\.npz\.$"):
        run(task, make_config("qat"), progress=False)


@pytest.fixture(scope="module")
def collaborative_rows(default_task, store):
    return {name: run(default_task, make_config(name), store, latency_runs=LATENCY_RUNS,
                      progress=False)
            for name in ("prune_qat", "cluster_qat", "prune_cluster_qat")}


def test_collaborative_qat_keeps_what_came_before_in_the_int8_tflite(collaborative_rows):
    prune_qat, cluster_qat, both = (collaborative_rows[name] for name in
                                    ("prune_qat", "cluster_qat", "prune_cluster_qat"))
    assert prune_qat["weight_sparsity"] >= 0.79
    assert cluster_qat["max_unique_weights"] <= 16  # int8 values per weight tensor
    assert both["weight_sparsity"] >= 0.79 and both["max_unique_weights"] <= 16
    for name, row in collaborative_rows.items():
        assert row["int8_ops_fraction"] == 1.0, name
        assert 100 * (row["float_accuracy"] - row["accuracy"]) <= 3.0, name


def test_preserving_quantize_model_keeps_zeros_through_training(default_task):
    from workbench.finetune import fine_tune
    from workbench.pruning import prune_once

    pruned = prune_once(default_task.model, 0.7)
    model = quantize_model(pruned, preserve_sparsity=True)
    fine_tune(model, default_task.dataset, 1, 1e-3, progress=False)
    fc = model.layers[-1].get_layer("fc").kernel.numpy()
    np.testing.assert_array_equal(fc == 0, pruned.get_layer("fc").kernel.numpy() == 0)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_weights(default_task):
    """A NaN put into the logits' bias after epoch 1 makes epoch 2's loss NaN on every machine
    (in a QAT model the next fake-quantization would clamp it, so a plain model is used)."""
    from workbench.finetune import fine_tune

    class PoisonSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.after_first = [w.copy() for w in self.model.get_weights()]
                bias = self.model.get_layer("logits").bias
                bias.assign(np.full(bias.shape, np.nan, bias.dtype))

    model = keras.models.clone_model(default_task.model)
    model.set_weights(default_task.model.get_weights())
    poison = PoisonSecondEpoch()
    with pytest.raises(WorkbenchError, match=r"diverged: epoch 2 ended with a nan loss.*weights "
                                             r"of epoch 1.*Lower learning_rate"):
        fine_tune(model, default_task.dataset, 3, 1e-4, [poison], progress=False)
    for kept, good in zip(model.get_weights(), poison.after_first):
        np.testing.assert_array_equal(kept, good)


def test_kernel_rounding_is_straight_through_in_training_and_a_fake_quant_op_in_exports():
    import tensorflow as tf

    from workbench.qat.layers import quantize_kernel

    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 4, 8)), tf.float32)
    upstream = tf.constant(np.random.default_rng(1).normal(size=(3, 3, 4, 8)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        trained = quantize_kernel(kernel, per_channel=True, training=True)
        loss = tf.reduce_sum(trained * upstream)
    exported = quantize_kernel(kernel, per_channel=True, training=False)
    # the same values (to rounding), the gradient passed through unchanged
    np.testing.assert_allclose(trained.numpy(), exported.numpy(), atol=1e-6)
    np.testing.assert_array_equal(tape.gradient(loss, kernel).numpy(), upstream.numpy())
    assert len(np.unique(exported.numpy()[..., 0])) <= 255  # int8 levels per channel
    graph = tf.function(lambda: quantize_kernel(kernel, True, False)).get_concrete_function()
    assert "FakeQuantWithMinMaxVarsPerChannel" in {op.type for op in graph.graph.get_operations()}


def test_activation_ranges_are_statistics_not_trained():
    """In training, an activation's gradient is 1 inside the tracked range and 0 outside it;
    no extra gradient reaches the batch's extreme values through its min and max."""
    import tensorflow as tf

    from workbench.qat.layers import QuantizeInput

    quantizer = QuantizeInput()
    values = tf.constant([[-1.0, 0.5, 2.0, 4.0]])
    quantizer(values, training=True)  # first batch: the range is this batch's, [-1, 4]
    batch = tf.constant([[-3.0, 0.5, 2.0, 10.0]])  # the moving range grows only a little
    with tf.GradientTape() as tape:
        tape.watch(batch)
        total = tf.reduce_sum(quantizer(batch, training=True))
    gradient = tape.gradient(total, batch).numpy()
    low, high = quantizer.range_min.numpy(), quantizer.range_max.numpy()
    assert -3.0 < low < -1.0 and 4.0 < high < 10.0
    np.testing.assert_array_equal(gradient, [[0.0, 1.0, 1.0, 0.0]])
