"""Datasets and representative samples.

The built-in task is scikit-learn's handwritten digits (no download): 8x8
grey images scaled to [0, 1], split 75/25 with a fixed seed. A user dataset is
an ``.npz`` file with ``x_train, y_train, x_test, y_test``. Representative data
for calibration may be a numpy array, a ``tf.data.Dataset``, a generator or a
callable returning one; it is gathered into a checked numpy array once.

Example:
    >>> task = load_digits_task()
    >>> task.x_train.shape[1:], task.calibration.shape
    ((8, 8, 1), (200, 8, 8, 1))
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from workbench.errors import DataError
from workbench.fingerprint import array_fingerprint

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_CALIBRATION_SIZE = 200


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled classification task: integer labels, inputs shaped like the model's.

    The arrays are checked at construction, so a bad dataset is refused before any work,
    naming the array and the bad value: inputs must be finite numbers (stored as float32),
    labels whole non-negative numbers of shape (N,) (stored as int64), every array non-empty
    and the splits of the same sample shape.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    calibration_size: int = DEFAULT_CALIBRATION_SIZE

    def __post_init__(self):
        source = f"dataset '{self.name}'"
        for split in ("train", "test"):
            x = _checked_inputs(getattr(self, f"x_{split}"), f"x_{split}", source)
            y = _checked_labels(getattr(self, f"y_{split}"), f"y_{split}", source)
            if len(x) != len(y):
                raise DataError(
                    f"In {source}, x_{split} has shape {x.shape} and y_{split} has shape "
                    f"{y.shape}. Expected x_{split} of shape (N, ...) and y_{split} of shape "
                    "(N,) with the same N.")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"In {source}, x_train samples have shape {self.x_train.shape[1:]} but x_test "
                f"samples have shape {self.x_test.shape[1:]}; expected the same shape.")
        if not isinstance(self.calibration_size, int) or self.calibration_size < 1:
            raise DataError(f"Received calibration_size={self.calibration_size!r} for {source}; "
                            "expected a whole number of samples, at least 1.")

    @property
    def calibration(self) -> np.ndarray:
        """The representative sample: the first ``calibration_size`` training rows."""
        return self.x_train[: self.calibration_size]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of all four arrays and the calibration size."""
        arrays = (self.x_train, self.y_train, self.x_test, self.y_test)
        return f"{array_fingerprint(*arrays)}:{self.calibration_size}"


def _checked_inputs(x, name: str, source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"In {source}, {name} has shape {x.shape}. Expected at least one "
                        f"sample: an array of shape (N, ...) with N >= 1.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise DataError(f"In {source}, {name} has dtype {x.dtype}; expected real numbers.")
    with np.errstate(over="ignore"):
        x = x.astype("float32", copy=False)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        value = x[first].ravel()[~np.isfinite(x[first].ravel())][0]
        raise DataError(
            f"In {source}, {name} holds NaN or infinite values (as float32) in "
            f"{int(bad.sum())} of {len(x)} samples (first: {name}[{first}] holds {value}). "
            "Expected finite inputs: clean or drop those samples.")
    return x


def _checked_labels(y, name: str, source: str) -> np.ndarray:
    y = np.asarray(y)
    labels = np.squeeze(y) if y.ndim > 1 else y
    if labels.ndim == 0 and y.size == 1:
        labels = labels.reshape(1)
    if labels.ndim != 1 or len(labels) == 0:
        raise DataError(
            f"In {source}, {name} has shape {y.shape}. Expected integer class labels of shape "
            "(N,) with N >= 1 (use argmax to turn one-hot labels into integers).")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype,
                                                                      np.floating)):
        raise DataError(f"In {source}, {name} has dtype {labels.dtype}; expected integer class "
                        "labels 0..K-1.")
    if np.issubdtype(labels.dtype, np.floating):
        fractional = ~np.isfinite(labels) | (labels != np.round(labels))
        if fractional.any():
            first = int(np.argmax(fractional))
            raise DataError(
                f"In {source}, {name} holds values that are not class indices (first: "
                f"{name}[{first}] = {labels[first]}). Expected whole-number class labels "
                "0..K-1 (regression targets are not scored yet).")
    negative = labels < 0
    if negative.any():
        first = int(np.argmax(negative))
        raise DataError(
            f"In {source}, {name} holds negative labels (first: {name}[{first}] = "
            f"{labels[first]:g}). Expected class indices 0..K-1: shift or re-encode the labels.")
    return labels.astype("int64")


