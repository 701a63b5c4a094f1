"""The figure of merit a task is scored by: a name, a function and a direction.

Built in: ``top1`` (the default for class scores), ``top5``, ``f1`` (macro), ``binary_accuracy``
and ``auc`` (one sigmoid output), ``mae`` and ``rmse`` (regression). Any function
``metric(y_true, y_pred) -> float`` becomes a metric too. A metric checks, before any work, that
it fits the model's output and the labels (top-5 needs at least 5 classes, AUC one probability
per sample), and a row's ``score_drop`` is always positive when the variant is worse.

Example:
    >>> import numpy as np
    >>> top1 = get_metric("top1")
    >>> top1.score(np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]]))
    0.5
    >>> get_metric("mae").drop(float_score=2.0, score=2.5)
    0.5
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.errors import DataError, WorkbenchError

CLASSES, BINARY, VALUES, ANY = "class scores", "one probability", "values", "any"

# A score's drop equal to a limit meets it: differences this small are float rounding of the
# same fraction (0.99 - 0.98 is 0.010000000000000009), not a real loss.
SCORE_TOLERANCE = 1e-9


class MetricError(DataError):
    """An unknown metric, a metric that does not fit the output, or a metric function that
    fails."""


@dataclass(frozen=True)
class Metric:
    """``function(y_true, y_pred) -> float`` with its direction and the output it needs.

    ``fraction`` metrics lie in [0, 1] and are shown in percent, their drops in points;
    others are shown in their own units (``unit``).
    """

    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    output: str = ANY
    fraction: bool = False
    min_classes: int = 2
    description: str = ""

    @property
    def display_scale(self) -> float:
        """Multiply a score or a drop by this to show it (100 for fractions: percent)."""
        return 100.0 if self.fraction else 1.0

    @property
    def unit(self) -> str:
        """The unit of a shown drop: 'points' for fractions, else the metric's name."""
        return "points" if self.fraction else self.name.upper() if self.name in METRICS \
            else self.name

    def drop(self, float_score: float | None, score: float | None) -> float | None:
        """How much worse ``score`` is than ``float_score``, in the metric's units."""
        if float_score is None or score is None:
            return None
        return (float_score - score) if self.higher_is_better else (score - float_score)

    def format(self, score: float | None) -> str:
        """``98.2%`` for a fraction, ``44.00`` for a value (4 significant digits, kept), ``—``
        when missing."""
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return "—"
        return f"{100 * score:.1f}%" if self.fraction else f"{score:#.4g}"

    def score(self, y_true, y_pred) -> float:
        """The metric on labels and outputs; a ``MetricError`` if the function fails or does
        not return one finite number."""
        try:
            value = self.function(y_true, y_pred)
        except WorkbenchError:
            raise
        except Exception as error:
            raise MetricError(
                f"The metric function '{self.name}' raised {type(error).__name__}: {error}. "
                "Expected metric(y_true, y_pred) -> float to work on the test labels and the "
                "model's outputs (numpy arrays, or dicts of them for several outputs): fix the "
                "function and run again.") from None
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise MetricError(
                f"The metric function '{self.name}' returned {value!r} "
                f"({type(value).__name__}); expected one number.") from None
        if not math.isfinite(value):
            raise MetricError(f"The metric function '{self.name}' returned {value}; expected a "
                              "finite number (check for a division by zero or empty classes).")
        return value

    def check_fits(self, output_shape: tuple, labels, model: str = "the model") -> None:
        """Raise ``MetricError`` unless this metric can score ``output_shape`` (the chosen output,
        batch first) against ``labels``: an array, or a dict of arrays by name (``y_train``,
        ``y_test``) so that a message names the array and the sample."""
        if self.output == ANY:
            return
        if isinstance(labels, dict):
            for name, values in labels.items():
                self._check_fits(output_shape, np.asarray(values), model, name)
        else:
            self._check_fits(output_shape, np.asarray(labels), model, "the labels")

    def _check_fits(self, output_shape: tuple, labels: np.ndarray, model: str,
                    name: str) -> None:
        units = output_shape[-1] if len(output_shape) > 1 else 1
        if self.output == CLASSES:
            if len(output_shape) != 2 or (units or 0) < self.min_classes:
                raise MetricError(
                    f"Metric '{self.name}' needs class scores of shape (batch, classes) with at "
                    f"least {self.min_classes} classes, but {model} outputs shape "
                    f"{tuple(output_shape)}. {_suggest(output_shape)}")
            _check_class_labels(labels, self.name, units, name)
        elif self.output == BINARY:
            if len(output_shape) > 2 or units != 1:
                raise MetricError(
                    f"Metric '{self.name}' needs one probability per sample (shape (batch, 1), a "
                    f"sigmoid), but {model} outputs shape {tuple(output_shape)}. "
                    f"{_suggest(output_shape)}")
            _check_class_labels(labels, self.name, 2, name)
        elif self.output == VALUES:
            per_sample = int(np.prod(labels.shape[1:])) if labels.ndim > 1 else 1
            values = int(np.prod([d or 1 for d in output_shape[1:]]))
            if per_sample != values:
                raise MetricError(
                    f"Metric '{self.name}' compares each output value with a target, but "
                    f"{model} outputs {values} value(s) per sample (shape "
                    f"{tuple(output_shape)}) and {name} holds {per_sample}. "
                    f"{_suggest(output_shape)}")


def _suggest(output_shape: tuple) -> str:
    units = output_shape[-1] if len(output_shape) > 1 else 1
    if len(output_shape) == 2 and (units or 0) >= 2:
        return "Choose top1, top5 (5+ classes) or f1 for class scores."
    if len(output_shape) <= 2 and units == 1:
        return ("Choose binary_accuracy or auc for a sigmoid output, mae or rmse for a "
                "regressor.")
    return "Choose mae or rmse, or pass your own metric function."


