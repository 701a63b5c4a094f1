"""Whole integer models through ``workbench.kernels.run_tflite``, tensor by tensor against
LiteRT's reference kernels: every element of every tensor equal."""

import keras
import numpy as np
import pytest
from kernel_support import random_input, reference_outputs, zoo_int8_tflite

from workbench.errors import KernelError
from workbench.kernels import quantize, run_tflite
from workbench.kernels.layer_errors import integer_path_errors
from workbench.kernels.litert import compare_tensors, litert_tensors
from workbench.kernels.runner import quant_of
from workbench.pipeline import run
from workbench.recipes import make_config
from workbench.tflite_inspect import inspect_tflite


def assert_bit_exact(tflite: bytes, inputs) -> None:
    """Every op output (and input) equal to LiteRT's reference run, element by element."""
    ours = run_tflite(tflite, inputs)
    table = compare_tensors(ours, reference_outputs(tflite, inputs))
    info = inspect_tflite(tflite)
    produced = {info.tensors[i].name for op in info.ops for i in op.outputs}
    assert produced <= set(table["tensor"]), produced - set(table["tensor"])
    assert table["mismatches"].sum() == 0, table[table["mismatches"] > 0].to_string()


def quantized_samples(task, tflite: bytes, count: int = 3) -> list[list[np.ndarray]]:
    """Test images quantized with the model's input quantization, one batch of 1 each."""
    tensor = inspect_tflite(tflite).tensors[inspect_tflite(tflite).inputs[0]]
    x = task.dataset.x_test[:count].astype("float32")
    if tensor.dtype == "float32":
        return [[sample[None]] for sample in x]
    return [[quantize(sample[None], quant_of(tensor))] for sample in x]


@pytest.mark.parametrize("recipe", ["int8", "int16x8"])
def test_default_model_post_training_variants_are_bit_exact(recipe, ptq_rows, default_task):
    tflite = open(ptq_rows[recipe]["tflite_path"], "rb").read()
    for inputs in [*quantized_samples(default_task, tflite), random_input(tflite)]:
        assert_bit_exact(tflite, inputs)


def test_default_model_qat_variant_is_bit_exact(default_task, store):
    row = run(default_task, make_config("qat"), store, latency_runs=1, progress=False)
    tflite = open(row["tflite_path"], "rb").read()
    for inputs in [*quantized_samples(default_task, tflite), random_input(tflite)]:
        assert_bit_exact(tflite, inputs)


@pytest.mark.parametrize("name", ["mobilenet_v1:96", "mobilenet_v2:96", "resnet50:96"])
def test_application_networks_int8_are_bit_exact(name):
    tflite = zoo_int8_tflite(name)
    assert_bit_exact(tflite, random_input(tflite))


def test_qat_graph_with_concatenate_resize_rescaling_and_transpose_conv(default_task):
    from model_builders import mixed_model

    from workbench.finetune import fine_tune
    from workbench.qat import convert_qat, quantize_model

    keras.utils.set_random_seed(3)
    qat_model = quantize_model(mixed_model())
    fine_tune(qat_model, default_task.dataset, 1, 1e-3, progress=False)
    tflite = convert_qat(qat_model)
    ops = inspect_tflite(tflite).op_counts()
    assert ops["CONCATENATION"] == 1 and ops["RESIZE_NEAREST_NEIGHBOR"] == 1
    assert ops["TRANSPOSE_CONV"] == 1 and ops["DEPTHWISE_CONV_2D"] == 3  # 1x1: Rescaling, BN
    for inputs in [*quantized_samples(default_task, tflite, 2), random_input(tflite)]:
        assert_bit_exact(tflite, inputs)


@pytest.fixture(scope="module")
def leaky_model() -> bytes:
    from kernel_support import integer_tflite

    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.LeakyReLU(0.2, name="leaky")(x)
    outputs = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x))
    samples = np.random.default_rng(0).normal(size=(16, 6, 6, 2))
    return integer_tflite(keras.Model(inputs, outputs), samples)


def test_unsupported_op_is_named_and_can_run_in_litert(leaky_model):
    inputs = random_input(leaky_model)
    with pytest.raises(KernelError, match=r"do not implement LEAKY_RELU \(first at op 1\).*"
                                          r"delegate_unsupported=True"):
        run_tflite(leaky_model, inputs)
    ours = run_tflite(leaky_model, inputs, delegate_unsupported=True)
    table = compare_tensors(ours, reference_outputs(leaky_model, inputs))
    info = inspect_tflite(leaky_model)
    assert {info.tensors[i].name for i in info.outputs} <= set(ours)
    assert len(table) == len(info.tensors) and table["mismatches"].sum() == 0


