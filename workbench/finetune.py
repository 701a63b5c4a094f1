"""Fine-tuning a model on a task's training split, as the training recipes need it.

The loss follows the model's output: probabilities (a softmax head) or logits.

Example:
    >>> fine_tune(pruned, task.dataset, epochs=10, learning_rate=1e-3,
    ...           callbacks=[UpdatePruningStep()])                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.data import output_names
from workbench.errors import WorkbenchError
from workbench.progress import epoch_callback

BATCH_SIZE = 32
# The seed every fine-tuning starts from (runs are reproducible on one machine; other CPUs
# give slightly other floats). bench/training_spread.py varies it to measure that spread.
DEFAULT_SEED = 0


def steps_per_epoch(dataset) -> int:
    return int(np.ceil(dataset.train_size / BATCH_SIZE))


def losses_for(model, dataset):
    """The training loss of each output, from its shape and the labels: sparse cross-entropy
    for class scores, binary cross-entropy for one unit with 0/1 labels, mean squared error
    otherwise (logits or probabilities, as the model outputs them); a dict for several
    outputs."""
    import keras

    sample = dataset.calibration_inputs(16)
    outputs = model(sample, training=False)
    outputs = outputs if isinstance(outputs, dict) else dict(zip(
        output_names(model), outputs if isinstance(outputs, (list, tuple)) else [outputs]))
    labels = dataset.y_test
    losses = {}
    for name, values in outputs.items():
        values = np.asarray(values)
        target = labels[name] if isinstance(labels, dict) else labels
        whole = np.asarray(target).dtype.kind in "iu"
        if values.ndim == 2 and values.shape[-1] >= 2 and whole:
            probabilities = bool((values >= 0).all() and np.allclose(values.sum(-1), 1.0,
                                                                         atol=1e-3))
            losses[name] = keras.losses.SparseCategoricalCrossentropy(
                from_logits=not probabilities)
        elif values.reshape(len(values), -1).shape[1] == 1 and whole and \
                set(np.unique(target)) <= {0, 1}:
            probabilities = bool(((values >= 0) & (values <= 1)).all())
            losses[name] = keras.losses.BinaryCrossentropy(from_logits=not probabilities)
        else:
            losses[name] = keras.losses.MeanSquaredError()
    if isinstance(labels, dict) and set(labels) != set(losses):
        raise WorkbenchError(
            f"Fine-tuning needs labels for every output ({', '.join(losses)}); the data labels "
            f"{', '.join(labels)}. Label every output, or use a post-training recipe.")
    return next(iter(losses.values())) if len(losses) == 1 else losses


def fine_tune(model, dataset, epochs: int, learning_rate: float, callbacks=(),
              progress: bool = True, description: str = "fine-tuning", seed: int | None = None):
    """Train ``model`` in place with Adam on ``dataset``'s training split, the loss following
    each output (``losses_for``); deterministic (``seed``, default ``DEFAULT_SEED``).

    If an epoch ends with a NaN or infinite loss, training stops, the model gets back the
    weights of the last epoch that ended well, and a ``WorkbenchError`` says so.
    """
    import keras

    keras.utils.set_random_seed(DEFAULT_SEED if seed is None else seed)
    loss = losses_for(model, dataset)
    classifier = isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=["accuracy"] if classifier else None)
    guard = _finite_loss_guard()
    model.fit(**dataset.fit_arguments(BATCH_SIZE), epochs=epochs, verbose=0,
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
