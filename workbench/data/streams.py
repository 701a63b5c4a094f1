"""A labelled task read in batches: a user's ``tf.data`` pipelines, or an image folder.

Evaluation iterates the test pipeline one batch at a time, so it never holds more than one batch
of inputs beyond the test labels; calibration reads only the samples it needs.

Example:
    >>> import tensorflow as tf                                        # doctest: +SKIP
    >>> train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)  # doctest: +SKIP
    >>> data = from_tf_data(train, test, name="mine")                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any, Callable, Iterator

import numpy as np

from workbench.data import structure
from workbench.data.arrays import DEFAULT_CALIBRATION_SIZE
from workbench.errors import DataError


class StreamDataset:
    """Batched ``(x, y)`` pipelines for training and testing (see the module doc).

    ``y_test`` (the labels, held in memory) and ``fingerprint`` are read with one pass over the
    test pipeline unless given; ``calibration`` (``count -> inputs``) defaults to the first
    samples of the training pipeline; ``test_cache`` (a ``DecodedCache``) keeps the decoded test
    inputs after the first pass.
    """

    def __init__(self, name: str, train, test, *, y_test=None, fingerprint: str | None = None,
                 calibration: Callable[[int], Any] | None = None, train_size: int | None = None,
                 calibration_size: int = DEFAULT_CALIBRATION_SIZE, info=None, test_cache=None):
        self.name, self.train, self.test = name, train, test
        self.calibration_size, self.info, self.test_cache = calibration_size, info, test_cache
        self._calibration, self._train_size = calibration, train_size
        if y_test is not None:
            self.__dict__["y_test"] = y_test
        if fingerprint is not None:
            self.__dict__["fingerprint"] = fingerprint

    reopen = None  # (ImageFolder, input shape) when the pipelines can be rebuilt from files

    def bind(self, model, model_name: str | None = None) -> "StreamDataset":
        return self

    def __reduce__(self):
        """Pickled (e.g. sent to Dask workers) as the folder and input shape it reads: the
        copy builds its own pipelines and reads the test images from their files."""
        if self.reopen is None:
            raise TypeError(f"the dataset '{self.name}' streams from a tf.data pipeline, which "
                            "cannot be sent to another process")
        return _reopened, self.reopen

    def test_input_batches(self, batch_size: int = 0) -> Iterator:
        """The test inputs, one batch of the pipeline at a time (``batch_size`` is the
        pipeline's own), or of the decoded copy ``test_cache`` keeps after a first pass."""
        def decode():
            return (x for x, _ in self.test.as_numpy_iterator())

        yield from decode() if self.test_cache is None else self.test_cache.batches(decode)

    def calibration_inputs(self, count: int):
        if self._calibration is not None:
            return self._calibration(count)
        parts, taken = [], 0
        for x, _ in self.train.as_numpy_iterator():
            parts.append(structure.take(x, 0, count - taken))
            taken += structure.length(parts[-1])
            if taken >= count:
                break
        return structure.concatenate(parts)

    def sample_input(self):
        """The first test input, batch of 1 (read once: latency is timed on it every run)."""
        return self._first_input

    @cached_property
    def _first_input(self):
        return structure.take(next(self.test_input_batches()), 0, 1)

    @property
    def calibration(self):
        return self.calibration_inputs(self.calibration_size)

    def fit_arguments(self, batch_size: int) -> dict:
        """The training pipeline as it is (batched; an image folder's reshuffles each epoch)."""
        return {"x": self.train, "shuffle": False}

    @property
    def train_size(self) -> int:
        if self._train_size is None:
            self._train_size = sum(structure.length(y) for _, y in
                                   self.train.map(lambda x, y: (0, y)).as_numpy_iterator())
        return self._train_size

    @property
    def test_size(self) -> int:
        return structure.length(self.y_test)

    @property
    def input_shape(self):
        return structure.map_arrays(lambda array, _: tuple(array.shape[1:]), self.sample_input())

    @cached_property
    def y_test(self):
        return structure.concatenate([y for y in self.test.map(lambda x, y: y)
                                      .as_numpy_iterator()])

    @cached_property
    def fingerprint(self) -> str:
        """A hash of every test and training batch (one pass over both pipelines)."""
        digest = hashlib.sha256()
        for pipeline in (self.train, self.test):
            for x, y in pipeline.as_numpy_iterator():
                for array in (*structure.arrays(x), *structure.arrays(y)):
                    digest.update(np.ascontiguousarray(array).tobytes())
        return f"stream:{digest.hexdigest()[:32]}:{self.calibration_size}"


def from_tf_data(train, test, name: str = "tf.data", batch_size: int = 32,
                 calibration_size: int = DEFAULT_CALIBRATION_SIZE) -> StreamDataset:
    """Wrap a user's ``tf.data.Dataset``s of ``(x, y)`` (batched, or single samples which are
    batched here by ``batch_size``)."""
    import tensorflow as tf

    pipelines = []
    for split, dataset in (("train", train), ("test", test)):
        if not isinstance(dataset, tf.data.Dataset):
            raise DataError(f"The {split} data is a {type(dataset).__name__}; expected a "
                            "tf.data.Dataset of (x, y) pairs (or numpy arrays, with Dataset).")
        spec = dataset.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise DataError(
                f"The {split} tf.data.Dataset yields {spec}; expected (x, y) pairs: "
                "map it with lambda *item: (inputs, labels).")
        first = structure.arrays(spec[0])[0] if not isinstance(spec[0], dict) \
            else next(iter(spec[0].values()))
        batched = len(first.shape) > 0 and first.shape[0] is None
        pipelines.append(dataset if batched else dataset.batch(batch_size))
    return StreamDataset(name, *pipelines, calibration_size=calibration_size)


def _reopened(folder, shape) -> "StreamDataset":
    return folder.bind_input(shape, keep_decoded=False)