def _check_class_labels(labels: np.ndarray, metric: str, classes: int | None,
                        name: str) -> None:
    flat = labels.reshape(len(labels), -1) if labels.ndim > 1 else labels[:, None]
    if flat.shape[1] != 1:
        raise MetricError(
            f"Metric '{metric}' needs one class index per sample, but {name} has shape "
            f"{labels.shape}. Turn one-hot labels into indices: use argmax.")
    values = flat[:, 0]
    bad = ~np.isfinite(values.astype("float64")) | (values != np.round(values)) | (values < 0)
    if bad.any():
        first = int(np.argmax(bad))
        raise MetricError(
            f"Metric '{metric}' reads class labels, but {name}[{first}] = {values[first]:g}. "
            "Expected class indices 0..K-1 (whole numbers): shift or re-encode the labels, or "
            "for continuous targets choose --metric mae or rmse.")
    top = int(values.max())
    if classes is not None and top >= classes:
        raise MetricError(
            f"{name} has labels up to {top} but {metric} reads {classes} class score(s) from "
            f"the model. Expected labels in 0..{classes - 1}: pick the model trained on this "
            "data or re-encode the labels.")


def _labels(y_true) -> np.ndarray:
    return np.asarray(y_true).reshape(len(y_true)).astype("int64")


def _top_k(k: int):
    return functools.partial(_top_k_accuracy, k=k)  # a module function: tasks pickle


def _top_k_accuracy(y_true, y_pred, k: int) -> float:
    best = np.argpartition(-np.asarray(y_pred), k - 1, axis=-1)[:, :k]
    return float(np.mean((best == _labels(y_true)[:, None]).any(axis=1)))


def _macro_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    y_pred = np.asarray(y_pred)
    predicted = (y_pred.reshape(len(y_pred)) >= 0.5).astype("int64") if y_pred.ndim == 1 or \
        y_pred.shape[-1] == 1 else np.argmax(y_pred, axis=-1)
    return float(f1_score(_labels(y_true), predicted, average="macro", zero_division=0))


def _binary_accuracy(y_true, y_pred) -> float:
    return float(np.mean((np.asarray(y_pred).reshape(len(y_pred)) >= 0.5) == _labels(y_true)))


def _auc(y_true, y_pred) -> float:
    from sklearn.metrics import roc_auc_score

    labels = _labels(y_true)
    if len(np.unique(labels)) < 2:
        raise MetricError("ROC AUC needs both classes among the test labels; the test split "
                          f"holds only class {labels[0]}. Use a larger or stratified test split.")
    return float(roc_auc_score(labels, np.asarray(y_pred).reshape(len(y_pred))))


def _as_targets(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_pred = np.asarray(y_pred, dtype="float64").reshape(len(y_pred), -1)
    return np.asarray(y_true, dtype="float64").reshape(y_pred.shape), y_pred


def _mae(y_true, y_pred) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(*_as_targets(y_true, y_pred)))


def _rmse(y_true, y_pred) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(*_as_targets(y_true, y_pred)))


METRICS = {
    metric.name: metric for metric in (
        Metric("top1", _top_k(1), output=CLASSES, fraction=True,
               description="share of samples whose highest score is the label"),
        Metric("top5", _top_k(5), output=CLASSES, fraction=True, min_classes=5,
               description="share of samples whose label is among the 5 highest scores"),
        Metric("f1", _macro_f1, fraction=True, output=ANY,
               description="macro-averaged F1 over the classes"),
        Metric("binary_accuracy", _binary_accuracy, output=BINARY, fraction=True,
               description="share of samples on the right side of 0.5"),
        Metric("auc", _auc, output=BINARY, fraction=True,
               description="area under the ROC curve of one sigmoid output"),
        Metric("mae", _mae, higher_is_better=False, output=VALUES,
               description="mean absolute error of a regressor"),
        Metric("rmse", _rmse, higher_is_better=False, output=VALUES,
               description="root mean squared error of a regressor"),
    )
}
DEFAULT_METRIC = "top1"


def get_metric(metric: str | Callable | Metric | None = None,
               higher_is_better: bool = True) -> Metric:
    """A built-in metric by name, a ``Metric``, or a user function ``(y_true, y_pred) ->
    float`` (named after the function; ``higher_is_better`` gives its direction)."""
    if metric is None:
        metric = DEFAULT_METRIC
    if isinstance(metric, Metric):
        return metric
    if callable(metric):
        name = getattr(metric, "__name__", "") or type(metric).__name__
        return Metric(name if name != "<lambda>" else "user_metric", metric, higher_is_better)
    if metric not in METRICS:
        import difflib

        close = difflib.get_close_matches(str(metric), METRICS, n=1)
        raise MetricError(
            f"Unknown metric {metric!r}. Expected one of: {', '.join(METRICS)}"
            + (f" (did you mean '{close[0]}'?)" if close else "")
            + ", or in Python a function metric(y_true, y_pred) -> float.")
    return METRICS[metric]


def default_metric_for(output_shape: tuple, labels) -> Metric:
    """top1 for class scores, binary_accuracy for one sigmoid output with 0/1 labels, mae for
    anything else (a regressor)."""
    labels = np.asarray(labels)
    units = output_shape[-1] if len(output_shape) > 1 else 1
    whole = labels.dtype.kind in "biu" or (
        labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and
        np.all(labels == np.round(labels)))
    if len(output_shape) == 2 and (units or 0) >= 2 and (whole or labels.ndim == 1):
        return METRICS["top1"]
    if units == 1 and whole and set(np.unique(labels)) <= {0, 1}:
        return METRICS["binary_accuracy"]
    return METRICS["mae"]
