"""Progress bars for the slow steps (training, calibration, evaluation, latency).

Bars are tqdm's (notebook-aware through ``tqdm.auto``) and stay silent when
stderr is not a terminal, so logs and CI output stay readable. A thread may also
install an observer (``observed``) that hears every step of every phase; that is how
a background job reports progress and stops at a safe point when cancelled.

Example:
    >>> total = sum(track(range(3), "counting", enabled=False))
"""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
# (phase, steps done, total steps, metrics of the step just done: e.g. an epoch's loss)
Observer = Callable[[str, int, "int | None", "dict | None"], None]
_local = threading.local()


@contextlib.contextmanager
def observed(observer: Observer):
    """Call ``observer(phase, done, total, metrics)`` at every step of the slow phases run by
    this thread inside the block; an exception it raises stops the work at that step."""
    previous = getattr(_local, "observer", None)
    _local.observer = observer
    try:
        yield
    finally:
        _local.observer = previous


def report_phase(phase: str, done: int = 0, total: int | None = None,
                 metrics: dict | None = None) -> None:
    """Tell this thread's observer (if any) where the work is (and, after a training epoch,
    its ``metrics``: loss, accuracy)."""
    observer = getattr(_local, "observer", None)
    if observer is not None:
        observer(phase, done, total, metrics)


def _observed_steps(iterable, desc: str, total: int | None):
    report_phase(desc, 0, total)
    for done, item in enumerate(iterable, start=1):
        yield item
        report_phase(desc, done, total)


def track(iterable: Iterable[T], desc: str, total: int | None = None, enabled: bool = True,
          unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a transient tqdm bar (shown only on a terminal or in a notebook)."""
    from tqdm.auto import tqdm

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if getattr(_local, "observer", None) is not None:
        iterable = _observed_steps(iterable, desc, total)
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False,
                disable=None if enabled else True)


def epoch_callback(epochs: int, desc: str, enabled: bool = True):
    """A Keras callback that advances a bar once per epoch and shows the accuracy."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = track(range(epochs), desc, enabled=enabled, unit="epoch")
            report_phase(desc, 0, epochs)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.update(1)
            metrics = {name: float(value) for name, value in (logs or {}).items()
                       if name in ("loss", "accuracy")}
            report_phase(desc, epoch + 1, epochs, metrics)
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
