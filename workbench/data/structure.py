"""Inputs and labels of one or several tensors: an array, or a dict of arrays by name.

A model with several inputs takes a dict keyed by its input names (a tuple or list is taken in
the order of ``model.inputs``); a model with several outputs is scored on a dict keyed by its
output names. These helpers treat both shapes alike.

Example:
    >>> import numpy as np
    >>> x = {"image": np.zeros((4, 8, 8, 1)), "meta": np.zeros((4, 3))}
    >>> length(x), shapes(take(x, 0, 2))
    (4, {'image': (2, 8, 8, 1), 'meta': (2, 3)})
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from workbench.errors import DataError


def as_structure(x: Any) -> Any:
    """A dict stays a dict of arrays, a tuple or list becomes a tuple of arrays, anything else
    one array."""
    if isinstance(x, dict):
        return {str(key): np.asarray(value) for key, value in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(np.asarray(value) for value in x)
    return np.asarray(x)


def map_arrays(function: Callable[[np.ndarray, str], Any], x: Any, name: str = "x") -> Any:
    """``function(array, label)`` on every array, keeping the structure; ``label`` names it
    (``x_train['image']``)."""
    if isinstance(x, dict):
        return {key: function(value, f"{name}[{key!r}]") for key, value in x.items()}
    if isinstance(x, tuple):
        return tuple(function(value, f"{name}[{index}]") for index, value in enumerate(x))
    return function(x, name)


def arrays(x: Any) -> list[np.ndarray]:
    return list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, tuple) else [x]


def length(x: Any) -> int:
    return len(arrays(x)[0])


def take(x: Any, start: int, stop: int) -> Any:
    return map_arrays(lambda array, _: array[start:stop], x)


def shapes(x: Any) -> Any:
    return map_arrays(lambda array, _: tuple(array.shape), x)


def concatenate(parts: list) -> Any:
    if isinstance(parts[0], dict):
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return np.concatenate(parts)


def by_name(x: Any, names: list[str], what: str, model: str) -> Any:
    """``x`` keyed by ``names`` (a model's input or output names): a dict is checked against
    them, a tuple is taken in their order, a lone array fits a single name."""
    if len(names) == 1 and not isinstance(x, (dict, tuple)):
        return x
    if isinstance(x, tuple):
        if len(x) != len(names):
            raise DataError(
                f"The data gives {len(x)} {what} arrays but model '{model}' has {len(names)} "
                f"{what}s ({', '.join(names)}). Expected one array per {what}, or a dict keyed "
                "by these names.")
        return dict(zip(names, x))
    if not isinstance(x, dict):
        raise DataError(
            f"The data gives one {what} array but model '{model}' has {len(names)} {what}s "
            f"({', '.join(names)}). Expected a dict keyed by these names, or a tuple in this "
            "order.")
    if len(names) == 1 and len(x) == 1:
        return next(iter(x.values()))
    missing = [name for name in names if name not in x]
    unknown = [key for key in x if key not in names]
    if missing or unknown:
        raise DataError(
            f"The data's {what} keys are {', '.join(map(repr, x))} but model '{model}' has "
            f"{what}s {', '.join(map(repr, names))}"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + ". Rename the keys to the model's names.")
    return {name: x[name] for name in names}
