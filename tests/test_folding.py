"""BatchNormalization folding: same outputs, fewer layers, kernels exactly as the .tflite stores them."""

import keras
import numpy as np

from workbench.folding import fold_batch_norms
from workbench.ptq import convert
from workbench.stages.export import Float32Export
from workbench.tflite_inspect import inspect_tflite


def test_folded_model_computes_the_same(default_task):
    folded, pairs = fold_batch_norms(default_task.model)
    assert pairs == [("block_dw", "block_dw_bn"), ("block_pw", "block_pw_bn"),
                     ("stem_conv", "stem_bn")]
    x = default_task.dataset.x_test
    np.testing.assert_allclose(np.asarray(folded(x)), default_task.float_outputs, atol=1e-4)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)


def test_folded_kernels_are_what_the_converter_stores(default_task):
    folded, _ = fold_batch_norms(default_task.model)
    stored = {t.size: t.data for t in inspect_tflite(
        convert(folded, Float32Export(), progress=False)).weight_tensors()}
    pointwise = folded.get_layer("block_pw").kernel.numpy()  # (1, 1, in, out) -> (out, 1, 1, in)
    np.testing.assert_array_equal(stored[pointwise.size].reshape(32, 32),
                                  pointwise.reshape(32, 32).T)


def test_batch_norm_after_an_activation_is_not_folded():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(4, activation="relu")(inputs)
    outputs = keras.layers.BatchNormalization()(x)
    model = keras.Model(inputs, outputs)
    folded, pairs = fold_batch_norms(model)
    assert pairs == [] and folded is model
