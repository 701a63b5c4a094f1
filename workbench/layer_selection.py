"""Find the weight tensors a transform can act on, filter them, and report what was done.

Pruning and clustering act on kernels: ``kernel`` (Dense, Conv1D/2D/3D,
Conv2DTranspose, DepthwiseConv2D, EinsumDense, so MultiHeadAttention too),
``depthwise_kernel``/``pointwise_kernel`` (SeparableConv), ``embeddings``
(Embedding) and ``kernel``/``recurrent_kernel`` of RNN cells (LSTM, GRU), in
Sequential, functional and nested models. A layer filter may be ``None`` (all),
a name, a class, a regex (``re.compile``), a callable, or a list of those.

Example:
    >>> weights = find_weights(model, layers=["fc", keras.layers.Conv2D])   # doctest: +SKIP
    >>> [w.path for w in weights]                                            # doctest: +SKIP
    ['stem_conv.kernel', 'fc.kernel']
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from workbench.errors import WorkbenchError

KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings",
                     "recurrent_kernel")


@dataclass(frozen=True, eq=False)
class WeightRef:
    """One kernel variable and the layer that owns it (``layer_path`` is 'outer/inner')."""

    layer_path: str
    layer: Any
    attribute: str
    variable: Any

    @property
    def path(self) -> str:
        return f"{self.layer_path}.{self.attribute}"

    @property
    def size(self) -> int:
        return int(self.variable.numpy().size)


def walk_layers(model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every layer below ``model`` (nested models and sub-layers too), depth first."""
    for layer in model._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}{layer.name}"
        yield path, layer
        yield from walk_layers(layer, prefix=path + "/")


def all_weights(model) -> list[WeightRef]:
    """Every kernel-like variable of the model, each once."""
    found, seen = [], set()
    for path, layer in walk_layers(model):
        for attribute in KERNEL_ATTRIBUTES:
            variable = getattr(layer, attribute, None)
            if _is_variable(variable) and id(variable) not in seen and len(variable.shape) >= 2:
                seen.add(id(variable))
                found.append(WeightRef(path, layer, attribute, variable))
    return found


def _is_variable(value) -> bool:
    import keras

    return isinstance(value, keras.Variable)


LayerSpec = Any  # None | str | type | re.Pattern | Callable | list of those


def layer_matcher(spec: LayerSpec) -> Callable[[str, Any], bool]:
    """A predicate ``(layer_path, layer) -> bool`` from a layer filter spec."""
    if spec is None:
        return lambda path, layer: True
    specs = list(spec) if isinstance(spec, (list, tuple, set)) else [spec]
    for item in specs:
        if not isinstance(item, (str, type, re.Pattern)) and not callable(item):
            raise WorkbenchError(
                f"Received layer filter {item!r} of type {type(item).__name__}. Expected a layer "
                "name, a layer class, a compiled regex, a callable(layer) -> bool, or a list."
            )

    def matches(path: str, layer) -> bool:
        names = path.split("/")
        for item in specs:
            if isinstance(item, str) and (item in names or item == path):
                return True
            if isinstance(item, type) and isinstance(layer, item):
                return True
            if isinstance(item, re.Pattern) and any(item.fullmatch(n) for n in [path, *names]):
                return True
            if callable(item) and not isinstance(item, (type, re.Pattern)) and item(layer):
                return True
        return False

    return matches


def select_weights(model, layers: LayerSpec = None) -> list[WeightRef]:
    """The kernels of the layers ``layers`` selects; a filter matching nothing is an error."""
    weights = all_weights(model)
    matches = layer_matcher(layers)
    selected = [ref for ref in weights if _matches_owner(matches, ref, model)]
    if not selected:
        available = sorted({ref.layer_path for ref in weights})
        raise WorkbenchError(
            f"The layer filter {layers!r} matches no layer with weights. Layers with weights: "
            f"{', '.join(available[:20]) or 'none'}{' ...' if len(available) > 20 else ''}."
        )
    return selected


def _matches_owner(matches, ref: WeightRef, model) -> bool:
    """A weight matches if its layer or any enclosing layer on its path matches."""
    parts = ref.layer_path.split("/")
    layers = dict(walk_layers(model))
    return any(matches("/".join(parts[: i + 1]), layers["/".join(parts[: i + 1])])
               for i in range(len(parts)))


@dataclass
class TransformReport:
    """What a transform applied, and what it skipped and why (one reason per weight)."""

    technique: str
    applied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unit: str = "weight(s)"
    notes: list[str] = field(default_factory=list)  # what was rewritten on the way

    def summary(self) -> str:
        lines = [f"{self.technique}: applied to {len(self.applied)} {self.unit}, "
                 f"skipped {len(self.skipped)}"]
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped.items()]
        return "\n".join(lines)

    def warn_if_skipped(self) -> None:
        """One combined warning for every skipped weight (not one per layer)."""
        if self.skipped:
            warnings.warn(self.summary(), stacklevel=3)


def _clone_layer_cheaply(layer):
    """Clone from config with zero initializers (the weights are overwritten right after,
    and drawing random values for millions of weights is the slow part of cloning), then give
    the copy the original initializers back so its config is the original's."""
    import keras

    config = layer.get_config()
    initializers = {key: value for key, value in config.items() if key.endswith("_initializer")}
    clone = type(layer).from_config({**config, **{key: "zeros" for key in initializers}})
    try:
        for key, value in initializers.items():
            if hasattr(clone, key):
                setattr(clone, key, keras.initializers.get(value))
    except AttributeError:  # read-only (e.g. an RNN forwarding to its cell): the slow, plain way
        return type(layer).from_config(config)
    return clone


def attached_state(model, attribute: str, made_by: str):
    """What a transform attached to the model it returned, or a clear error if it is not one."""
    state = getattr(model, attribute, None)
    if state is None:
        raise WorkbenchError(f"Model '{model.name}' was not made by {made_by}(...).")
    return state


def clone_with_weights(model):
    """A fresh copy of a functional or Sequential model (nested ones too) with its weights."""
    import keras

    try:
        clone = keras.models.clone_model(model, clone_function=_clone_layer_cheaply)
    except Exception as error:  # subclassed models cannot be cloned from their config
        raise WorkbenchError(
            f"Model '{model.name}' ({type(model).__name__}) cannot be copied from its config "
            f"({str(error).splitlines()[0]}). Expected a functional or Sequential Keras model."
        ) from None
    clone.set_weights(model.get_weights())
    return clone
