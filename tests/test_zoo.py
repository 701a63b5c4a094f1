"""Built-in models: names, keras.applications builders (weights=None) and the default CNN."""

import numpy as np
import pytest

from workbench import zoo
from workbench.errors import WorkbenchError

# Parameter counts of the keras.applications architectures with the 1000-class top.
PUBLISHED_PARAMETERS = {
    "mobilenet_v1": 4_253_864, "mobilenet_v2": 3_538_984, "resnet50": 25_636_712,
    "inception_v3": 23_851_784, "resnet101_v2": 44_675_560, "efficientnet_b0": 5_330_571,
}


def test_parse_names_and_sizes():
    assert zoo.parse_zoo_name("mobilenet_v1:128") == ("mobilenet_v1", 128)
    assert zoo.parse_zoo_name("resnet50") == ("resnet50", None)
    for bad, message in [("vgg16", "Unknown zoo model 'vgg16'"), ("default:32", "fixed 8x8"),
                         ("mobilenet_v1:big", "input size 'big'"),
                         ("mobilenet_v1:8", "at least 32")]:
        with pytest.raises(WorkbenchError, match=message):
            zoo.parse_zoo_name(bad)


@pytest.mark.parametrize("name", sorted(zoo.APPLICATIONS))
def test_applications_build_with_random_weights(name):
    model = zoo.build_zoo_model(name)
    size = zoo.APPLICATIONS[name][1]
    assert tuple(model.inputs[0].shape) == (None, size, size, 3)
    assert model.count_params() == PUBLISHED_PARAMETERS[name]


def test_input_size_follows_the_name():
    model = zoo.build_zoo_model("mobilenet_v2:96")
    assert tuple(model.inputs[0].shape) == (None, 96, 96, 3)
    with pytest.raises(WorkbenchError, match="InceptionV3 cannot take a 40x40 input"):
        zoo.build_zoo_model("inception_v3:40")


def test_mobilenet_v1_float_size_matches_the_published_table():
    from workbench.ptq import convert
    from workbench.stages.export import Float32Export

    size_mb = len(convert(zoo.build_zoo_model("mobilenet_v1"), Float32Export(),
                          progress=False)) / 1e6
    assert size_mb == pytest.approx(16.9, rel=0.03)  # reference/tflite_optimization_table.csv


def test_default_model_has_the_layers_real_models_have(default_task):
    kinds = {type(layer).__name__ for layer in default_task.model.layers}
    assert {"Conv2D", "BatchNormalization", "ReLU", "DepthwiseConv2D", "Add", "Dense"} <= kinds
    assert default_task.float_accuracy >= 0.97


def test_default_model_is_cached_in_the_workspace(workspace, default_task):
    from workbench.fingerprint import model_fingerprint

    cached = workspace / "models" / f"default-v{zoo.DEFAULT_MODEL_VERSION}.keras"
    assert cached.is_file()
    again = zoo.default_model(workspace, progress=False)  # loads, does not retrain
    assert model_fingerprint(again) == default_task.model_hash


def test_training_is_deterministic():
    from workbench.data import load_digits_task

    task = load_digits_task()
    first = zoo.train_default_model(task, epochs=1, progress=False)
    second = zoo.train_default_model(task, epochs=1, progress=False)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_cached_default_model_is_rebuilt(fresh_workspace, monkeypatch):
    """The cache is only a cache: a truncated file is trained again (one epoch here, for time)
    and replaced by a loadable one."""
    import keras

    from workbench.data import load_digits_task

    cached = fresh_workspace / "models" / f"default-v{zoo.DEFAULT_MODEL_VERSION}.keras"
    cached.write_bytes(cached.read_bytes()[:4000])
    trained = []
    quick = zoo.train_default_model
    monkeypatch.setattr(zoo, "train_default_model", lambda data, progress=True: trained.append(
        1) or quick(load_digits_task(), epochs=1, progress=False))
    rebuilt = zoo.default_model(fresh_workspace, progress=False)
    assert trained == [1] and rebuilt.name == "digits_cnn"
    reloaded = keras.saving.load_model(cached)  # the cache now holds a whole model
    for a, b in zip(reloaded.get_weights(), rebuilt.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not list(cached.parent.glob("*.partial.keras"))
