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
import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from workbench.data import structure
from workbench.data.structure import as_structure, map_arrays
from workbench.errors import DataError
from workbench.fingerprint import array_fingerprint

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_CALIBRATION_SIZE = 200


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled task held in memory: inputs shaped like the model's, labels the metric reads.

    Inputs are an array, or a dict of arrays keyed by input name (a tuple: in the model's input
    order) for a model with several inputs; labels an array (class indices or regression
    targets), or a dict keyed by output name. The arrays are checked at construction, so a bad
    dataset is refused before any work, naming the array and the bad value: inputs and labels
    must be finite numbers (inputs stored as float32), every array non-empty, the splits of the
    same sample shape and each split's arrays of the same length. Whether the labels suit the
    metric (class indices for top-1...) is checked when the task is prepared.
    """

    name: str
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    info: dict | None = None  # what the dashboard's preview shows (set by the loaders)

    def __post_init__(self):
        source = f"dataset '{self.name}'"
        for split in ("train", "test"):
            x = map_arrays(lambda a, label: _checked_inputs(a, label, source),
                           as_structure(getattr(self, f"x_{split}")), f"x_{split}")
            y = map_arrays(lambda a, label: _checked_labels(a, label, source),
                           as_structure(getattr(self, f"y_{split}")), f"y_{split}")
            lengths = {len(a) for a in (*structure.arrays(x), *structure.arrays(y))}
            if len(lengths) != 1:
                raise DataError(
                    f"In {source}, x_{split} has shape {structure.shapes(x)} and y_{split} has "
                    f"shape {structure.shapes(y)}. Expected x_{split} of shape (N, ...) and "
                    f"y_{split} of shape (N,) with the same N.")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        self._check_same_samples()
        if not isinstance(self.calibration_size, int) or self.calibration_size < 1:
            raise DataError(f"Received calibration_size={self.calibration_size!r} for {source}; "
                            "expected a whole number of samples, at least 1.")

    def _check_same_samples(self) -> None:
        """The splits' samples agree (a tuple and a dict are compared once the model names the
        tuple's arrays, in ``bind``)."""
        if type(self.x_train) is not type(self.x_test) and not (
                isinstance(self.x_train, np.ndarray) and isinstance(self.x_test, np.ndarray)):
            return
        source = f"dataset '{self.name}'"
        if _sample_shapes(self.x_train) != _sample_shapes(self.x_test):
            raise DataError(
                f"In {source}, x_train samples have shape {_sample_shapes(self.x_train)} but "
                f"x_test samples have shape {_sample_shapes(self.x_test)}; expected the same "
                "shape.")

    def bind(self, model, model_name: str | None = None) -> "Dataset":
        """The dataset as ``model`` reads it: inputs given as a tuple become a dict keyed by
        the model's input names (in ``model.inputs`` order). ``model_name`` names the model in
        errors (default: its Keras name)."""
        if not isinstance(self.x_train, tuple) and not isinstance(self.x_test, tuple):
            return self
        names = input_names(model)
        keyed = {split: structure.by_name(getattr(self, split), names, "input",
                                          model_name or model.name)
                 for split in ("x_train", "x_test")}
        return dataclasses.replace(self, **keyed)

    @property
    def calibration(self):
        """The representative sample: the first ``calibration_size`` training rows."""
        return structure.take(self.x_train, 0, self.calibration_size)

    def calibration_inputs(self, count: int):
        """The first ``count`` training inputs (the representative data)."""
        return structure.take(self.x_train, 0, count)

    def test_input_batches(self, batch_size: int) -> Iterator:
        """The test inputs, ``batch_size`` samples at a time."""
        for start in range(0, self.test_size, batch_size):
            yield structure.take(self.x_test, start, start + batch_size)

    def sample_input(self):
        """One test input, batch of 1 (what host latency is timed on)."""
        return structure.take(self.x_test, 0, 1)

    def fit_arguments(self, batch_size: int) -> dict:
        """What ``model.fit`` takes to train on the training split."""
        return {"x": self.x_train, "y": self.y_train, "batch_size": batch_size}

    @property
    def train_size(self) -> int:
        return structure.length(self.x_train)

    @property
    def test_size(self) -> int:
        return structure.length(self.x_test)

    @property
    def input_shape(self):
        """The shape of one sample (a dict of shapes for several inputs)."""
        return _sample_shapes(self.x_train)

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of all four arrays and the calibration size."""
        parts = [part for split in (self.x_train, self.y_train, self.x_test, self.y_test)
                 for part in _named_arrays(split)]
        return f"{array_fingerprint(*parts)}:{self.calibration_size}"


def _named_arrays(x) -> list:
    """The arrays of ``x``; a dict's keys are hashed with them (as one small array each)."""
    if isinstance(x, dict):
        return [part for key, value in x.items()
                for part in (np.frombuffer(key.encode(), "uint8"), value)]
    return structure.arrays(x)


