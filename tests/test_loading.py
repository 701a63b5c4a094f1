"""load_model: every supported format, and a clear error for each bad input."""

import keras
import numpy as np
import pytest

from workbench.errors import ModelLoadError
from workbench.loading import load_model


def _small_model():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, name="dense")(inputs)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(1)
    return _small_model()


def _same_predictions(a, b):
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    np.testing.assert_allclose(np.asarray(a(x)), np.asarray(b(x)), rtol=1e-6)


def test_in_memory_model_is_returned_unchanged(small_model):
    assert load_model(small_model) is small_model


def test_keras_h5_and_saved_model_formats(tmp_path, small_model):
    small_model.save(tmp_path / "m.keras")
    small_model.save(tmp_path / "m.h5")
    small_model.export(str(tmp_path / "saved"), verbose=False)
    for source in ("m.keras", "m.h5", "saved"):
        loaded = load_model(tmp_path / source)
        assert isinstance(loaded, keras.Model), source
        _same_predictions(small_model, loaded)


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"No model file or directory at '.*absent.keras'"):
        load_model(tmp_path / "absent.keras")


def test_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("hello")
    with pytest.raises(ModelLoadError, match="is not a model file"):
        load_model(path)


def test_truncated_keras_archive(tmp_path, small_model):
    small_model.save(tmp_path / "full.keras")
    data = (tmp_path / "full.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="damaged .keras archive"):
        load_model(tmp_path / "cut.keras")


def test_directory_that_is_not_a_saved_model(tmp_path):
    with pytest.raises(ModelLoadError, match="without saved_model.pb"):
        load_model(tmp_path)


def test_lambda_layer_refused_in_safe_mode_and_loaded_on_opt_out(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match=r"Lambda layer.*safe_mode=False.*--unsafe"):
        load_model(path)
    loaded = load_model(path, safe_mode=False)
    np.testing.assert_allclose(np.asarray(loaded(np.ones((1, 4), "float32"))), 2.0)


def test_wrong_source_type():
    with pytest.raises(ModelLoadError, match="Cannot load a model from a int"):
        load_model(3)
