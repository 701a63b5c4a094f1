"""Content hashes that identify a model and a dataset, for the result cache.

Two models with the same architecture and the same weights have the same
fingerprint, whether they came from a file or live in memory.

Example:
    >>> import numpy as np
    >>> array_fingerprint(np.zeros(3)) == array_fingerprint(np.zeros(3))
    True
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def _update_with_array(digest, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


def array_fingerprint(*arrays: np.ndarray | None) -> str:
    """Hex digest of the dtypes, shapes and bytes of ``arrays`` (``None`` allowed)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"<none>")
        else:
            _update_with_array(digest, np.asarray(array))
    return digest.hexdigest()


def _architecture(model) -> str:
    try:
        return json.dumps(model.get_config(), sort_keys=True, default=str)
    except NotImplementedError:  # a subclassed model without get_config
        return f"{type(model).__qualname__}:{[w.shape for w in model.weights]}"


def model_fingerprint(model) -> str:
    """Hex digest of a Keras model's architecture (JSON config) and all its weights."""
    digest = hashlib.sha256()
    digest.update(_architecture(model).encode())
    for weight in model.weights:
        digest.update(weight.path.encode())
        _update_with_array(digest, np.asarray(weight.numpy()))
    return digest.hexdigest()