def load_digits_task() -> Dataset:
    """scikit-learn's digits as (N, 8, 8, 1) float32 in [0, 1], stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., np.newaxis]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return Dataset("digits", x_train, y_train.astype("int64"), x_test, y_test.astype("int64"))


def load_npz(path: str | os.PathLike, name: str | None = None,
             max_bytes: int | None = None) -> Dataset:
    """Load a dataset from an ``.npz`` holding ``x_train, y_train, x_test, y_test``.

    The arrays' declared sizes are checked before they are read: above ``max_bytes``
    (default: ``workbench.npz.max_data_bytes()``, 4 GB) the file is refused with a message.
    """
    from workbench.npz import read_npz_arrays

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"No dataset file at '{path}'. Expected an .npz file with arrays "
            f"{', '.join(NPZ_ARRAYS)} (save one with numpy.savez)."
        )
    arrays = read_npz_arrays(path, NPZ_ARRAYS, max_bytes)
    return Dataset(name or path.stem, **arrays)


def check_fits_model(dataset: Dataset, model_input_shape: tuple, model_name: str) -> None:
    """Raise ``DataError`` unless the dataset's samples match the model's input shape."""
    expected = tuple(model_input_shape[1:])
    if not _shape_matches(dataset.input_shape, expected):
        raise DataError(
            f"Dataset '{dataset.name}' has samples of shape {dataset.input_shape} but model "
            f"'{model_name}' expects inputs of shape {_describe_shape(expected)}. "
            "Reshape the arrays or pick the model that was trained on this data."
        )


def _shape_matches(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected)
    )


def _describe_shape(shape: tuple) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def representative_array(
    data: Any, model_input_shape: tuple, max_samples: int | None = None
) -> np.ndarray:
    """Gather representative data into a float32 array of shape (N, *input), checked.

    ``data`` may be an array (N, *input), a ``tf.data.Dataset`` or any iterable
    (or a callable returning one) yielding single samples, batches, ``[x]``
    lists or ``(x, y)`` pairs. Raises ``DataError`` naming the problem.
    """
    expected = tuple(model_input_shape[1:])
    if isinstance(data, np.ndarray):
        samples = _as_batch(data, expected, "the representative array")
    else:
        samples = _gather_from_iterable(data, expected, max_samples)
    if max_samples is not None:
        samples = samples[:max_samples]
    if len(samples) == 0:
        raise DataError(
            "The representative data is empty. Expected at least one sample of shape "
            f"{_describe_shape(expected)} (typically 100-500 unlabelled inputs)."
        )
    bad = ~np.isfinite(samples).reshape(len(samples), -1).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"The representative data holds NaN or infinite values in {int(bad.sum())} of "
            f"{len(samples)} samples (first: sample {first}). Calibration needs finite inputs: "
            "clean or drop those samples."
        )
    return samples


def _gather_from_iterable(data: Any, expected: tuple, max_samples: int | None) -> np.ndarray:
    source = data() if callable(data) and not hasattr(data, "__iter__") else data
    if not isinstance(source, Iterable):
        raise DataError(
            f"Representative data of type {type(data).__name__} is not usable. Expected a numpy "
            "array, a tf.data.Dataset, a generator or a callable returning one."
        )
    batches, count = [], 0
    for item in itertools.islice(iter(source), max_samples):
        batch = _as_batch(_input_of(item), expected, "a representative item")
        batches.append(batch)
        count += len(batch)
        if max_samples is not None and count >= max_samples:
            break
    if not batches:
        return np.zeros((0, *[d or 1 for d in expected]), "float32")
    return np.concatenate(batches)


def _input_of(item: Any) -> np.ndarray:
    """The model input of one item: ``x``, ``[x]``, ``(x, y)`` or ``{"name": x}``."""
    if isinstance(item, dict):
        item = next(iter(item.values()))
    if isinstance(item, (list, tuple)):
        item = item[0]
    return np.asarray(item)


def _as_batch(array: np.ndarray, expected: tuple, what: str) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{what.capitalize()} has dtype {array.dtype}; expected numbers.")
    if _shape_matches(array.shape, expected):
        array = array[np.newaxis]
    if not _shape_matches(array.shape[1:], expected):
        raise DataError(
            f"{what.capitalize()} has shape {array.shape}; the model expects samples of shape "
            f"{_describe_shape(expected)} (or batches of them). Reshape the data to match."
        )
    return array.astype("float32")


def generated_inputs(model_input_shape: tuple, count: int, seed: int = 0) -> np.ndarray:
    """Uniform random inputs in [-1, 1] for models without a dataset (zoo models)."""
    shape = tuple(d if d is not None else 1 for d in model_input_shape[1:])
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(count, *shape)).astype("float32")
