"""Progress bars for the slow steps (training, calibration, evaluation, latency).

Bars are tqdm's (notebook-aware through ``tqdm.auto``) and stay silent when
stderr is not a terminal, so logs and CI output stay readable.

Example:
    >>> total = sum(track(range(3), "counting", enabled=False))
"""

from __future__ import annotations

import contextlib
import io
from typing import Iterable, TypeVar

T = TypeVar("T")


def track(iterable: Iterable[T], desc: str, total: int | None = None, enabled: bool = True,
          unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a transient tqdm bar (shown only on a terminal or in a notebook)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False,
                disable=None if enabled else True)


def epoch_callback(epochs: int, desc: str, enabled: bool = True):
    """A Keras callback that advances a bar once per epoch and shows the accuracy."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = track(range(epochs), desc, enabled=enabled, unit="epoch")

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)
            if logs and "accuracy" in logs:
                self.bar.set_postfix(accuracy=f"{logs['accuracy']:.3f}")

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochProgress()


@contextlib.contextmanager
def converter_chatter_hidden():
    """Hide what the Keras exporter and the TFLite converter print from Python ("Saved artifact
    at ...", "Assets written to ...", deprecation warnings) while the block runs."""
    import logging
    import warnings

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
