"""The built-in digits task, user .npz datasets and representative-data adapters."""

import numpy as np
import pytest

from workbench.data import (
    generated_inputs, load_digits_task, load_npz, representative_array,
)
from workbench.errors import DataError

INPUT_SHAPE = (None, 8, 8, 1)


@pytest.fixture(scope="module")
def digits():
    return load_digits_task()


def test_digits_task_split_shapes_and_scaling(digits):
    assert digits.x_train.shape == (1347, 8, 8, 1) and digits.x_test.shape == (450, 8, 8, 1)
    assert digits.x_train.dtype == np.float32
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    # stratified: every class holds about a tenth of the test split
    assert np.bincount(digits.y_test).min() >= 43
    np.testing.assert_array_equal(digits.calibration, digits.x_train[:200])


def test_digits_task_is_deterministic(digits):
    again = load_digits_task()
    assert again.fingerprint == digits.fingerprint
    np.testing.assert_array_equal(again.y_train, digits.y_train)


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_round_trip(tmp_path, digits):
    path = _save(tmp_path / "mine.npz", x_train=digits.x_train, y_train=digits.y_train,
                 x_test=digits.x_test, y_test=digits.y_test)
    loaded = load_npz(path)
    assert loaded.name == "mine" and loaded.fingerprint == digits.fingerprint


def test_npz_names_missing_arrays(tmp_path, digits):
    path = _save(tmp_path / "partial.npz", x_train=digits.x_train, y_train=digits.y_train)
    with pytest.raises(DataError, match=r"lacks the array\(s\) x_test, y_test"):
        load_npz(path)


def test_npz_mismatched_lengths(tmp_path, digits):
    path = _save(tmp_path / "bad.npz", x_train=digits.x_train, y_train=digits.y_train[:10],
                 x_test=digits.x_test, y_test=digits.y_test)
    with pytest.raises(DataError, match=r"x_train has shape \(1347, 8, 8, 1\) and y_train has "
                                        r"shape \(10,\)"):
        load_npz(path)


def test_npz_one_hot_labels_load_and_are_kept_for_the_metric(tmp_path, digits):
    """One-hot labels are data (regression targets could look the same); top-1 refuses them
    when the task is prepared (tests/test_bad_input.py)."""
    one_hot = np.eye(10)[digits.y_test]
    path = _save(tmp_path / "onehot.npz", x_train=digits.x_train, y_train=digits.y_train,
                 x_test=digits.x_test, y_test=one_hot)
    assert load_npz(path).y_test.shape == (450, 10)


def test_npz_missing_or_unreadable(tmp_path):
    with pytest.raises(DataError, match="No dataset file"):
        load_npz(tmp_path / "nothing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not an archive")
    with pytest.raises(DataError, match="is not an .npz archive: it starts with"):
        load_npz(junk)


def test_representative_from_numpy_dataset_generator_and_callable(digits):
    import tensorflow as tf

    sample = digits.x_train[:20]
    batched = tf.data.Dataset.from_tensor_slices((sample, digits.y_train[:20])).batch(8)
    sources = {
        "array": sample,
        "unbatched dataset": tf.data.Dataset.from_tensor_slices(sample),
        "batched (x, y) dataset": batched,
        "generator of [x]": ([row[None]] for row in sample),
        "callable": lambda: iter(sample),
    }
    for name, source in sources.items():
        gathered = representative_array(source, INPUT_SHAPE)
        np.testing.assert_array_equal(gathered, sample, err_msg=name)


def test_representative_respects_max_samples(digits):
    gathered = representative_array(iter(digits.x_train), INPUT_SHAPE, max_samples=7)
    assert gathered.shape == (7, 8, 8, 1)


def test_representative_nan_names_the_sample(digits):
    sample = digits.x_train[:50].copy()
    sample[17, 3, 3, 0] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite values in 1 of 50 samples \(first: "
                                        r"sample 17\)"):
        representative_array(sample, INPUT_SHAPE)


def test_representative_wrong_shape_and_empty():
    with pytest.raises(DataError, match=r"shape \(4, 28, 28\).*\(8, 8, 1\)"):
        representative_array(np.zeros((4, 28, 28), "float32"), INPUT_SHAPE)
    with pytest.raises(DataError, match="empty"):
        representative_array(iter([]), INPUT_SHAPE)
    with pytest.raises(DataError, match="not usable"):
        representative_array(42, INPUT_SHAPE)


def test_generated_inputs_are_reproducible_and_bounded():
    first = generated_inputs((None, 32, 32, 3), 4)
    assert first.shape == (4, 32, 32, 3) and -1.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(first, generated_inputs((None, 32, 32, 3), 4))
