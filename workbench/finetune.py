"""Fine-tuning a model on a task's training split, as the training recipes need it.

The loss follows the model's output: probabilities (a softmax head) or logits.

Example:
    >>> fine_tune(pruned, task.dataset, epochs=10, learning_rate=1e-3,
    ...           callbacks=[UpdatePruningStep()])                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError
from workbench.progress import epoch_callback

BATCH_SIZE = 32
# The seed every fine-tuning starts from (runs are reproducible on one machine; other CPUs
# give slightly other floats). bench/training_spread.py varies it to measure that spread.
DEFAULT_SEED = 0


def outputs_are_probabilities(model, sample: np.ndarray) -> bool:
    """True if the model already outputs class probabilities (non-negative, rows sum to 1)."""
    outputs = np.asarray(model(sample[:16], training=False))
    return bool((outputs >= 0).all() and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


def steps_per_epoch(dataset) -> int:
    return int(np.ceil(len(dataset.x_train) / BATCH_SIZE))


def fine_tune(model, dataset, epochs: int, learning_rate: float, callbacks=(),
              progress: bool = True, description: str = "fine-tuning", seed: int | None = None):
    """Train ``model`` in place with Adam and sparse cross-entropy; deterministic
    (``seed``, default ``DEFAULT_SEED``).

    If an epoch ends with a NaN or infinite loss, training stops, the model gets back the
    weights of the last epoch that ended well, and a ``WorkbenchError`` says so.
    """
    import keras

    keras.utils.set_random_seed(DEFAULT_SEED if seed is None else seed)
    from_logits = not outputs_are_probabilities(model, dataset.x_train)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                  metrics=["accuracy"])
    guard = _finite_loss_guard()
    model.fit(dataset.x_train, dataset.y_train, epochs=epochs, batch_size=BATCH_SIZE, verbose=0,
              callbacks=[*callbacks, guard, epoch_callback(epochs, description, enabled=progress)])
    if guard.failed_epoch is not None:
        model.set_weights(guard.good_weights)
        raise WorkbenchError(
            f"{description.capitalize()} diverged: epoch {guard.failed_epoch + 1} ended with a "
            f"{guard.failed_loss} loss. Training stopped and the model keeps the weights of "
            f"{'epoch ' + str(guard.failed_epoch) if guard.failed_epoch else 'before training'}. "
            f"Lower learning_rate (received {learning_rate}) or check the data for extreme values."
        )
    return model


def _finite_loss_guard():
    """A callback that remembers the weights after each finite-loss epoch and stops on NaN."""
    import keras

    class FiniteLossGuard(keras.callbacks.Callback):
        failed_epoch = failed_loss = None

        def on_train_begin(self, logs=None):
            self.good_weights = self.model.get_weights()

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(loss):
                self.failed_epoch, self.failed_loss = epoch, loss
                self.model.stop_training = True
            else:
                self.good_weights = self.model.get_weights()

    return FiniteLossGuard()
