"""Magnitude pruning for Keras 3: ``prune_low_magnitude`` / ``UpdatePruningStep`` / ``strip_pruning``.

``prune_low_magnitude`` returns a copy of the model whose selected kernels
carry a mask; the optimizer re-applies the mask after every update (inside the
compiled train step) and the ``UpdatePruningStep`` callback recomputes the
masks as the schedule says. ``strip_pruning`` returns a plain Keras model with
the zeros baked in. The pruned model is a plain Keras model throughout: it
saves as ``.keras`` and loads with ``keras.saving.load_model``.

Example:
    >>> pruned = prune_low_magnitude(model, ConstantSparsity(0.8, begin_step=0))  # doctest: +SKIP
    >>> pruned.compile(...); pruned.fit(x, y, callbacks=[UpdatePruningStep()])   # doctest: +SKIP
    >>> final = strip_pruning(pruned)                                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from workbench.constraints import install_projection
from workbench.errors import WorkbenchError
from workbench.layer_selection import (
    LayerSpec, TransformReport, WeightRef, all_weights, clone_with_weights, select_weights,
)
from workbench.pruning.masks import m_by_n_mask, magnitude_mask
from workbench.pruning.schedules import ConstantSparsity, PruningSchedule

STATE_ATTRIBUTE = "_workbench_pruning"
NO_M_BY_N_DEPTHWISE = "depthwise kernels have one input channel per filter: m-by-n does not apply"
NO_M_BY_N_EMBEDDING = "embedding tables are looked up, not multiplied: m-by-n does not apply"


@dataclass(eq=False)
class _PrunedWeight:
    ref: WeightRef
    mask: Any  # keras.Variable
    axis: int | None  # input-channel axis for m-by-n


@dataclass(eq=False)
class PruningState:
    """What the callback needs: the schedule, the masked weights, the step and the history."""

    schedule: PruningSchedule
    m_by_n: tuple[int, int] | None
    weights: list[_PrunedWeight]
    report: TransformReport
    step: int = 0
    history: list[dict] = field(default_factory=list)

    def update_masks(self, sparsity: float) -> None:
        for entry in self.weights:
            values = np.asarray(entry.ref.variable.numpy())
            if self.m_by_n:
                mask = m_by_n_mask(values, *self.m_by_n, axis=entry.axis)
            else:
                mask = magnitude_mask(values, sparsity)
            entry.mask.assign(mask)
            entry.ref.variable.assign(values * mask)

    def record(self, epoch: int) -> None:
        for entry in self.weights:
            values = np.asarray(entry.ref.variable.numpy())
            self.history.append({"step": self.step, "epoch": epoch, "weight": entry.ref.path,
                                 "sparsity": float(np.mean(values == 0))})

    def history_frame(self):
        import pandas as pd

        return pd.DataFrame(self.history, columns=["step", "epoch", "weight", "sparsity"])


def input_channel_axis(ref: WeightRef) -> tuple[int | None, str | None]:
    """The input-channel axis of a Keras kernel for m-by-n, or ``(None, reason)``."""
    layer = ref.layer
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)) or \
            ref.attribute == "depthwise_kernel":
        return None, NO_M_BY_N_DEPTHWISE
    if ref.attribute == "embeddings":
        return None, NO_M_BY_N_EMBEDDING
    transposed = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                  keras.layers.Conv3DTranspose)
    if isinstance(layer, transposed):
        return -1, None
    rank = len(ref.variable.shape)
    is_conv = ref.attribute == "pointwise_kernel" or (rank >= 3 and "conv" in type(layer).__name__.lower())
    return (-2 if is_conv else 0), None


def _check_m_by_n(m_by_n) -> tuple[int, int] | None:
    if m_by_n is None:
        return None
    if (not isinstance(m_by_n, (tuple, list)) or len(m_by_n) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in m_by_n)
            or not 0 < m_by_n[0] < m_by_n[1]):
        raise WorkbenchError(
            f"sparsity_m_by_n must be a pair (m, n) of whole numbers with 0 < m < n, e.g. (2, 4) "
            f"for 2:4 sparsity. Received: sparsity_m_by_n={m_by_n!r}."
        )
    return int(m_by_n[0]), int(m_by_n[1])


def prune_low_magnitude(model, schedule: PruningSchedule | None = None,
                        sparsity_m_by_n: tuple[int, int] | None = None,
                        layers: LayerSpec = None, policy=None):
    """A copy of ``model`` that trains with magnitude pruning; ``model`` is left untouched.

    ``schedule`` defaults to ``ConstantSparsity(0.5)``; ``sparsity_m_by_n=(2, 4)`` prunes
    to structured 2:4 sparsity instead; ``layers`` filters layers; ``policy`` (e.g.
    ``PruneForLatencyOnXNNPack()``) may skip more. The copy's ``pruning_report`` says what
    was pruned and what was skipped and why.
    """
    schedule = schedule if schedule is not None else ConstantSparsity(0.5)
    if not isinstance(schedule, PruningSchedule):
        raise WorkbenchError(f"schedule must be a PruningSchedule (ConstantSparsity or "
                             f"PolynomialDecay). Received: {type(schedule).__name__}.")
    m_by_n = _check_m_by_n(sparsity_m_by_n)
    select_weights(model, layers)  # validates the filter on the original, before any copy
    pruned = clone_with_weights(model)
    report = TransformReport("m-by-n pruning" if m_by_n else "magnitude pruning")
    entries = []
    for ref in select_weights(pruned, layers):
        reason = policy.skip_reason(ref) if policy is not None else None
        axis = None
        if reason is None and m_by_n:
            axis, reason = input_channel_axis(ref)
            if reason is None and ref.variable.shape[axis] % m_by_n[1]:
                reason = (f"its input-channel dimension ({ref.variable.shape[axis]}) is not a "
                          f"multiple of n={m_by_n[1]}")
        if reason is not None:
            report.skipped[ref.path] = reason
            continue
        mask = keras.Variable(np.ones(ref.variable.shape, "float32"), trainable=False,
                              name=f"{ref.layer.name}_{ref.attribute}_mask")
        install_projection(ref.variable, lambda w, mask=mask: w * keras.ops.cast(mask, w.dtype))
        entries.append(_PrunedWeight(ref, mask, axis))
        report.applied.append(ref.path)
    if not entries:
        raise WorkbenchError(f"Nothing to prune: every selected weight was skipped.\n"
                             f"{report.summary()}")
    setattr(pruned, STATE_ATTRIBUTE, PruningState(schedule, m_by_n, entries, report))
    report.warn_if_skipped()
    return pruned


def pruning_state(model) -> PruningState:
    state = getattr(model, STATE_ATTRIBUTE, None)
    if state is None:
        raise WorkbenchError(
            f"Model '{model.name}' was not prepared for pruning. Call "
            "prune_low_magnitude(model, ...) first and train the model it returns."
        )
    return state


class UpdatePruningStep(keras.callbacks.Callback):
    """Advances the schedule each batch and recomputes the masks when it says so."""

    def on_train_begin(self, logs=None):
        self.state = pruning_state(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        update, sparsity = self.state.schedule(self.state.step)
        if update:
            self.state.update_masks(sparsity)
        self.state.step += 1

    def on_epoch_end(self, epoch, logs=None):
        self.state.record(epoch)


def prune_once(model, schedule_or_sparsity, **options):
    """Prune to the schedule's sparsity at its begin step without training (one shot)."""
    schedule = schedule_or_sparsity
    if not isinstance(schedule, PruningSchedule):
        schedule = ConstantSparsity(schedule_or_sparsity)
    pruned = prune_low_magnitude(model, schedule, **options)
    state = pruning_state(pruned)
    state.update_masks(schedule.sparsity(schedule.end_step if schedule.end_step != -1
                                         else schedule.begin_step))
    return strip_pruning(pruned)


def strip_pruning(model):
    """A plain Keras model (no masks, no projections) with the pruned zeros baked in."""
    state = getattr(model, STATE_ATTRIBUTE, None)
    plain = clone_with_weights(model)
    if state is not None:
        masks = {id(entry.ref.variable): entry.mask for entry in state.weights}
        for source, target in zip(model.weights, plain.weights):
            if id(source) in masks:
                target.assign(np.asarray(source.numpy()) * np.asarray(masks[id(source)].numpy()))
    return plain


def pruning_report(model) -> TransformReport:
    return pruning_state(model).report


def weight_sparsity_table(model):
    """Per kernel of any Keras model: elements, zeros and sparsity, as a DataFrame."""
    import pandas as pd

    rows = []
    for ref in all_weights(model):
        values = np.asarray(ref.variable.numpy())
        rows.append({"weight": ref.path, "layer_type": type(ref.layer).__name__,
                     "elements": values.size, "zeros": int(np.sum(values == 0)),
                     "sparsity": float(np.mean(values == 0))})
    return pd.DataFrame(rows, columns=["weight", "layer_type", "elements", "zeros", "sparsity"])
