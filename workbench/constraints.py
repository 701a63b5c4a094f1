"""Keep weights on a set during training: a projection the optimizer applies after each update.

Keras 3 optimizers apply ``variable.constraint`` right after every gradient
update, inside the compiled train step. Pruning projects onto "zeros stay
zero" (``w * mask``), clustering onto "each cluster shares one value". The
projection lives on the variable, not in the layer config, so the model stays a
plain Keras model that saves and loads without custom objects.

Example:
    >>> install_projection(layer.kernel, lambda w: w * mask)        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Callable

import keras


class WeightProjection(keras.constraints.Constraint):
    """Apply ``project`` after any constraint the variable already had."""

    def __init__(self, project: Callable, previous=None):
        self.project = project
        self.previous = previous

    def __call__(self, weights):
        if self.previous is not None:
            weights = self.previous(weights)
        return self.project(weights)


def install_projection(variable, project: Callable) -> None:
    """Make the optimizer apply ``project`` to ``variable`` after each update."""
    variable.constraint = WeightProjection(project, variable.constraint)
