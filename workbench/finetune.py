"""Fine-tuning a model on a task's training split, as the training recipes need it.

The loss follows the model's output: probabilities (a softmax head) or logits.

Example:
    >>> fine_tune(pruned, task.dataset, epochs=10, learning_rate=1e-3,
    ...           callbacks=[UpdatePruningStep()])                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.progress import epoch_callback

BATCH_SIZE = 32


def outputs_are_probabilities(model, sample: np.ndarray) -> bool:
    """True if the model already outputs class probabilities (non-negative, rows sum to 1)."""
    outputs = np.asarray(model(sample[:16], training=False))
    return bool((outputs >= 0).all() and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


def steps_per_epoch(dataset) -> int:
    return int(np.ceil(len(dataset.x_train) / BATCH_SIZE))


def fine_tune(model, dataset, epochs: int, learning_rate: float, callbacks=(),
              progress: bool = True, description: str = "fine-tuning"):
    """Train ``model`` in place with Adam and sparse cross-entropy; deterministic (seed 0)."""
    import keras

    keras.utils.set_random_seed(0)
    from_logits = not outputs_are_probabilities(model, dataset.x_train)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                  metrics=["accuracy"])
    model.fit(dataset.x_train, dataset.y_train, epochs=epochs, batch_size=BATCH_SIZE, verbose=0,
              callbacks=[*callbacks, epoch_callback(epochs, description, enabled=progress)])
    return model