def test_result_holds_every_tensor_by_name_inputs_and_outputs_included(leaky_model, tmp_path):
    path = tmp_path / "leaky.tflite"
    path.write_bytes(leaky_model)
    inputs = random_input(leaky_model)
    tensors = run_tflite(path, inputs, delegate_unsupported=True)
    info = inspect_tflite(leaky_model)
    assert set(tensors) == {t.name for t in info.tensors}
    assert np.array_equal(tensors[info.tensors[info.inputs[0]].name], inputs[0])
    assert tensors[info.tensors[info.outputs[0]].name].dtype == np.int8


def test_bad_input_gets_a_clear_error(ptq_rows, leaky_model):
    float_tflite = open(ptq_rows["float32"]["tflite_path"], "rb").read()
    with pytest.raises(KernelError, match=r"is a float model: \d+ of its \d+ ops compute in "
                                          r"float.*full-integer quantization.*BUILTINS_INT8"):
        run_tflite(float_tflite, [np.zeros((1, 8, 8, 1), np.float32)])
    with pytest.raises(KernelError, match=r"expects int8 of shape \(1, 6, 6, 2\), received "
                                          r"float32 of shape \(1, 6, 6, 2\).*quantize"):
        run_tflite(leaky_model, [np.zeros((1, 6, 6, 2), np.float32)], True)
    with pytest.raises(KernelError, match=r"expects int8 of shape \(1, 6, 6, 2\), received "
                                          r"int8 of shape \(6, 6, 2\)"):
        run_tflite(leaky_model, [np.zeros((6, 6, 2), np.int8)], True)
    with pytest.raises(KernelError, match=r"expects int8 of shape \(1, 6, 6, 2\), received "
                                          r"int8 of shape \(4, 6, 6, 2\). Run one sample"):
        run_tflite(leaky_model, [np.zeros((4, 6, 6, 2), np.int8)], True)
    with pytest.raises(KernelError, match=r"has 1 input\(s\), received 2 array\(s\)"):
        run_tflite(leaky_model, [np.zeros((1, 6, 6, 2), np.int8)] * 2, True)


def test_an_op_without_a_litert_reference_kernel_runs_in_its_default_one():
    from kernel_support import integer_tflite

    inputs = keras.Input((5, 5, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    outputs = keras.layers.ELU(name="elu")(x)
    tflite = integer_tflite(keras.Model(inputs, outputs),
                            np.random.default_rng(0).normal(size=(16, 5, 5, 2)))
    assert "ELU" in inspect_tflite(tflite).op_counts()  # left in float by the converter
    with pytest.raises(KernelError, match="partly float: .* ops compute in float"):
        run_tflite(tflite, random_input(tflite))
    x = random_input(tflite)
    ours = run_tflite(tflite, x, delegate_unsupported=True)
    theirs = litert_tensors(tflite, x, "default")  # LiteRT has no reference ELU
    name = inspect_tflite(tflite).tensors[inspect_tflite(tflite).outputs[0]].name
    # the conv before it runs in the kernels (reference rounding), XNNPACK's may round the
    # other way by one code; ELU itself is LiteRT's
    assert np.abs(ours[name].astype(int) - theirs[name]).max() <= 2


def test_comparison_helpers_take_paths_and_check_their_inputs(leaky_model, ptq_rows, tmp_path):
    path = tmp_path / "leaky.tflite"
    path.write_bytes(leaky_model)
    x = random_input(leaky_model)
    by_path, by_bytes = litert_tensors(path, x), litert_tensors(str(path), x)
    assert all(np.array_equal(by_path[name], by_bytes[name]) for name in by_bytes)
    with pytest.raises(KernelError, match="expects int8 of shape .* received float32.*quantize"):
        litert_tensors(leaky_model, [x[0].astype(np.float32)])
    with pytest.raises(KernelError, match="as bytes or a file path, received NoneType"):
        run_tflite(None, x)
    with pytest.raises(KernelError, match="needs the tensor's quantization as a Quant"):
        quantize(np.zeros(3, np.float32), None)
    float_tflite = ptq_rows["float32"]["tflite_path"]
    with pytest.raises(KernelError, match="No op of the integer model has a float twin"):
        integer_path_errors(path, float_tflite, np.zeros((2, 6, 6, 2), np.float32))