def _sample_shapes(x):
    return map_arrays(lambda array, _: tuple(array.shape[1:]), x)


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
    """Labels as int64 (integer or boolean labels) or float32 (targets), shape (N,) or (N, k);
    finite numbers."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 0 or len(y) == 0:
        raise DataError(
            f"In {source}, {name} has shape {y.shape}. Expected labels of shape (N,) with "
            "N >= 1: class indices, or regression targets.")
    if y.dtype.kind not in "biuf":
        raise DataError(f"In {source}, {name} has dtype {y.dtype}; expected numbers (class "
                        "indices 0..K-1, or regression targets).")
    if y.dtype.kind in "biu":
        return y.astype("int64")
    bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"In {source}, {name} holds NaN or infinite labels (first: {name}[{first}]). "
            "Expected finite labels: clean or drop those samples.")
    return y.astype("float32")


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


def check_fits_model(dataset, model, model_name: str) -> None:
    """Raise ``DataError`` unless the dataset's samples match the model's inputs (by name when
    the model has several)."""
    names = input_names(model)
    actual = dataset.input_shape
    if len(names) > 1 and not isinstance(actual, dict):
        raise DataError(
            f"The data gives one input array but model '{model_name}' has {len(names)} inputs "
            f"({', '.join(names)}). Expected a dict keyed by these names, or a tuple in this "
            "order.")
    if len(names) > 1:
        actual = structure.by_name(actual, names, "input", model_name)
    elif isinstance(actual, dict):
        actual = structure.by_name(actual, names, "input", model_name)
    for name, tensor in zip(names, model.inputs):
        expected = tuple(tensor.shape[1:])
        shape = actual[name] if len(names) > 1 else actual
        if not _shape_matches(shape, expected):
            which = f" input '{name}'" if len(names) > 1 else ""
            raise DataError(
                f"Dataset '{dataset.name}' has{which} samples of shape {shape} but model "
                f"'{model_name}' expects{which} inputs of shape {_describe_shape(expected)}. "
                "Reshape the arrays or pick the model that was trained on this data."
            )


def input_names(model) -> list[str]:
    """The model's input names, in ``model.inputs`` order."""
    return [tensor.name for tensor in model.inputs]


def output_names(model) -> list[str]:
    """The model's output names, in ``model.outputs`` order (a ``Sequential`` model has no
    ``output_names``: its outputs are named after the layers that make them, as a functional
    model's are)."""
    names = getattr(model, "output_names", None)
    return list(names) if names else [tensor._keras_history.operation.name
                                      for tensor in model.outputs]


def _shape_matches(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected)
    )


def _describe_shape(shape: tuple) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def representative_inputs(data: Any, model, max_samples: int | None = None):
    """``representative_array`` for each of the model's inputs: one array for a single-input
    model, a dict by input name for several (``data`` then a dict, or a tuple in input
    order, of arrays)."""
    names = input_names(model)
    if len(names) == 1:
        return representative_array(data, model.inputs[0].shape, max_samples)
    keyed = structure.by_name(as_structure(data), names, "input", model.name)
    return {name: representative_array(keyed[name], tensor.shape, max_samples)
            for name, tensor in zip(names, model.inputs)}


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
