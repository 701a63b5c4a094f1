"""Every tensor of a ``.tflite`` run by LiteRT, by name: the yardstick for the kernels.

``resolver="reference"`` uses LiteRT's reference kernels (``BUILTIN_REF``: plain C++ loops,
the arithmetic the integer kernels here reproduce bit for bit); ``"default"`` its optimized
kernels with XNNPACK, what a phone runs.

Example:
    >>> tensors = litert_tensors(tflite_bytes, [x])                  # doctest: +SKIP
    >>> compare_tensors(run_tflite(tflite_bytes, [x]), tensors)       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

RESOLVERS = ("reference", "default")


def litert_interpreter(tflite: bytes, resolver: str = "reference", keep_all: bool = True):
    """An allocated LiteRT interpreter on one thread; ``keep_all`` keeps intermediate tensors
    readable after ``invoke``."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = {"reference": OpResolverType.BUILTIN_REF, "default": OpResolverType.AUTO}[resolver]
    with warnings.catch_warnings():  # "preserve_all_tensors is intended for debugging"
        warnings.simplefilter("ignore", UserWarning)
        runner = Interpreter(model_content=bytes(tflite), num_threads=1,
                             experimental_op_resolver_type=kind,
                             experimental_preserve_all_tensors=keep_all)
    runner.allocate_tensors()
    return runner


def litert_tensors(tflite, inputs, resolver: str = "reference") -> dict[str, np.ndarray]:
    """Run ``tflite`` (bytes or a path) on ``inputs`` (one array per graph input, in order,
    of its dtype and shape: checked as ``run_tflite`` checks them) and return every tensor
    that holds values afterwards, by its name in the flatbuffer."""
    from workbench.kernels.runner import checked_inputs, model_bytes
    from workbench.tflite_inspect import inspect_tflite

    model = model_bytes(tflite)
    values = checked_inputs(inspect_tflite(model), inputs)
    runner = litert_interpreter(model, resolver)
    for detail, value in zip(runner.get_input_details(), values.values()):
        runner.set_tensor(detail["index"], value)
    runner.invoke()
    found = {}
    for detail in runner.get_tensor_details():
        try:
            found[detail["name"]] = np.array(runner.get_tensor(detail["index"]))
        except ValueError:  # a tensor with no buffer (freed or never written)
            continue
    return found


def compare_tensors(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]):
    """One row per tensor both dicts hold: ``tensor``, ``dtype``, ``elements``,
    ``mismatches`` (elements that differ), ``max_abs_diff`` (in codes)."""
    import pandas as pd

    rows = []
    for name, value in ours.items():
        other = theirs.get(name)
        if other is None or other.shape != value.shape:
            continue
        diff = np.abs(value.astype(np.float64) - other.astype(np.float64))
        rows.append({"tensor": name, "dtype": str(value.dtype), "elements": value.size,
                     "mismatches": int(np.count_nonzero(diff)),
                     "max_abs_diff": float(diff.max()) if diff.size else 0.0})
    return pd.DataFrame(rows, columns=["tensor", "dtype", "elements", "mismatches",
                                       "max_abs_diff"])
