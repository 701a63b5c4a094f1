"""Fix an input's free spatial dimensions (``keras.Input((None, None, 3))``) to one size, from
an option or from the data, so the converter gets a static shape; the row's notes state it.

Example:
    >>> fixed, note = fix_free_input_sizes(model, dataset, None)     # doctest: +SKIP
    >>> note                                                         # doctest: +SKIP
    'input size fixed to (32, 32, 3) from the data'
"""

from __future__ import annotations

import numpy as np

from workbench.errors import DataError


def fix_free_input_sizes(model, dataset, input_size) -> tuple[object, str]:
    """``(model, '')`` when every input is static, else a rebuilt model with the same weights
    and a note saying the size and where it came from."""
    free = [tensor for tensor in model.inputs if None in tuple(tensor.shape[1:])]
    if not free:
        return model, ""
    if len(model.inputs) != 1:
        raise DataError(f"Model '{model.name}' has several inputs with free dimensions; fix "
                        "their sizes with keras.Input(shape=...) and save it again.")
    shape = tuple(model.inputs[0].shape[1:])
    size, source = _size(model, shape, dataset, input_size)
    rebuilt = _with_input_shape(model, size)
    return rebuilt, f"input size fixed to {size} {source}"


def _size(model, shape: tuple, dataset, input_size) -> tuple[tuple, str]:
    if input_size is not None:
        spatial = tuple(int(d) for d in input_size)
        free = [index for index, d in enumerate(shape) if d is None]
        if len(spatial) == len(shape):
            size = spatial
        elif len(spatial) == len(free):
            filled = iter(spatial)
            size = tuple(next(filled) if d is None else d for d in shape)
        else:
            raise DataError(f"Received input size {input_size}; model '{model.name}' takes "
                            f"{shape}: expected {len(free)} number(s) for its free dimensions "
                            "(e.g. --input-size 96x96).")
        return size, "(--input-size)"
    if dataset is None:
        raise DataError(
            f"Model '{model.name}' takes inputs of free size {shape} and no data gives one. "
            "Pass --input-size HEIGHTxWIDTH (input_size= in Python).")
    if hasattr(dataset, "size_for"):  # an image folder: the images' own size
        height, width = dataset.size_for(shape)
        return (height, width, shape[-1]), "from the images"
    sample = dataset.input_shape
    if len(sample) != len(shape):
        raise DataError(f"Model '{model.name}' takes inputs of shape {shape} but the data's "
                        f"samples have shape {sample}.")
    return tuple(int(d) for d in sample), "from the data"


def _with_input_shape(model, size: tuple):
    """The model rebuilt from its config with the input's batch shape ``(None, *size)``."""
    config = model.get_config()
    for layer in config.get("layers", []):
        if layer.get("class_name") == "InputLayer":
            layer["config"]["batch_shape"] = [None, *size]
            layer["config"].pop("shape", None)
            break
    else:
        raise DataError(f"Model '{model.name}' has no InputLayer to fix the size of; build it "
                        "with keras.Input(shape=...) of a fixed size.")
    rebuilt = model.__class__.from_config(config)
    rebuilt.set_weights([np.asarray(w) for w in model.get_weights()])
    return rebuilt
